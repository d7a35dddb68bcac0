"""GSM8K's checkable answers, for ``mole eval``: the final number after ``####`` against the model's.

Registered on the ``gsm8k`` dataset spec (``answers=GSM8K_ANSWERS``), with a second held-out loss
column (``loss_variants``) whose completions drop GSM8K's ``<<48/2=24>>`` calculator annotations:
about half of a quick expert's raw answer-NLL gain is learning that notation.
"""

from __future__ import annotations

import math
import re

from mole_core import AnswerCheck

NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
CALC_RE = re.compile(r"<<[^<>]*>>")


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


def reference_answer(answer: str) -> str:
    """GSM8K's final answer: what follows ``####``."""
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


def predicted_answer(text: str) -> str | None:
    """The model's answer: the first number after its last ``####``, else the last number it wrote."""
    if "####" in text:
        found = NUMBER_RE.findall(text.rsplit("####", 1)[-1])
        if found:
            return found[0].replace(",", "").rstrip(".")
    found = NUMBER_RE.findall(text)
    return found[-1].replace(",", "").rstrip(".") if found else None


def same_number(predicted: str | None, reference: str) -> bool:
    a, b = (None if predicted is None else _number(predicted)), _number(reference)
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)


def strip_calculator(text: str) -> str:
    """Drop GSM8K's ``<<48/2=24>>`` calculator annotations, which inflate answer-NLL gains."""
    return CALC_RE.sub("", text)


GSM8K_ANSWERS = AnswerCheck(
    reference=reference_answer,
    predict=predicted_answer,
    match=same_number,
    description="the number after '####' vs the model's (after its last '####', else its last number)",
)
