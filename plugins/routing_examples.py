"""Templates, slot fillers and example queries from which a router learns each paper expert.

Placeholder set; the routing-data work expands it.
"""

from __future__ import annotations

from mole_core import RoutingExamples

ROUTING: dict[str, RoutingExamples] = {
    "reasoning": RoutingExamples(
        templates=["Solve {equation}", "What is {a} times {b}?"],
        slots={"equation": ["x + 3 = 7", "2x - 5 = 9"], "a": ["12", "7"], "b": ["3", "15"]},
        examples=["Prove that the square root of 2 is irrational"],
        dataset_queries=True,
    ),
    "knowledge": RoutingExamples(
        templates=["Compare {a} and {b}", "Should {policy}?"],
        slots={"a": ["Plato", "capitalism"], "b": ["Aristotle", "socialism"], "policy": ["the voting age be lowered"]},
        examples=["Analyze the causes of the Industrial Revolution"],
    ),
    "qa": RoutingExamples(
        templates=["How does {thing} work?", "Why does {phenomenon}?"],
        slots={"thing": ["a vaccine", "a car engine"], "phenomenon": ["the sky look blue", "ice float"]},
        examples=["Explain how photosynthesis works"],
    ),
    "factoid": RoutingExamples(
        templates=["What is the capital of {country}?", "Who wrote {book}?"],
        slots={"country": ["France", "Japan"], "book": ["Hamlet", "War and Peace"]},
        examples=["When did World War II end?"],
    ),
}
