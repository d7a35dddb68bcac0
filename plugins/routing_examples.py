"""Templates, slot fillers and example queries from which a router learns each paper expert.

The paper trained its router on 40 strings repeated 250 times, so it learned those strings, not the
four kinds of question. Here every expert contributes dozens of question *forms* (templates) and
broad vocabularies (slots), so a router sees real variety; templates are also the unit of the held-out
split (see :mod:`mole_core.routing_data`), so accuracy on held-out templates measures generalisation
to question forms it never saw.

Slot fillers are inserted verbatim (they may hold LaTeX braces); templates must not contain braces
other than ``{slot}`` placeholders. The first 32 ``examples`` become a registered expert's routing
examples (``mole add-expert``), which the embedding router uses without training: keep them diverse.
"""

from __future__ import annotations

from mole_core import RoutingExamples

# fmt: off


def _numbers(start: int, stop: int, step: int = 1) -> list[str]:
    return [str(n) for n in range(start, stop, step)]


# -- reasoning ---------------------------------------------------------------------------------------
_PEOPLE = [
    "Natalia", "James", "Maria", "Tom", "Aisha", "Carlos", "Mei", "Raj", "Olivia", "Liam", "Fatima", "Noah",
    "Sofia", "Ethan", "Priya", "Lucas", "Hannah", "Diego", "Yuki", "Omar", "Grace", "Ben", "Chloe", "Marco",
    "Ava", "Samir", "Elena", "Kwame", "Julia", "Mr. Smith", "Mrs. Lee", "a farmer", "a baker", "a teacher",
]
_ITEMS = [
    "apples", "pencils", "cookies", "marbles", "stickers", "books", "cupcakes", "tickets", "eggs", "shirts",
    "oranges", "candies", "toy cars", "baseball cards", "flowers", "cans of soda", "notebooks", "balloons",
    "muffins", "pizzas", "stamps", "seashells", "bottles of water", "bags of rice", "chairs", "lemons",
]
_PRICES = [
    "$2", "$3", "$4.50", "$5", "$7", "$8.25", "$10", "$12", "$12.50", "$15", "$18", "$20", "$25", "$0.75",
    "$1.20", "$40", "$60", "$99", "$120", "$250",
]
_PERCENTS = ["10", "15", "20", "25", "30", "40", "50", "60", "75", "12.5", "5", "35"]
_FRACTIONS = ["1/2", "1/3", "2/3", "1/4", "3/4", "2/5", "3/8", "5/6", "1/5", "3/5"]
_EQUATIONS = [
    "3x + 7 = 22", "2x - 5 = 9", "x^2 - 5x + 6 = 0", "x^2 + 4x + 4 = 0", "5(x - 2) = 3x + 8",
    "$\\frac{x}{3} + 2 = 5$", "$|2x - 3| = 7$", "$\\sqrt{x + 5} = 4$", "$5^{x} = 125$", "$2^{x+1} = 32$",
    "$\\log_3 (x) = 4$", "4x^2 - 9 = 0", "x^3 - 6x^2 + 11x - 6 = 0", "$\\frac{2}{x} + \\frac{3}{x+1} = 1$",
    "7 - 2x = 3x - 8", "$x^2 + 6x = 16$", "0.5x + 1.5 = 4", "$3^{2x} = 81$", "$\\frac{x+1}{x-2} = 3$",
    "12 = 4(y + 1)", "2a + 3 = a - 4", "$e^{2x} = 7$", "$x^4 - 5x^2 + 4 = 0$", "$\\sin x = \\frac{1}{2}$",
]
_SYSTEMS = [
    "x + y = 10 and x - y = 2", "2x + 3y = 12 and x - y = 1", "$3a - b = 7$ and $a + 2b = 0$",
    "y = 2x + 1 and y = -x + 7", "x + y + z = 6, x - y = 1 and y + z = 5", "$4p + 5q = 3$ and $p - q = 3$",
]
_POLYNOMIALS = [
    "x^2 - 5x + 6", "2x^3 + 3x^2 - 11x - 6", "x^2 + 2x - 15", "$x^3 - 8$", "$4x^2 - 12x + 9$",
    "3x^2 + 10x + 3", "$x^4 - 16$", "$6x^2 - x - 2$", "x^3 + x^2 - 4x - 4", "$2x^2 + 7x + 3$", "x^2 - 9",
    "$x^5 - x$", "$9y^2 - 25$", "$a^2 + 2ab + b^2$", "$t^2 - 7t + 12$",
]
_EXPRESSIONS = [
    "$\\frac{3}{4} + \\frac{5}{6}$", "$\\sqrt{50} \\cdot \\sqrt{8}$", "$2^{10} - 3^4$", "$\\dbinom{10}{3}$",
    "$(3+4i)(2-i)$", "$\\log_2 64$", "$\\left(\\frac{2}{3}\\right)^{-2}$", "$\\frac{12!}{10!}$",
    "$\\sqrt[3]{-27} + \\sqrt{81}$", "$\\lceil 3.7 \\rceil + \\lfloor -2.3 \\rfloor$", "$|{-7}| - |4 - 9|$",
    "$\\sin^2 30^\\circ + \\cos^2 30^\\circ$", "$\\tan 45^\\circ$", "$\\frac{x^2 - 4}{x - 2}$",
    "$(2x^3)^2 \\cdot x^{-4}$", "$\\sum_{k=1}^{10} k^2$",
    "$\\frac{1}{1 \\cdot 2} + \\frac{1}{2 \\cdot 3} + \\frac{1}{3 \\cdot 4}$", "$8^{2/3}$", "$i^{2023}$",
    "$\\dbinom{7}{2} \\cdot \\dbinom{5}{3}$", "$0.\\overline{36}$ as a fraction", "3.2 x 4.5", "17% of 340",
    "1/3 + 1/4 + 1/5", "(15 + 27) * 3 - 12 / 4", "2^8 / 4^3", "$\\sqrt{2} \\cdot \\sqrt{18}$",
    "$\\frac{5!}{3! \\, 2!}$", "$\\log_{10} 1000 + \\ln e^3$",
]
_FUNCTIONS = [
    "x^3 + 2x", "sin(x)cos(x)", "$e^{2x}$", "$x^2 \\ln x$", "$\\frac{1}{x^2 + 1}$", "$\\sqrt{1 - x^2}$",
    "$\\tan(3x)$", "x e^x", "$\\frac{\\sin x}{x}$", "$(2x + 1)^5$", "ln(x^2 + 1)", "$\\arctan x$",
    "$\\frac{x}{x^2 - 1}$", "cos^2(x)", "$5x^4 - 3x^2 + 7$", "$2^x$", "$\\frac{\\ln x}{x}$",
]
_ODES = [
    "dy/dx = 2x", "y' = 3y", "$y'' + y = 0$", "$\\frac{dy}{dx} = xy$", "y'' - 4y' + 4y = 0", "dy/dt = -ky",
]
_LIMIT_POINTS = ["0", "infinity", "1", "2", "negative infinity", "$\\pi$"]
_PROOF_STATEMENTS = [
    "the square root of 2 is irrational", "there are infinitely many primes",
    "the sum of the angles in a triangle is 180 degrees", "n^3 - n is divisible by 6 for every integer n",
    "every bounded monotone sequence converges", "the product of two odd numbers is odd",
    "the square of an even number is even", "$\\sqrt{3}$ is irrational",
    "the diagonals of a parallelogram bisect each other", "there is no largest prime number",
    "a graph with n vertices and n edges contains a cycle", "the harmonic series diverges",
    "every integer greater than 1 has a prime factorisation", "$2^n > n$ for every positive integer n",
    "the base angles of an isosceles triangle are equal", "the set of real numbers is uncountable",
    "the function f(x) = x^3 is injective", "log_2 3 is irrational",
    "any two consecutive integers are coprime",
    "the inscribed angle is half the central angle subtending the same arc",
]
_INDUCTION = [
    "1 + 2 + ... + n = n(n+1)/2", "1 + 3 + 5 + ... + (2n - 1) = n^2", "$2^n \\geq n + 1$ for all n",
    "$1^2 + 2^2 + \\dots + n^2 = \\frac{n(n+1)(2n+1)}{6}$", "$3^n - 1$ is even for every n",
    "n! > 2^n for n >= 4", "$7^n - 1$ is divisible by 6",
]
_SHAPES_2D = [
    "a rectangle with length 12 cm and width 5 cm", "a circle of radius 7",
    "a triangle with base 10 and height 6", "a square with side 9 inches",
    "a trapezoid with bases 8 and 14 and height 5", "a regular hexagon with side 4",
    "a right triangle with legs 6 and 8", "an equilateral triangle with side length 10",
    "a parallelogram with base 15 m and height 4 m", "a circle with diameter 20 feet",
    "a sector of a circle with radius 6 and central angle 60 degrees", "a rhombus with diagonals 10 and 24",
]
_SOLIDS = [
    "a cube with edge 5 cm", "a cylinder with radius 3 and height 10", "a sphere of radius 6",
    "a cone with radius 4 and height 9", "a rectangular box measuring 2 by 3 by 7 feet",
    "a square pyramid with base side 6 and height 4", "a hemisphere of radius 9",
]
_POINTS = [
    "(1, 2) and (4, 6)", "$(-3, 5)$ and $(2, -7)$", "(0, 0) and (5, 12)", "$(2, 3)$ and $(8, 11)$",
    "(-1, -1) and (3, 2)",
]
_WORDS = [
    "MISSISSIPPI", "BANANA", "ELLIPSE", "COMBINATION", "PARABOLA", "ALABAMA", "TEPEE", "STATISTICS",
    "ARRANGE", "LEVEL",
]
_CONDITIONS = [
    "n^2 + n is divisible by 30", "$2^n > 1000$", "n leaves a remainder of 2 when divided by 3, 4 and 5",
    "$n!$ ends in at least 10 zeros", "the sum of the digits of n is 20",
    "$\\sqrt{n}$ is an integer greater than 12", "$17n \\equiv 1 \\pmod{23}$",
    "n is a perfect square and a perfect cube",
]
_MATH_TOPICS = [
    "the quadratic formula", "integration by parts", "the chain rule", "the Pythagorean theorem",
    "Bayes' theorem", "the binomial theorem", "L'Hopital's rule", "the law of cosines", "modular arithmetic",
    "the fundamental theorem of calculus", "mathematical induction", "the pigeonhole principle",
]
_VEHICLES = ["A train", "A car", "A cyclist", "A plane", "A boat", "A bus", "A runner", "A truck"]

REASONING = RoutingExamples(
    templates=[
        # grade-school word problems (GSM8K phrasing)
        "{person} has {n} {items} and buys {m} more. How many {items} does {person} have now?",
        "{person} bought {n} {items} for {price} each. How much did {person} spend in total?",
        "A store sells {items} for {price} each. If {person} buys {n} of them and pays with a $100 bill, how much change does {person} get?",
        "{person} earns {price} an hour and works {n} hours a week. How much does {person} earn in {m} weeks?",
        "{vehicle} travels {big} miles in {n} hours. What is its average speed in miles per hour?",
        "{person} read {n} pages on Monday and twice as many on Tuesday. How many pages did {person} read in the two days?",
        "There are {big} students in a school and {pct}% of them walk to school. How many students do not walk?",
        "{person} is {n} years old and {person2} is {m} years older. How old will {person2} be in {k} years?",
        "A recipe needs {fraction} cup of sugar for {n} muffins. How much sugar is needed for {big} muffins?",
        "If {n} workers can paint a house in {m} days, how many days would it take {k} workers?",
        "A jacket costs {price} and is on sale for {pct}% off. What is the sale price?",
        "{person} saves {price} every week. How many weeks will it take {person} to save $1,000?",
        "{person} had {big} {items}. {person} gave {fraction} of them to {person2} and ate {n}. How many are left?",
        "{person} sold {n} {items} in April and half as many in May. How many {items} did {person} sell altogether in April and May?",
        "A farmer has {big} chickens and cows with {big2} legs in total. How many cows are there?",
        "{person} runs {n} miles a day, {m} days a week. How many miles does {person} run in {k} weeks?",
        "The ratio of boys to girls in a class is {n}:{m}. If there are {big} students, how many are girls?",
        "{person} fills {n} boxes with {m} {items} each and has {k} {items} left over. How many {items} were there at first?",
        "{person} wants to buy a bike that costs {price}. {person} has saved {fraction} of the price. How much more money is needed?",
        "A tank holds {big} liters of water and leaks {n} liters per hour. How long until it is empty?",
        "{person} scored {n}, {m} and {k} on three tests. What score is needed on the fourth test to average {big}?",
        "A pizza is cut into {n} slices. {person} eats {m} slices and {person2} eats {k}. What fraction of the pizza is left?",
        "If a shirt costs {price} after a {pct}% discount, what was the original price?",
        "{person} invests {price} at {pct}% simple interest per year. How much interest is earned after {n} years?",
        "Two trains leave stations {big} miles apart and travel toward each other at {n} mph and {m} mph. When do they meet?",
        # algebra
        "Solve {equation}", "Solve for x: {equation}", "Find all real solutions of {equation}.",
        "What value of the variable satisfies {equation}?", "Solve the system of equations {system}.",
        "Factor {polynomial} completely.", "Find the roots of the polynomial {polynomial}.",
        "What is the sum of the roots of {polynomial} = 0?", "If f(x) = {polynomial}, what is f({n})?",
        "Let g(x) = {polynomial}. For which values of x is g(x) negative?", "Simplify {expression}.",
        "Compute {expression}.", "Evaluate {expression}.", "What is the value of {expression}?",
        "Calculate {expression}", "Find the slope of the line passing through the points {points}.",
        "What is the distance between the points {points}?",
        "Find the equation of the line through {points}.",
        "The sum of two numbers is {big} and their difference is {n}. What are the two numbers?",
        "The product of two consecutive integers is {big}. What are the integers?",
        "Find the {ordinal} term of the arithmetic sequence {n}, {m}, ...",
        "What is the sum of the first {big} terms of the geometric series with first term {n} and ratio {fraction}?",
        "For what value of k does the equation x^2 + kx + {n} = 0 have exactly one real root?",
        # calculus
        "Calculate the derivative of {function}", "Differentiate {function} with respect to x.",
        "Find the integral of {function}", "Evaluate the definite integral of {function} from 0 to {n}.",
        "Compute the limit of {function} as x approaches {limit_point}.",
        "Find the maximum and minimum values of {polynomial} on the interval [0, {n}].",
        "Solve the differential equation {ode}", "Find the Taylor series of {function} around x = 0.",
        "At what points does the curve y = {polynomial} have a horizontal tangent?",
        "Find the area between the curves y = {polynomial} and y = {n}x.",
        "Use {math_topic} to evaluate the integral of {function}.",
        # probability and combinatorics
        "A fair die is rolled {n} times. What is the probability of getting at least one six?",
        "A coin is flipped {big} times. What is the probability of getting exactly {n} heads?",
        "A bag contains {n} red marbles and {m} blue marbles. Two are drawn without replacement. What is the probability that both are red?",
        "How many ways can {n} people be seated in a row of {n} chairs?",
        "How many ways are there to arrange the letters of the word {word}?",
        "In how many ways can a committee of {k} be chosen from {big} people?",
        "Two dice are rolled. What is the probability that the sum is {n}?",
        "What is the expected value of the sum of {n} rolls of a fair six-sided die?",
        "How many {n}-digit numbers have all distinct digits?",
        "A class has {big} students. How many different pairs of students can be formed?",
        # geometry
        "What is the area of {shape}?", "Find the perimeter of {shape}.", "Find the volume of {solid}.",
        "What is the surface area of {solid}?",
        "In triangle ABC, AB = {n}, BC = {m}, and angle B is a right angle. Find AC.",
        "The perimeter of a rectangle is {big} cm and its length is {n} cm. What is its area?",
        "How many diagonals does a convex polygon with {n} sides have?",
        "Each interior angle of a regular polygon measures {angle} degrees. How many sides does it have?",
        "A ladder {n} feet long leans against a wall with its foot {m} feet from the wall. How high up the wall does it reach?",
        "Two angles of a triangle measure {angle} and {n} degrees. What is the third angle?",
        # number theory
        "What is the remainder when {big} is divided by {n}?",
        "Find the greatest common divisor of {big} and {big2}.",
        "What is the least common multiple of {n}, {m} and {k}?",
        "How many positive divisors does {big} have?",
        "What is the sum of all prime numbers less than {big}?",
        "Find the smallest positive integer n such that {condition}.",
        "What is the units digit of {n}^{big}?", "Convert {big} from base 10 to base {base}.",
        "How many positive integers less than {big} are multiples of {n} or {m}?",
        "Is {big2} a prime number? Show your reasoning.",
        # proofs
        "Prove that {statement}", "Show that {statement}.", "Prove by induction that {induction}.",
        "Give a rigorous proof that {statement}.", "Explain step by step how to prove that {statement}.",
        "Use {math_topic} to show that {statement}.", "Step by step, work out {expression}.",
        "Find eigenvalues of the matrix [[{n}, {m}], [{m}, {k}]]",
        "Compute the determinant of the matrix [[{n}, {m}], [{k}, {n}]].",
        "How do you solve {equation} step by step?",
    ],
    slots={
        "person": _PEOPLE,
        "person2": _PEOPLE,
        "items": _ITEMS,
        "price": _PRICES,
        "pct": _PERCENTS,
        "fraction": _FRACTIONS,
        "n": _numbers(2, 13),
        "m": _numbers(3, 20),
        "k": _numbers(2, 10),
        "big": _numbers(20, 400, 7),
        "big2": _numbers(30, 900, 11),
        "angle": ["30", "45", "60", "72", "108", "120", "135", "140", "144", "150", "156"],
        "ordinal": ["10th", "15th", "20th", "50th", "100th", "12th"],
        "base": ["2", "3", "5", "7", "8", "16"],
        "vehicle": _VEHICLES,
        "equation": _EQUATIONS,
        "system": _SYSTEMS,
        "polynomial": _POLYNOMIALS,
        "expression": _EXPRESSIONS,
        "function": _FUNCTIONS,
        "ode": _ODES,
        "limit_point": _LIMIT_POINTS,
        "statement": _PROOF_STATEMENTS,
        "induction": _INDUCTION,
        "shape": _SHAPES_2D,
        "solid": _SOLIDS,
        "points": _POINTS,
        "word": _WORDS,
        "condition": _CONDITIONS,
        "math_topic": _MATH_TOPICS,
    },
    examples=[
        "Prove that the square root of 2 is irrational", "Solve x^2 - 5x + 6 = 0",
        "Calculate the derivative of x^3 + 2x", "Find the integral of sin(x)cos(x)",
        "Janet has 3 times as many marbles as Tom. Together they have 48. How many does Tom have?",
        "What is the remainder when 2^100 is divided by 7?",
        "A fair coin is tossed 5 times. What is the probability of exactly 3 heads?",
        "Find the area of a triangle with vertices (0,0), (4,0) and (1,5).",
        "If $f(x) = 3x^2 - 2$, what is $f(f(1))$?",
        "How many positive integers less than 1000 are divisible by 7 but not by 11?",
        "Simplify $\\frac{\\sqrt{72}}{\\sqrt{8}}$.", "Prove by induction: 1+2+...+n = n(n+1)/2",
        "A shop sells pens at $1.25 each. How many pens can you buy with $20?", "Compute $\\dbinom{12}{4}$.",
        "Find the minimum value of $x^2 + 6x + 13$ for real $x$.",
        "Solve the differential equation dy/dx = 2x", "Calculate lim(x→0) sin(x)/x",
        "Find eigenvalues of [[2,1],[1,2]]", "What is the sum of the interior angles of a decagon?",
        "The average of five numbers is 18. If one number is removed the average becomes 16. What number was removed?",
        "Let $a$ and $b$ be positive reals with $a + b = 1$. Find the maximum of $ab$.",
        "How many ways can 8 books be arranged on a shelf if two particular books must be together?",
        "Convert 0.375 to a fraction in lowest terms.", "What is 15% of 240?",
        "Show that n^2 is even if n is even", "Prove there are infinitely many primes",
        "Find all integers x such that x^2 ≡ 1 (mod 8).",
        "A rectangle's length is twice its width and its area is 72. Find its perimeter.",
        "Evaluate $\\int_0^1 x e^{x} \\, dx$.",
        "Find the sum of the infinite geometric series 1 + 1/3 + 1/9 + ...",
        "In how many ways can 5 people be arranged in a circle?",
        "Two pipes fill a tank in 4 hours and 6 hours. How long do they take together?",
        "Determine whether the series sum of 1/n^2 converges.",
        "Find the inverse of the function f(x) = (2x + 1)/(x - 3).",
    ],
    dataset_queries=True,
)

# -- knowledge: analysis, comparison, debate, evaluation, counterfactuals ----------------------------
_THINKERS = [
    "Plato", "Aristotle", "Kant", "Nietzsche", "Confucius", "Marx", "Adam Smith", "John Locke",
    "Thomas Hobbes", "Rousseau", "Machiavelli", "Descartes", "Hume", "John Stuart Mill", "Hegel",
    "Simone de Beauvoir", "Hannah Arendt", "Socrates", "Keynes", "Hayek", "Milton Friedman", "Freud", "Jung",
    "Darwin", "Lao Tzu", "Sartre", "Kierkegaard", "Spinoza", "Foucault", "John Rawls", "Thomas Aquinas",
    "Ayn Rand",
]
_LEADERS = [
    "Churchill", "Roosevelt", "Napoleon", "Lincoln", "Gandhi", "Mandela", "Julius Caesar",
    "Queen Elizabeth I", "Peter the Great", "Genghis Khan", "Bismarck", "Alexander the Great", "Stalin",
    "Mao Zedong", "Ataturk", "Charlemagne", "George Washington", "Cleopatra", "Ronald Reagan",
    "Margaret Thatcher", "Simon Bolivar", "Catherine the Great", "Nelson Mandela", "Martin Luther King Jr.",
    "Louis XIV", "Akbar the Great",
]
_SYSTEMS_IDEAS = [
    "capitalism", "socialism", "communism", "democracy", "authoritarianism", "liberalism", "conservatism",
    "utilitarianism", "deontological ethics", "virtue ethics", "existentialism", "stoicism", "nationalism",
    "globalism", "free trade", "protectionism", "federalism", "libertarianism", "feminism", "populism",
    "representative democracy", "direct democracy", "a market economy", "a planned economy", "monarchy",
    "secularism", "environmentalism", "pragmatism", "realism in international relations", "colonialism",
]
_POLICIES = [  # "Should ...?" clauses
    "the voting age be lowered to 16", "the death penalty be abolished", "college education be free",
    "the minimum wage be raised", "marijuana be legalized", "school uniforms be mandatory",
    "social media companies be regulated", "nuclear power be expanded", "animal testing be banned",
    "homework be abolished", "voting be compulsory", "the electoral college be abolished", "zoos be banned",
    "gun control laws be stricter", "euthanasia be legal", "a universal basic income be introduced",
    "fast food be taxed", "plastic bags be banned", "the drinking age be lowered",
    "genetically modified foods be labeled", "standardized testing be eliminated",
    "cities ban cars from their centers", "tipping be abolished", "billionaires pay a wealth tax",
    "students be allowed to grade their teachers", "professional athletes be paid less",
    "space exploration be privately funded", "the government fund the arts", "public transport be free",
    "vaccination be mandatory for schoolchildren", "the retirement age be raised",
    "countries open their borders", "prisoners be allowed to vote", "sugary drinks be taxed",
    "performance-enhancing drugs be allowed in sports", "churches pay taxes", "the penny be eliminated",
    "daylight saving time be abolished", "a four-day work week be adopted",
    "children be allowed to use smartphones at school", "teachers be paid based on student results",
    "military service be compulsory", "the United Nations have a standing army",
    "junk food advertising be banned", "hate speech be illegal", "organ donation be opt-out",
    "cryptocurrencies be banned", "tuition fees be abolished",
    "rich countries forgive the debts of poor countries", "self-driving cars be allowed on public roads",
    "felons regain the right to vote", "bottled water be banned", "public officials face term limits",
]
_GROUPS = [
    "teenagers", "students", "employees", "teachers", "immigrants", "prisoners", "athletes", "parents",
    "doctors", "police officers", "corporations", "landlords", "unions", "children under 13", "citizens",
]
_GROUP_ACTIONS = [
    "vote", "strike", "own guns", "use social media", "work remotely", "carry weapons", "refuse vaccines",
    "homeschool their children", "protest without a permit", "buy alcohol", "run for office",
    "keep their data private",
]
_CONTROVERSIAL_PRACTICES = [
    "animal testing", "capital punishment", "genetic engineering of humans", "fracking", "factory farming",
    "affirmative action", "surveillance by governments", "hunting for sport", "eating meat",
    "offshore drilling", "censorship on social media", "cloning", "tax avoidance by large companies",
    "the use of drones in war", "paying college athletes", "online gambling", "ghostwriting essays with AI",
    "zero-tolerance school policies", "tenure for teachers", "the use of nuclear weapons as deterrence",
    "vaping", "corporal punishment", "standardized testing", "charter schools", "private prisons",
    "sweatshop labour", "the war on drugs", "rent control", "universal healthcare", "a flat tax",
    "net neutrality", "gene editing of crops", "cosmetic surgery", "reality television",
    "violent video games", "homeschooling", "big-game trophy hunting", "social media for children",
    "mandatory military service", "the Olympic Games",
]
_EVENTS = [
    "the Industrial Revolution", "the French Revolution", "the fall of the Roman Empire", "World War I",
    "World War II", "the Cold War", "the Renaissance", "the Reformation", "the American Civil War",
    "the collapse of the Soviet Union", "the Great Depression", "the 2008 financial crisis",
    "the Arab Spring", "the printing press", "European colonialism in Africa", "the Russian Revolution",
    "the Enlightenment", "the partition of India", "the Black Death", "the Cuban Missile Crisis",
    "the Protestant Reformation", "the rise of the Ottoman Empire", "the Meiji Restoration",
    "the civil rights movement", "the Vietnam War", "the Crusades", "the Atlantic slave trade",
    "the space race", "the fall of the Berlin Wall", "Brexit", "the invention of the internet",
    "the Green Revolution in agriculture", "the fall of Constantinople",
    "the Treaty of Versailles", "the Chinese Cultural Revolution", "the American Revolution",
    "the Opium Wars",
]
_DEVELOPMENTS = [
    "artificial intelligence", "social media", "globalization", "climate change", "renewable energy",
    "the internet", "automation", "remote work", "smartphones", "immigration", "urbanization",
    "streaming services", "the gig economy", "online education", "cryptocurrency", "genetic engineering",
    "mass tourism", "fast fashion", "video games", "the 24-hour news cycle", "an aging population",
    "the decline of print newspapers", "Renaissance art", "rock and roll", "the Olympic Games", "religion",
    "colonial history", "television advertising",
]
_DOMAINS = [
    "society", "the economy", "politics", "education", "democracy", "the job market", "family life",
    "culture", "mental health", "international relations", "the environment", "developing countries",
    "modern art", "literature", "public health", "young people", "privacy", "scientific research", "religion",
    "the middle class",
]
_WORKS = [
    "Shakespeare's Hamlet", "Orwell's 1984", "Pride and Prejudice", "The Great Gatsby", "Moby-Dick",
    "To Kill a Mockingbird", "Homer's Odyssey", "Dante's Inferno", "Crime and Punishment", "Macbeth",
    "Things Fall Apart", "Brave New World", "One Hundred Years of Solitude", "The Republic by Plato",
    "Frankenstein", "Don Quixote", "The Catcher in the Rye", "Beloved by Toni Morrison", "King Lear",
    "Animal Farm", "The Divine Comedy", "Picasso's Guernica", "Beethoven's Ninth Symphony", "Citizen Kane",
    "The Communist Manifesto", "The Wealth of Nations", "Romeo and Juliet", "Lord of the Flies",
]
_THEORIES = [
    "the theory of evolution", "Keynesian economics", "trickle-down economics", "the social contract",
    "the just war theory", "Marxist theory of history", "Freud's psychoanalysis", "behaviorism",
    "the domino theory", "the great man theory of history", "modern monetary theory",
    "rational choice theory", "the broken windows theory of policing", "the clash of civilizations thesis",
    "cultural relativism", "the efficient market hypothesis", "the nature versus nurture debate",
    "the separation of powers",
]
_SECTORS = [
    "the publishing industry", "healthcare systems", "the news media", "agriculture", "the airline industry",
    "public schools", "the music industry", "small businesses", "the European Union", "the United Nations",
    "local governments", "universities", "the fashion industry", "the car industry", "rural communities",
]
_FIGURES = _LEADERS + ["Steve Jobs", "Einstein", "Shakespeare", "Picasso", "Mozart", "Henry Ford", "Columbus"]
_COUNTERFACTUALS = [  # completes "What if ...?"
    "the Suez Canal had never been built", "the Roman Empire had never fallen",
    "the steam engine had been invented in ancient Greece", "the Allies had lost World War II",
    "Carthage had defeated Rome", "the printing press had never been invented",
    "the dinosaurs had not gone extinct", "the Library of Alexandria had survived",
    "the Cold War had turned hot", "the United States had never declared independence",
    "electricity had never been discovered", "the Protestant Reformation had failed",
    "Napoleon had won at Waterloo", "humans had never domesticated animals",
    "the Spanish Armada had defeated England", "the Inca had developed writing",
    "the Industrial Revolution had started in China", "women had always had the right to vote",
    "Alexander the Great had lived to old age", "the Ming treasure fleets had kept sailing", "nobody had invented money",
    "the Soviet Union had not collapsed", "the Chinese had explored and colonized the Americas",
    "Lincoln had not been assassinated", "antibiotics had never been discovered", "the Titanic had not sunk",
    "the Mongols had conquered Europe", "the moon landing had failed", "the Berlin Wall still stood",
    "social media had never existed", "oil had never been discovered", "Shakespeare had never written a play",
    "Germany had won World War I", "Japan had never opened up to the West",
    "Einstein had become a musician", "the atomic bomb had never been developed",
    "the Byzantine Empire had survived", "Rome had never become an empire",
]
_COUNTERFACTUAL_PRESENT = [  # completes "What if ...?" or "Imagine a world where ..."
    "everyone had a universal basic income", "nobody had to work", "all countries abolished their armies",
    "humans could live for 200 years", "there were no national borders", "everyone spoke the same language",
    "the internet disappeared tomorrow", "cars were banned from cities", "money did not exist",
    "all energy came from nuclear power", "robots did most jobs", "voting were compulsory everywhere",
]
_PAIRS = [
    ("the Roman Republic", "the Roman Empire"),
    ("Athens", "Sparta"),
    ("the French Revolution", "the American Revolution"),
    ("Buddhism", "Hinduism"),
    ("Impressionism", "Expressionism"),
    ("the Renaissance", "the Enlightenment"),
    ("Stalin's", "Hitler's"),
    ("the New Deal", "the Great Society"),
    ("Eastern philosophy", "Western philosophy"),
]
_OPTIONS = [
    "public schools", "private schools", "city life", "country life", "renting a home", "buying a home",
    "nuclear power", "solar power", "electric cars", "public transport", "working from home",
    "working in an office", "a liberal arts degree", "a trade apprenticeship", "organic farming",
    "industrial farming", "e-books", "printed books", "single-sex schools", "co-educational schools",
    "democracy", "technocracy", "free markets", "government regulation",
]
_ABSTRACT_TOPICS = [
    "justice", "the ideal state", "human nature", "free will", "happiness", "virtue", "power", "morality",
    "the role of government", "property", "equality", "liberty", "war", "religion", "knowledge", "beauty",
]
_ISSUES = [
    "climate change", "income inequality", "the refugee crisis", "misinformation online",
    "the housing crisis", "the obesity epidemic", "gun violence", "youth unemployment", "the opioid crisis",
    "deforestation", "plastic pollution", "the rising cost of healthcare", "political polarization",
    "declining birth rates", "the digital divide", "food insecurity", "mass incarceration",
    "loneliness in modern society",
]

_GOV_GOALS = [
    "reduce unemployment", "combat a recession", "fight corruption", "reduce poverty", "protect free speech online",
    "make housing affordable", "encourage people to have children", "balance security and privacy",
    "reduce carbon emissions without hurting growth", "improve public schools", "regulate big tech companies",
    "respond to an aging population", "prevent the next pandemic", "reduce crime", "integrate immigrants",
]
_INSTITUTIONS = [
    "the media", "religion", "the family", "schools", "the courts", "lobbyists", "social movements", "big tech companies",
    "central banks", "trade unions", "celebrities", "political parties", "international organizations", "universities",
]
_SOCIETY_CLAIMS = [  # completes "Is ...?"
    "democracy in decline", "the American dream still alive", "capitalism compatible with sustainability",
    "modern art really art", "history written by the victors", "technology making us less social",
    "globalization over", "a world government desirable", "nationalism on the rise", "meritocracy a myth",
    "the West in decline", "social media a threat to democracy", "free will compatible with determinism",
    "war ever justified", "patriotism a virtue", "science compatible with religion", "money the root of all evil",
]

_OBLIGATIONS = [
    "explore space", "help refugees", "protect endangered species", "give to charity", "vote", "preserve languages",
    "reduce our carbon footprint", "care for elderly parents", "obey unjust laws", "colonize Mars",
]
_ALTERNATIVES = [
    "focus on solving problems on Earth first", "leave it to governments", "put our own country first",
    "let markets decide", "spend the money on education", "accept that some things cannot be saved",
]
_TRENDS = [
    "automation is becoming widespread", "people live longer", "information spreads instantly", "cities keep growing",
    "climate change accelerates", "artificial intelligence writes most text", "remote work is the norm",
]
_PRIORITIES = [
    "job creation", "technological progress", "economic growth", "environmental protection", "individual freedom",
    "public safety", "privacy", "national security", "equality", "tradition", "innovation", "stability",
]
_CHOICES = [
    "single-use plastic bottles", "reusable bottles", "nuclear energy", "wind energy", "online learning",
    "classroom learning", "public healthcare", "private healthcare", "electric cars", "petrol cars",
]
_RELATIONS = [  # completes "What is the relationship between ...?"
    "economic growth and inequality", "GDP, inflation and unemployment", "religion and politics",
    "art and morality", "freedom and security", "wealth and happiness", "science and ethics",
    "language and thought", "education and social mobility", "democracy and free markets",
]
_SOCIETAL_WHY = [  # completes "Why do ...?" (societal, not physical)
    "empires fall", "revolutions happen", "democracies fail", "civilizations collapse", "wars start",
    "some countries grow rich while others stay poor", "people vote against their economic interests",
    "conspiracy theories spread", "dictators rise to power", "nations go to war over resources",
]
_CHANGING_ROLES = [
    "women in the workplace", "religion in public life", "the family", "newspapers", "the monarchy in Britain",
    "trade unions", "fathers in raising children", "the United Nations", "universities", "the welfare state",
]

KNOWLEDGE = RoutingExamples(
    templates=[
        # comparison
        "Do we have a moral obligation to {obligation}, or should we {alternative}?",
        "In a world where {trend}, is it more important to prioritize {priority} or {priority2}?",
        "Is it more important to protect {priority} or {priority2}?",
        "How do cultural, social and economic factors shape {issue}?",
        "What are the implications of choosing {choice} over {choice2} for {domain}?",
        "What is the relationship between {relation}?", "Provide insights into the relationship between {relation}.",
        "Why do {societal_why}?", "What explains why {societal_why}?",
        "How has the role of {changing_role} changed over the past century?",
        "Should we worry that {trend}?", "What does the rise of {development} mean for {domain}?",
        "Assess the claim that {development} has done more harm than good to {domain}.",
        "How can governments {gov_goal}?", "What are the most effective ways for a country to {gov_goal}?",
        "What are the most effective strategies for tackling {issue}?",
        "What are the potential implications of {development} for {domain}?",
        "How do {institutions} shape {domain}?", "What role should {institutions} play in {domain}?",
        "Is {society_claim}?", "Do you agree that {policy}? Explain your reasoning.",
        "Which had a bigger impact on {domain}, {event} or {development}?",
        "Why did {event} lead to lasting change in {domain}?", "Is {figure} a hero or a villain?",
        "How should we judge {figure} by today's standards?", "What can {thinker} teach us about {issue}?",
        "Compare {thinker} and {thinker2}", "Compare {thinker} and {thinker2}'s views on {abstract}.",
        "Compare and contrast {system} and {system2}.",
        "What are the main differences between {system} and {system2}?",
        "How does {system} differ from {system2} in practice?",
        "Compare {leader} and {leader2}'s leadership styles.",
        "Who was the more effective leader, {leader} or {leader2}?",
        "Which is better, {option} or {option2}?", "{option} vs {option2}: which is better for society?",
        "What are the advantages and disadvantages of {option} compared to {option2}?",
        "How did {thinker}'s ideas about {abstract} differ from those of {thinker2}?",
        "Is {system} better than {system2}?",
        # debate and policy
        "Should {policy}?", "Do you think {policy}?", "Should {group} be allowed to {group_action}?",
        "Should {practice} be banned?", "Should {practice} be legal?", "Is {practice} ethical?",
        "Is {practice} morally justified?", "Is {practice} good for society?", "Is {practice} worth it?",
        "Is {practice} beneficial or harmful?", "Does {practice} do more harm than good?",
        "What are the pros and cons of {practice}?", "What are the arguments for and against {practice}?",
        "Argue for or against {practice}.", "Make the case for and against {practice}.",
        "Is it fair that {group} cannot {group_action}?", "Do {group} have a right to {group_action}?",
        "Why do some people oppose {practice}?", "Is {system} the best form of government?",
        "Should governments do more to address {issue}?", "Who is to blame for {issue}?",
        "Is {issue} mainly caused by human activity?", "How should society respond to {issue}?",
        "What is the best way to tackle {issue}?", "Is {development} a threat to {domain}?",
        "Has {development} made {domain} better or worse?",
        "Do the benefits of {development} outweigh the costs?", "Debate whether {policy}.",
        "What are the ethical implications of {development}?",
        # analysis and evaluation
        "Analyze the causes of {event}", "What were the main causes of {event}?",
        "What were the long-term consequences of {event}?",
        "Discuss the impact of {development} on {domain}.", "How did {event} change {domain}?",
        "Evaluate the legacy of {figure}.", "Assess the role of {figure} in {event}.",
        "To what extent was {event} inevitable?", "Why did {event} happen when it did?",
        "Was {event} a turning point in history? Why or why not?", "Discuss the themes of {work}",
        "Analyze the symbolism in {work}.", "What does {work} say about {abstract}?",
        "Critically evaluate {theory}.", "What are the strengths and weaknesses of {theory}?",
        "Is {theory} still relevant today?", "What are the primary challenges facing {sector} today?",
        "How has {development} influenced {domain}?",
        "What are the social and economic effects of {development}?",
        "Evaluate the impact of {development} on {domain}",
        "What role did {development} play in shaping {domain}?",
        "How will {development} shape the future of {domain}?", "Analyze {leader}'s foreign policy.",
        "Was {leader} a good leader?", "Is {figure} overrated?", "Was {event} justified?",
        "What lessons can we learn from {event}?", "How do historians interpret {event}?",
        "Discuss the influence of {thinker} on modern {abstract}.",
        "What would {thinker} think of {development}?", "Evaluate {thinker}'s argument about {abstract}.",
        "In what ways did {event} shape the modern world?", "Why is {work} considered a masterpiece?",
        "Examine the relationship between {development} and {issue}.",
        "Discuss the role of {sector} in addressing {issue}.",
        "What factors influence {issue}, and what can be done about it?",
        # counterfactuals
        "What if {counterfactual}?", "What would have happened if {counterfactual}?",
        "How would the world be different if {counterfactual}?",
        "Imagine that {counterfactual}. How would history have changed?",
        "How might {domain} look today if {counterfactual}?", "What if {counterfactual_present}?",
        "Imagine a world where {counterfactual_present}. What would change?",
        "What would society look like if {counterfactual_present}?",
    ],
    slots={
        "obligation": _OBLIGATIONS,
        "alternative": _ALTERNATIVES,
        "trend": _TRENDS,
        "priority": _PRIORITIES,
        "priority2": _PRIORITIES,
        "choice": _CHOICES,
        "choice2": _CHOICES,
        "relation": _RELATIONS,
        "societal_why": _SOCIETAL_WHY,
        "changing_role": _CHANGING_ROLES,
        "gov_goal": _GOV_GOALS,
        "institutions": _INSTITUTIONS,
        "society_claim": _SOCIETY_CLAIMS,
        "thinker": _THINKERS,
        "thinker2": _THINKERS,
        "leader": _LEADERS,
        "leader2": _LEADERS,
        "figure": _FIGURES,
        "system": _SYSTEMS_IDEAS,
        "system2": _SYSTEMS_IDEAS,
        "option": _OPTIONS,
        "option2": _OPTIONS,
        "policy": _POLICIES,
        "group": _GROUPS,
        "group_action": _GROUP_ACTIONS,
        "practice": _CONTROVERSIAL_PRACTICES,
        "event": _EVENTS,
        "development": _DEVELOPMENTS,
        "domain": _DOMAINS,
        "work": _WORKS,
        "theory": _THEORIES,
        "sector": _SECTORS,
        "counterfactual": _COUNTERFACTUALS,
        "counterfactual_present": _COUNTERFACTUAL_PRESENT,
        "abstract": _ABSTRACT_TOPICS,
        "issue": _ISSUES,
    },
    examples=[
        "Compare Plato and Aristotle's political philosophies", "Analyze causes of the Industrial Revolution",
        "Should the voting age be lowered?", "What if the Suez Canal had never been built?",
        "What are the pros and cons of nuclear energy?", "Discuss themes in Shakespeare's Hamlet",
        "Is capitalism better than socialism?", "Evaluate climate change impacts on biodiversity",
        "Should the death penalty be abolished?",
        "How would history be different if the printing press had not been invented?",
        "Is social media good or bad for democracy?",
        "What are the arguments for and against a universal basic income?",
        "Compare Churchill and Roosevelt's leadership",
        "Was the Treaty of Versailles responsible for World War II?",
        "Analyze AI development and implications", "Should college education be free?",
        "Is it ethical to use animals in medical research?",
        "What are the main challenges facing democracies today?", "Discuss Renaissance art influence",
        "Do standardized tests measure intelligence fairly?", "Evaluate renewable energy approaches",
        "What were the long-term effects of colonialism on Africa?", "Analyze the UN's role in peacekeeping",
        "Is globalization good for developing countries?",
        "Should governments regulate artificial intelligence?",
        "What would happen to the economy if everyone worked four days a week?",
        "Compare capitalism and socialism", "Is a college degree still worth the cost?",
        "How has streaming changed the music industry?",
        "Was the atomic bombing of Hiroshima justified?", "Should rich nations accept more refugees?",
        "Do violent video games make people more aggressive?",
        "Critically assess the impact of the Reformation on European politics.",
        "Is obesity a personal responsibility or a public health issue?",
        "Which was more important for the Allied victory, industry or strategy?",
        "What are the ethical issues around genetic testing of embryos?",
    ],
)

# -- qa: how / why / what happens explanations ---------------------------------------------------------
_MECHANISMS = [
    "a car engine", "a refrigerator", "a microwave oven", "the internet", "a vaccine", "a nuclear reactor",
    "GPS", "a solar panel", "a battery", "an airplane wing", "a touchscreen", "Wi-Fi", "a heat pump",
    "the stock market", "a credit score", "a camera", "a jet engine", "a hybrid car", "a 3D printer",
    "noise-cancelling headphones", "a thermostat", "an elevator", "a bicycle gear system", "a compass",
    "blockchain", "a search engine", "an MRI scanner", "a pacemaker", "a wind turbine", "a hearing aid",
    "the immune system", "the human heart", "the kidney", "memory in the brain", "a rainbow",
    "a hydroelectric dam", "a lithium-ion battery", "public key encryption", "a smoke detector",
    "an electric motor", "a fridge magnet", "compound interest", "inflation", "a mortgage", "photosynthesis",
    "the water cycle", "natural selection", "antibiotics", "anesthesia", "a black hole", "a light bulb",
    "a computer processor", "machine learning",
]
_WHY_QUESTIONS = [  # completes "Why ...?"
    "is the sky blue", "do cats purr", "does ice float on water", "do we dream", "do onions make you cry",
    "do leaves change color in the fall", "is the ocean salty", "do we yawn", "do stars twinkle",
    "do our fingers wrinkle in water", "does hair turn gray", "do we get hiccups", "do birds migrate",
    "does bread go stale", "do we have seasons", "is the sea blue", "do zebras have stripes", "do dogs bark",
    "do veins look blue", "do we get goosebumps", "does the moon change shape", "do bubbles pop",
    "do people sneeze", "does coffee keep you awake", "does metal feel colder than wood",
    "do planes leave contrails", "do mosquitoes bite some people more than others", "do we need sleep",
    "do ears pop on a plane", "does the wind blow", "do cats always land on their feet",
    "do some people snore", "is yawning contagious", "do apples turn brown when cut",
    "do chameleons change color", "does spicy food feel hot", "do we get brain freeze",
    "do our muscles get sore after exercise", "does popcorn pop", "is blood red", "do tides happen",
    "do volcanoes erupt", "does the moon look bigger near the horizon", "do we have fingerprints",
]
_ACTIONS = [  # completes "What happens if you ...?"
    "swallow gum", "crack your knuckles", "go swimming right after eating", "stare at the sun",
    "eat watermelon seeds", "go outside with wet hair in cold weather", "touch a baby bird",
    "read in dim light", "drink too much water", "don't sleep for three days", "wake a sleepwalker",
    "eat moldy bread", "pluck a gray hair", "shave your legs", "swallow a seed",
    "crack an egg on a hot sidewalk", "drink seawater", "put metal in a microwave",
    "leave your phone charging overnight", "eat too much sugar", "hold in a sneeze", "stop drinking coffee",
    "sit too close to the television", "go to bed with wet hair", "fly with a cold", "mix bleach and ammonia",
    "get struck by lightning", "swim in a thunderstorm", "skip breakfast", "pop a blister",
    "drink alcohol on an empty stomach", "touch a frog", "step on a crack", "eat raw cookie dough",
    "open an umbrella indoors", "break a mirror", "leave a car running in a closed garage",
    "feed bread to ducks", "bite your nails", "take antibiotics for a virus",
]
_ACTION_GERUNDS = [
    "swimming after eating", "eating carrots", "cracking your knuckles", "drinking coffee",
    "reading in the dark", "sleeping with a fan on", "skipping breakfast", "using a phone before bed",
    "chewing gum", "taking vitamin C", "sitting all day", "drinking eight glasses of water a day",
    "eating late at night", "listening to music while studying",
]
_PROCESSES = [
    "photosynthesis", "the water cycle", "digestion", "cell division", "the formation of a rainbow",
    "evolution", "how a bill becomes a law", "blood clotting", "the formation of stars", "fermentation",
    "erosion", "plate tectonics", "the nitrogen cycle", "how the immune system fights infection",
    "how a caterpillar turns into a butterfly", "the carbon cycle", "nuclear fusion in the sun",
    "how glaciers form", "how soap removes dirt", "muscle growth", "the way memories are formed",
    "how coral reefs form", "how clouds form", "how hurricanes form", "wound healing",
]
_NATURAL_PHENOMENA = [
    "earthquakes", "lightning", "thunder", "tsunamis", "the northern lights", "rainbows", "tides",
    "hurricanes", "tornadoes", "volcanic eruptions", "the greenhouse effect", "droughts", "hiccups",
    "headaches", "acid rain", "fog", "hail", "snow", "static electricity", "jet lag", "motion sickness",
    "allergies", "the seasons", "a solar eclipse", "inflation", "a recession", "muscle cramps", "wrinkles",
    "acne", "ocean currents", "dandruff", "insomnia", "sunburn", "cavities", "brain freeze", "goosebumps",
    "a fever", "morning sickness",
]
_CONCEPTS = [
    "photosynthesis", "inflation", "gravity", "DNA", "a black hole", "an algorithm", "superconductivity",
    "the placebo effect", "compound interest", "entropy", "machine learning", "a recession", "blockchain",
    "climate change", "the theory of relativity", "a virus", "an ecosystem", "cloud computing",
    "a neural network", "osmosis", "supply and demand", "the greenhouse effect", "a stock", "cholesterol",
    "metabolism", "an index fund", "dark matter", "antibiotic resistance", "a carbon footprint",
    "cognitive dissonance",
]
_SCIENCE_PAIRS = [
    "a virus and a bacterium", "weather and climate", "a meteor and a meteorite",
    "an alligator and a crocodile", "affect and effect", "a cold and the flu",
    "baking soda and baking powder", "a psychologist and a psychiatrist", "speed and velocity",
    "a hurricane and a typhoon", "a stock and a bond", "RAM and storage", "an atom and a molecule",
    "AC and DC current", "a frog and a toad", "a debit card and a credit card", "mass and weight",
    "hardware and software",
]
_GOALS = [
    "improve my time management", "fall asleep faster", "get rid of hiccups", "learn a new language quickly",
    "save money on groceries", "reduce stress", "stop procrastinating", "make bread rise",
    "keep cut flowers fresh", "remove a coffee stain", "speed up my computer", "improve my memory",
    "start running", "cure a hangover", "get over jet lag", "boil an egg perfectly", "train a puppy",
    "stay focused while studying", "lower my cholesterol", "protect my privacy online", "grow tomatoes",
    "change a flat tire", "back up my phone", "prepare for a job interview", "deal with a difficult coworker",
    "make friends in a new city", "build healthy habits", "unclog a drain",
]
_CREATURES = [
    "dogs", "cats", "goldfish", "bats", "bees", "sharks", "elephants", "owls", "snakes", "octopuses", "birds",
    "ants", "dolphins", "camels", "bulls", "ostriches", "lemmings", "bears", "spiders", "penguins",
]
_ABILITIES = [
    "see in color", "feel pain", "recognize themselves in a mirror", "sense earthquakes", "see in the dark",
    "smell fear", "remember people", "hold their breath for long", "dream", "understand human speech",
    "taste sweetness", "hear ultrasound", "count", "get sunburned", "feel emotions",
]
_MYTHS = [  # completes "Is it true that ...?"
    "we only use 10 percent of our brains", "lightning never strikes the same place twice",
    "goldfish have a three-second memory", "sugar makes children hyperactive",
    "cracking your knuckles causes arthritis", "bulls get angry at the color red",
    "you lose most of your body heat through your head", "the Great Wall of China is visible from space",
    "bats are blind", "shaving makes hair grow back thicker",
    "you should wait an hour after eating before swimming", "eating carrots improves your eyesight",
    "camels store water in their humps", "ostriches bury their heads in the sand", "we have only five senses",
    "vaccines cause autism", "humans swallow spiders in their sleep", "dogs see only in black and white",
    "you need to drink eight glasses of water a day", "hair and nails keep growing after death",
    "mother birds abandon chicks touched by humans", "the tongue has separate taste zones",
    "cold weather gives you a cold", "an apple a day keeps the doctor away",
]
_BODY = [
    "the liver", "the appendix", "the spleen", "tonsils", "wisdom teeth", "the pancreas", "red blood cells",
    "the thyroid", "eyebrows", "the gallbladder", "sleep", "saliva", "the tailbone", "ear wax", "mucus",
    "sweat",
]
_SUBSTANCES = [
    "caffeine", "alcohol", "sugar", "nicotine", "salt", "melatonin", "aspirin", "vitamin D", "energy drinks",
    "cannabis", "artificial sweeteners", "fasting", "meditation", "exercise", "sleep deprivation", "stress",
]
_PRODUCTS = [
    "glass", "paper", "cheese", "chocolate", "steel", "plastic", "coffee", "bread", "wine", "soap",
    "concrete", "a pencil", "sugar", "a computer chip", "a vaccine", "tofu", "yogurt", "rubber", "cotton",
    "beer",
]
_SITUATIONS = [
    "you get stung by a bee", "your phone falls into water", "someone is choking", "you cut your finger",
    "a pan of oil catches fire", "you see a bear while hiking", "you get lost in the woods",
    "your car breaks down", "you burn your hand", "you are caught in a rip current",
    "a tooth gets knocked out", "you lose your passport abroad", "your computer gets a virus",
    "you get food poisoning", "the power goes out", "you are bitten by a dog",
]
_BEHAVIOURS = [
    "procrastinate", "believe in conspiracy theories", "enjoy horror movies", "bite their nails",
    "get road rage", "sleep talk", "fear spiders", "blush", "cry when they are happy",
    "get addicted to their phones", "like music", "laugh", "hoard things", "talk to themselves",
    "feel homesick", "forget their dreams", "get cravings",
]
_MAKES = [  # completes "What makes ...?"
    "soap remove grease", "a diamond so hard", "salt melt ice", "a magnet attract iron", "bread rise",
    "popcorn pop", "chili peppers taste hot", "glue sticky", "mint feel cold", "a rainbow curved",
    "a cat's eyes glow in the dark", "a balloon stick to a wall after rubbing it", "the ocean look blue",
]

_FOODS = [
    "coffee", "eggs", "dark chocolate", "red wine", "butter", "bananas", "spinach", "green tea", "olive oil",
    "red meat", "rice", "oatmeal", "honey", "yogurt", "orange juice", "garlic", "nuts", "bread", "milk", "avocados",
    "sparkling water", "energy bars", "diet soda", "potatoes", "cheese", "blueberries", "tofu", "salmon",
]
_DISEASES = [
    "diabetes", "the flu", "malaria", "asthma", "chickenpox", "measles", "a migraine", "anemia", "a concussion",
    "Lyme disease", "tuberculosis", "high blood pressure", "food poisoning", "the common cold", "strep throat",
    "COVID-19", "shingles", "celiac disease", "an ear infection", "pneumonia", "arthritis", "heatstroke",
]
_ANIMAL_HABITS = [  # completes "Why do <creatures> ...?"
    "wag their tails", "hibernate", "migrate south", "shed their skin", "sleep so much", "eat grass", "howl at night",
    "live in groups", "have whiskers", "knead with their paws", "glow in the dark", "change color", "build nests",
    "lay eggs", "have tails", "hunt at night", "sing in the morning", "fly in a V formation", "swim in schools",
]
_PHYSICAL_HYPOTHETICALS = [  # completes "What would happen if ...?"
    "the Earth stopped spinning", "the moon disappeared", "the sun went out", "all the ice on Earth melted",
    "you fell into a black hole", "there was no gravity", "the oceans dried up", "a person went to space without a suit",
    "bees went extinct", "you never cut your hair", "humans stopped sleeping", "you swallowed a magnet",
    "the Earth were closer to the sun", "you drank nothing but soda", "the ozone layer disappeared",
    "you ate only fruit", "you dug a hole through the Earth", "the Earth's core cooled down",
]
_SCIENCE_EFFECTS = [  # (cause, effect) as "How does ... affect ...?" pieces
    "altitude", "temperature", "humidity", "salt", "sleep", "exercise", "sunlight", "stress", "music", "diet",
    "screen time", "caffeine", "the moon", "air pressure", "pH", "age", "light pollution", "noise",
]
_AFFECTED = [
    "the boiling point of water", "plant growth", "the human body", "memory", "mood", "blood pressure",
    "the immune system", "sleep quality", "the speed of sound", "the weather", "bones", "concentration",
    "tides", "skin", "metabolism", "the heart", "eyesight", "learning",
]
_HOW_TO_TELL = [  # completes "How can you tell if ...?"
    "an egg is still fresh", "someone is lying", "a mushroom is poisonous", "you are dehydrated", "a bone is broken",
    "milk has gone bad", "a diamond is real", "you have a concussion", "a watermelon is ripe", "a website is safe",
    "your car battery is dying", "you have a vitamin deficiency", "a dog is happy", "a storm is coming",
]
_SIGNS = [  # completes "What does it mean when ...?"
    "your ears ring", "your eye twitches", "a cat purrs", "a dog tilts its head", "your stomach growls",
    "your nose runs in the cold", "you see a ring around the moon", "your joints crack", "you get déjà vu",
    "your hands shake", "the sky is red at night", "you dream about falling", "you hiccup a lot",
]
_SCIENCE_KNOWN = [  # completes "How do scientists know ...?"
    "the age of the universe", "how old a fossil is", "what the Earth's core is made of", "how far away stars are",
    "that dinosaurs had feathers", "the temperature of the sun", "what the climate was like long ago",
    "that the universe is expanding", "how much the Earth weighs", "what black holes look like",
]
_HOW_LONG = [  # completes "How long does ... last / take ...?"
    "cooked rice last in the fridge", "a cold usually last", "it take to digest food", "caffeine stay in your body",
    "it take to form a habit", "a tattoo take to heal", "it take for a broken bone to heal",
    "it take light from the sun to reach Earth", "alcohol stay in your blood", "an opened bottle of wine last",
    "it take to recover from jet lag", "a battery last", "it take for plastic to decompose",
]
_MISC_QA = [  # whole questions in TruthfulQA / explanation style, as a slot for varied openers
    "Can you get sick from going outside with wet hair", "Does reading in the dark ruin your eyes",
    "Do you lose more heat through your head", "Can you catch a cold from cold weather",
    "Does sugar make children hyperactive", "Is it bad to wake a sleepwalker", "Do carrots help you see in the dark",
    "Is it safe to eat raw eggs", "Can you really sweat out toxins", "Does shaving make hair grow thicker",
    "Does cracking your knuckles cause arthritis", "Do we really need eight glasses of water a day",
    "Is breakfast really the most important meal of the day", "Can lightning strike the same place twice",
    "Does alcohol kill brain cells", "Do antibiotics work against viruses", "Can stress turn your hair gray",
]

_LEGAL_ACTS = [  # completes "Is it legal to ...?"
    "drive barefoot", "collect rainwater", "record a phone call without consent", "marry your cousin",
    "burn money", "carry a knife", "fly a drone over private property", "jaywalk", "own a pet monkey",
    "use someone else's wifi", "leave a child alone at home", "busk on the street", "eat while driving",
    "refuse to pay a tip", "sell homemade food", "download movies for personal use", "kill a spider on your property",
]
_JURISDICTIONS = ["the US", "the UK", "California", "Texas", "Canada", "Australia", "France", "Germany", "Japan", "the EU"]
_REMEDIES = [  # completes "Can ... cure ...?"
    "vitamin C", "garlic", "honey", "chicken soup", "acupuncture", "homeopathy", "apple cider vinegar", "turmeric",
    "cold showers", "essential oils", "zinc", "echinacea", "hot tea", "a hangover breakfast", "magnets",
]
_AILMENTS = [
    "a cold", "a headache", "insomnia", "a hangover", "acne", "back pain", "anxiety", "a sore throat", "the flu",
    "hiccups", "heartburn", "arthritis", "cancer", "baldness", "allergies",
]
_SUPERSTITIONS = [  # completes "What happens if you ...?" (folklore, answered with facts)
    "walk under a ladder", "see a black cat", "find a four-leaf clover", "spill salt", "say Bloody Mary in a mirror",
    "cross your eyes for too long", "whistle indoors", "knock on wood",
    "count the stars", "cut your hair on a full moon", "place a mirror by your bed", "touch a toad",
]
_PARANORMAL = ["ghosts", "vampires", "psychics", "UFOs", "curses", "lucky numbers", "horoscopes", "haunted houses", "mermaids", "fairies"]
_PROVERBS = [
    "an apple a day keeps the doctor away", "curiosity killed the cat", "the early bird catches the worm",
    "don't count your chickens before they hatch", "a watched pot never boils", "you can't teach an old dog new tricks",
    "lightning never strikes twice", "the pen is mightier than the sword", "break a leg", "bite the bullet",
    "let the cat out of the bag", "once in a blue moon", "raining cats and dogs", "the whole nine yards",
]
_ECON_EVENTS = [
    "interest rates go up", "a country prints more money", "the stock market crashes", "oil prices rise",
    "a currency loses value", "unemployment rises", "a bank fails", "taxes are cut", "wages go up", "a bubble bursts",
]

QA = RoutingExamples(
    templates=[
        "What are the health benefits of {food}?", "Is {food} good for you?", "Is it healthy to eat {food} every day?",
        "What happens to your body if you eat {food} every day?", "What are the symptoms of {disease}?",
        "How is {disease} treated?", "How does {disease} spread?", "What causes {disease}?",
        "Why do {creatures} {animal_habit}?", "Why do some {creatures} {animal_habit}?",
        "What would happen if {physical_hypothetical}?", "What happens if {physical_hypothetical}?",
        "How does {cause} affect {affected}?", "Why does {cause} affect {affected}?",
        "How can you tell if {tell}?", "What does it mean when {sign}?", "Why is it that {sign}?",
        "How do scientists know {science_known}?", "How long does {how_long}?", "{misc_qa}?",
"Explain why {why_as_question}.", "Why shouldn't you {action}?",
        "What is the reason that {why_as_question}?", "I was told that {myth}. Is that right?",
        "Is it legal to {legal_act} in {jurisdiction}?", "In {jurisdiction}, what happens if you {legal_act}?",
        "Can you get in trouble for trying to {legal_act}?", "Can {remedy} cure {ailment}?",
        "Does {remedy} really help with {ailment}?", "What is the best way to get rid of {ailment}?",
        "What happens if you {superstition}?", "Is it bad luck to {superstition}?", "Do {paranormal} really exist?",
        "Is there any scientific evidence for {paranormal}?", "What does the saying '{proverb}' mean?",
        "Where does the expression '{proverb}' come from?",
        "What happens to the economy when {econ_event}?", "Why do prices go up when {econ_event}?",
        "How does it affect ordinary people when {econ_event}?",
        "How does {mechanism} work?", "How do {mechanism_plural} work?", "Explain how {mechanism} works.",
        "Can you explain how {mechanism} works in simple terms?", "What is the science behind {mechanism}?",
        "Why {why}?", "Can you explain why {why_as_question}?", "what makes {why_as_question}",
        "What happens if you {action}?", "What happens to your body if you {action}?",
        "What would happen if you {action}?", "Is it dangerous to {action}?", "Is it safe to {action}?",
        "Is {action_gerund} bad for you?", "Does {action_gerund} really help?",
        "What are the effects of {substance} on the body?", "How does {substance} affect the brain?",
        "What causes {phenomenon}?", "Why do we get {phenomenon_personal}?", "How do {phenomenon} form?",
        "Explain {process}.", "Describe the process of {process}.",
        "Could you outline the main stages of {process}?", "Explain {process} step by step.",
        "What is {concept}?", "Explain {concept} in simple terms.",
        "Can you explain the basics of {concept}?", "What does {concept} mean and why does it matter?",
        "How would you explain {concept} to a child?", "What is the difference between {pair}?",
        "How can you tell the difference between {pair}?", "How can I {goal}?",
        "What is the best way to {goal}?", "What are some tips to {goal}?", "How do I {goal}?",
        "Can {creatures} {ability}?", "Do {creatures} really {ability}?", "How do {creatures} {ability}?",
        "Is it true that {myth}?", "Why do people say that {myth}?", "Do {creatures} sleep, and how?",
        "What is the purpose of {body}?", "What does {body} do?", "Why do we have {body}?",
        "How is {product} made?", "Where does {product} come from and how is it produced?",
        "What should you do if {situation}?", "What is the first thing to do if {situation}?",
        "Why do people {behaviour}?", "Why do some people {behaviour} more than others?",
        "What happens in the brain when people {behaviour}?", "What makes {makes}?",
        "How long does it take for {process} to happen?", "Is it possible to {ability_human}?",
        "How long can a person {survive}?", "What happens when {event_clause}?",
        "Why is it that {why_as_question}?", "What really happens during {process}?",
    ],
    slots={
        "legal_act": _LEGAL_ACTS,
        "jurisdiction": _JURISDICTIONS,
        "remedy": _REMEDIES,
        "ailment": _AILMENTS,
        "superstition": _SUPERSTITIONS,
        "paranormal": _PARANORMAL,
        "proverb": _PROVERBS,
        "econ_event": _ECON_EVENTS,
        "food": _FOODS,
        "disease": _DISEASES,
        "animal_habit": _ANIMAL_HABITS,
        "physical_hypothetical": _PHYSICAL_HYPOTHETICALS,
        "cause": _SCIENCE_EFFECTS,
        "affected": _AFFECTED,
        "tell": _HOW_TO_TELL,
        "sign": _SIGNS,
        "science_known": _SCIENCE_KNOWN,
        "how_long": _HOW_LONG,
        "misc_qa": _MISC_QA,
        "mechanism": _MECHANISMS,
        "mechanism_plural": [
            "vaccines", "airplanes", "computers", "batteries", "magnets", "telescopes", "smartphones",
            "elevators", "solar panels", "noise-cancelling headphones", "antibiotics", "credit cards",
            "submarines", "rockets", "hot air balloons", "microchips", "traffic lights", "3D glasses",
            "seat belts", "contact lenses", "vaccines against the flu", "painkillers", "search engines",
            "electric cars", "hearing aids", "x-rays",
        ],
        "why": _WHY_QUESTIONS,
        "why_as_question": [
            "the sky is blue", "ice floats", "we dream", "leaves change color in autumn",
            "the ocean is salty", "onions make you cry", "we yawn", "bread goes stale", "we have seasons",
            "stars twinkle", "our skin wrinkles in the bath", "metal feels cold", "hair turns gray with age",
            "the moon has phases", "planes can fly", "a boat floats", "cats purr",
            "we get tired after eating", "coffee keeps us awake", "the sun is hot", "we get goosebumps",
            "water expands when it freezes", "soap kills germs",
        ],
        "action": _ACTIONS,
        "action_gerund": _ACTION_GERUNDS,
        "substance": _SUBSTANCES,
        "phenomenon": _NATURAL_PHENOMENA,
        "phenomenon_personal": [
            "hiccups", "headaches", "goosebumps", "cramps", "jet lag", "allergies", "brain freeze", "colds",
            "wrinkles", "nosebleeds", "dizzy", "sore muscles", "cavities",
        ],
        "process": _PROCESSES,
        "concept": _CONCEPTS,
        "pair": _SCIENCE_PAIRS,
        "goal": _GOALS,
        "creatures": _CREATURES,
        "ability": _ABILITIES,
        "myth": _MYTHS,
        "body": _BODY,
        "product": _PRODUCTS,
        "situation": _SITUATIONS,
        "behaviour": _BEHAVIOURS,
        "makes": _MAKES,
        "ability_human": [
            "sneeze with your eyes open", "die of a broken heart", "catch a cold from being cold",
            "sweat blood", "get drunk without drinking alcohol", "be allergic to water",
            "taste with your nose", "dream in color", "hear colors", "grow new brain cells",
            "lose weight by only drinking water", "become immune to poison",
        ],
        "survive": [
            "go without sleep", "survive without water", "survive without food", "hold their breath",
            "stay awake", "survive in space without a suit", "live without a spleen",
            "stay in the sun safely",
        ],
        "event_clause": [
            "lightning strikes a plane", "you mix baking soda and vinegar", "a star dies",
            "two black holes collide", "the body gets dehydrated", "a volcano erupts under the sea",
            "a bone breaks", "the immune system overreacts", "you get a sunburn",
            "the Earth's magnetic field flips", "a planet loses its atmosphere", "a fuse blows",
        ],
    },
    examples=[
        "Explain how photosynthesis works", "How does a car engine work?", "What causes earthquakes?",
        "How do vaccines work?", "Why is the sky blue?", "What happens if you swallow gum?",
        "Why do cats purr?", "What happens to your body when you don't sleep?", "How do airplanes fly?",
        "Explain the water cycle", "How does the heart pump blood?", "What is the greenhouse effect?",
        "How do computers store data?", "What causes lightning?",
        "Is it true that we only use 10% of our brains?", "Why do onions make you cry?",
        "What should you do if you get stung by a bee?", "How can I improve my sleep?",
        "Can dogs see in color?", "Why does ice float on water?",
        "What is the difference between a virus and a bacterium?", "How is cheese made?",
        "What happens if you crack your knuckles a lot?", "Why do leaves change color in the fall?",
        "How does the immune system fight a cold?", "What does the appendix do?", "Why do we dream?",
        "Explain how a rainbow forms.", "How does a microwave heat food?",
        "Is it bad to swim right after eating?", "Why do people procrastinate?",
        "What happens when you mix bleach and ammonia?", "How do magnets work?", "What makes popcorn pop?",
    ],
)

# -- factoid: who / what / when / where / how many -----------------------------------------------------
_COUNTRIES = [
    "France", "Japan", "Australia", "Canada", "Brazil", "Egypt", "Kenya", "India", "Germany", "Mexico",
    "Peru", "Norway", "Turkey", "Argentina", "Vietnam", "Nigeria", "Spain", "Italy", "South Korea",
    "Thailand", "Chile", "Morocco", "Poland", "Sweden", "Indonesia", "New Zealand", "Ireland", "Portugal",
    "Greece", "Pakistan", "Colombia", "Ethiopia", "Switzerland", "the Philippines", "Iran", "Cuba", "Hungary",
    "Finland", "Ghana",
]
_BOOKS = [
    "Hamlet", "War and Peace", "Pride and Prejudice", "The Hobbit", "Don Quixote", "1984", "The Odyssey",
    "The Great Gatsby", "Moby Dick", "Harry Potter", "The Origin of Species", "Les Miserables", "Dracula",
    "The Little Prince", "Frankenstein", "The Canterbury Tales", "Anna Karenina", "The Hunger Games",
    "the Declaration of Independence", "the national anthem of the United States", "the song Imagine",
    "The Lord of the Rings", "Charlotte's Web", "The Art of War", "Gone with the Wind", "The Da Vinci Code",
]
_INVENTIONS = [
    "telephone", "light bulb", "printing press", "airplane", "television", "radio", "steam engine",
    "telescope", "World Wide Web", "computer mouse", "polio vaccine", "dynamite", "bicycle", "periscope",
    "microwave oven", "ballpoint pen", "zipper", "phonograph", "cotton gin", "jet engine", "first car",
    "internet", "smartphone",
]
_LANDMARKS = [
    "the Eiffel Tower", "Mount Everest", "the Taj Mahal", "Machu Picchu", "the Great Wall of China",
    "the Statue of Liberty", "Stonehenge", "the Colosseum", "the Golden Gate Bridge", "Angkor Wat",
    "the Leaning Tower of Pisa", "Mount Kilimanjaro", "the Sydney Opera House", "Big Ben", "Petra",
    "the Alhambra", "Niagara Falls", "the Grand Canyon", "the Panama Canal", "the Hoover Dam",
    "Christ the Redeemer", "the Empire State Building", "the Burj Khalifa", "Mount Rushmore", "the Parthenon",
    "Chichen Itza",
]
_WARS = [
    "World War II", "World War I", "the Vietnam War", "the Korean War", "the American Civil War",
    "the Hundred Years' War", "the Cold War", "the Gulf War", "the Napoleonic Wars", "the War of 1812",
    "the Thirty Years' War", "the Spanish Civil War", "the Boer War", "the Crimean War", "the Falklands War",
]
_PAINTINGS = [
    "the Mona Lisa", "The Starry Night", "The Last Supper", "The Scream", "Guernica", "The Night Watch",
    "Girl with a Pearl Earring", "The Birth of Venus", "the Sistine Chapel ceiling", "American Gothic",
    "The Persistence of Memory", "Water Lilies",
]
_SONGS = [
    "bohemian rhapsody", "hotel california", "i will always love you", "sweet caroline", "respect",
    "hallelujah", "stairway to heaven", "like a rolling stone", "what a wonderful world", "yesterday",
    "purple rain", "hey jude", "smells like teen spirit", "i want to hold your hand", "jolene",
    "rolling in the deep", "take me home country roads", "stand by me", "dancing queen", "billie jean",
    "my way", "unchained melody", "the wind beneath my wings", "livin on a prayer", "country roads",
    "you've got a friend", "all of me",
]
_SHOWS = [
    "game of thrones", "the office", "friends", "grey's anatomy", "the big bang theory", "breaking bad",
    "stranger things", "the walking dead", "how i met your mother", "the simpsons", "doctor who",
    "this is us", "greys anatomy", "once upon a time", "supernatural", "the crown", "the voice",
    "american idol", "suits", "modern family", "criminal minds", "ncis", "the good place", "outlander",
    "vikings", "sherlock", "lost",
]
_FILMS = [
    "the godfather", "titanic", "star wars", "the lion king", "jurassic park", "the dark knight",
    "harry potter", "forrest gump", "the wizard of oz", "pirates of the caribbean", "back to the future",
    "the matrix", "toy story", "black panther", "the sound of music", "gone with the wind", "rocky", "jaws",
    "frozen", "the princess bride", "mamma mia", "grease", "the hunger games", "avatar", "home alone",
    "casablanca",
]
_CHARACTERS = [
    "darth vader", "the joker", "hermione granger", "james bond", "gandalf", "dorothy", "jack sparrow",
    "rocky balboa", "the wicked witch", "sherlock holmes", "wonder woman", "jon snow", "eleven",
    "michael scott", "walter white", "captain america", "elsa", "woody", "han solo", "katniss everdeen",
    "indiana jones",
]
_ELEMENTS = [
    "gold", "silver", "iron", "sodium", "potassium", "lead", "mercury", "tin", "copper", "helium", "oxygen",
    "carbon", "calcium", "uranium", "neon", "zinc", "hydrogen", "nitrogen", "platinum", "tungsten",
]
_PEOPLE_FAMOUS = [
    "Albert Einstein", "Marie Curie", "Isaac Newton", "Leonardo da Vinci", "Abraham Lincoln", "Cleopatra",
    "Mozart", "Frida Kahlo", "Nelson Mandela", "Charles Darwin", "Galileo", "Queen Victoria", "Napoleon",
    "Martin Luther King Jr.", "Ada Lovelace", "Nikola Tesla", "Amelia Earhart", "Mahatma Gandhi",
    "William Shakespeare", "Beethoven", "Michael Jordan", "Pele", "Elvis Presley", "Neil Armstrong",
]
_FIRSTS = [
    "walk on the moon", "reach the South Pole", "climb Mount Everest", "fly across the Atlantic alone",
    "win two Nobel Prizes", "sail around the world", "go into space", "run a mile in under four minutes",
    "split the atom", "receive a heart transplant", "swim the English Channel", "orbit the Earth",
]
_SUPERLATIVES = [
    "largest ocean", "longest river", "tallest mountain", "largest desert", "smallest country",
    "deepest lake", "largest country by area", "most populous country", "hottest planet", "largest planet",
    "fastest land animal", "largest mammal", "longest bone in the human body", "hardest natural substance",
    "most spoken language", "oldest university", "biggest island", "highest waterfall",
    "largest moon of Saturn", "coldest continent", "tallest building", "busiest airport",
    "largest organ of the human body", "smallest planet", "oldest city",
]
_REGIONS = [
    "the world", "Africa", "Europe", "Asia", "South America", "the United States", "Australia", "Canada",
    "the solar system",
]
_OFFICES = [
    "prime minister of the united kingdom", "president of france", "chancellor of germany",
    "secretary general of the un", "chief justice of the supreme court", "speaker of the house",
    "governor of california", "prime minister of canada", "president of the european commission",
    "mayor of new york", "pope", "president of mexico",
]
_COMPETITIONS = [
    "the world cup", "the super bowl", "the nba finals", "the stanley cup", "wimbledon", "the world series",
    "the champions league", "the tour de france", "the masters", "the eurovision song contest",
    "the kentucky derby", "the ncaa championship", "the fa cup", "the rugby world cup",
    "the oscars for best picture",
]
_YEARS = _numbers(1950, 2024, 3)
_TEAMS = [
    "the yankees", "the patriots", "the lakers", "the cubs", "manchester united", "real madrid",
    "the cowboys", "the warriors", "the red sox", "brazil", "germany", "the packers", "the steelers",
    "the bulls", "liverpool",
]
_ACRONYMS = [
    "nasa", "nato", "scuba", "laser", "fbi", "unicef", "html", "gps", "dna", "asap", "radar", "usb", "opec",
    "pdf", "aids",
]
_COUNT_QUESTIONS = [  # completes "How many ...?"
    "bones are there in the human body", "players are on a soccer team", "countries are in Africa",
    "states are there in the United States", "keys does a piano have", "moons does Jupiter have",
    "teeth does an adult human have", "hearts does an octopus have", "strings does a violin have",
    "planets are in the solar system", "time zones does Russia have", "stars are on the American flag",
    "chambers does the human heart have", "legs does a spider have", "continents are there",
    "squares are on a chessboard", "cards are in a standard deck", "members are in the US Senate",
    "books are in the Harry Potter series", "amendments does the US Constitution have",
    "players are on a basketball team", "elements are in the periodic table", "languages are spoken in India",
    "oceans are there on Earth", "episodes are in the first season of friends",
    "rings are on the Olympic flag", "days are in a leap year",
]
_NQ_COUNT = [  # lower-case NQ style "how many ..."
    "episodes in season 3 of stranger things", "seasons of the office are there",
    "times has brazil won the world cup", "grammys does beyonce have",
    "members of the house of representatives", "super bowls have the patriots won",
    "books in the old testament", "states in india", "islands in hawaii", "people live in tokyo",
    "national parks are in the us", "calories in a banana", "bones in a cat",
    "championships do the lakers have", "ounces in a cup", "feet in a mile",
    "countries in the european union", "episodes of game of thrones",
]
_EVENTS_DATED = [
    "world war 2 end", "the berlin wall fall", "the titanic sink", "the first iphone come out",
    "the us enter ww1", "the declaration of independence get signed", "the first man land on the moon",
    "the great fire of london happen", "the cold war end", "india gain independence",
    "the euro become currency", "facebook start", "the civil war start", "the last dinosaurs die",
    "the first olympic games take place", "the roman empire fall", "the bubonic plague start",
    "the eiffel tower open", "the great depression begin", "apartheid end in south africa",
    "the internet become public", "alaska become a state", "slavery end in the united states",
    "women get the right to vote in the uk",
]
_NQ_WHAT = [  # completes "what is the name of ..." / "what ..."
    "the dog in the wizard of oz", "the largest bone in the body", "the currency of japan",
    "the ship in moby dick", "the main character in the great gatsby", "the river that runs through paris",
    "the first book of the bible", "the capital of australia", "the longest running broadway show",
    "the highest mountain in africa", "the official language of brazil", "the national animal of scotland",
    "the hardest mineral", "the sea between italy and greece", "the currency of the united kingdom",
    "the mascot of the olympics in 2012",
]
_PLACES_NQ = [
    "the great barrier reef", "mount rushmore", "the amazon river", "chernobyl", "the dead sea", "stonehenge",
    "the golden gate bridge", "timbuktu", "the kremlin", "the louvre", "area 51", "the sahara desert",
    "the panama canal", "the white house", "the mariana trench", "lake titicaca", "the bermuda triangle",
]

_THEORY_NAMES = [
    "theory of relativity", "theory of evolution", "heliocentric model", "germ theory of disease", "big bang theory",
    "laws of motion", "periodic table", "theory of continental drift", "uncertainty principle", "law of gravitation",
]
_FIELDS = [
    "modern physics", "economics", "medicine", "computer science", "history", "genetics", "psychology", "sociology",
    "geometry", "chemistry", "taxonomy", "the atomic bomb", "the internet", "modern philosophy", "surgery",
]
_TERM_DEFINITIONS = [  # completes "what is the term for ..."
    "a word that means the opposite of another", "animals that eat only plants", "fear of heights",
    "a baby kangaroo", "a group of crows", "the study of fossils", "a line that touches a circle at one point",
    "the longest side of a right triangle", "a person who studies insects", "a word spelled the same backwards",
    "the loss of water vapor from plants", "rule by a small group of people", "a female horse",
]
_ORGANELLES = [  # (what does it) completes "which part of the cell ..."
    "produces energy", "contains the genetic material", "makes proteins", "controls what enters the cell",
    "stores water in plant cells", "carries out photosynthesis",
]
_ADAPTATIONS = ["the hunger games", "the godfather", "jurassic park", "forrest gump", "the shining", "psycho", "jaws", "fight club", "the notebook", "mean girls"]

FACTOID = RoutingExamples(
    templates=[
        "who proposed the {theory_name}", "the {theory_name} was proposed by", "who is known as the father of {field}",
        "what is the term for {term_definition}", "which part of the cell {organelle}", "what type of government does {country} have",
        "the movie {adaptation} is based on what book", "who wrote the music for {film}", "who sings the theme song for {show}",
        "who was the king of england during {war}", "what is the official currency of {country}",
        "who was the first woman to {first}", "in which year did {event_dated}", "name the {superlative}",
        "What is the capital of {country}?", "what is the capital city of {country}", "Who wrote {book}?",
        "who wrote {book}", "Who invented the {invention}?", "who invented the {invention}",
        "When was the {invention} invented?", "In what year was the {invention} invented?",
        "Where is {landmark}?", "Where is {landmark} located?", "When was {landmark} built?",
        "How tall is {landmark}?", "When did {war} end?", "When did {war} start?", "Who won {war}?",
        "Who painted {painting}?", "What is the {superlative} in {region}?", "What is the {superlative}?",
        "which is the {superlative} in {region}", "What is the chemical symbol for {element}?",
        "What is the atomic number of {element}?", "What language is spoken in {country}?",
        "What currency is used in {country}?", "What is the population of {country}?",
        "Who was the first person to {first}?", "who was the first person to {first}",
        "When was {famous} born?", "Where was {famous} born?", "When did {famous} die?",
        "What nationality was {famous}?", "What is {famous} best known for?", "How many {count_question}?",
        "how many {nq_count}", "who sang {song}", "who wrote the song {song}", "who sings {song}",
        "when did {song} come out", "who played {character} in {film}", "who plays {character} in the movie",
        "who is the actor that plays {character}", "when did {film} come out", "where was {film} filmed",
        "who directed {film}", "when does season {n} of {show} come out",
        "how many seasons of {show} are there", "who is the narrator of {show}", "what channel is {show} on",
        "when did {event_dated}", "what year did {event_dated}", "who won {competition} in {year}",
        "who won {competition} last year", "when was the last time {team} won {competition}",
        "who has won the most {competition_titles}", "who is the current {office}",
        "who was the {ordinal} {office}", "what does {acronym} stand for", "what is the name of {nq_what}",
        "where is {place_nq}", "where is {place_nq} located on a map", "What country is {landmark} in?",
        "Which country has the most {stat}?", "Which planet {planet_fact}?",
        "What year did {famous} win the Nobel Prize?", "Who discovered {discovery}?",
        "who discovered {discovery}", "What is the boiling point of {liquid}?",
        "What is the speed of {speed}?", "What is the official language of {country}?",
        "What is the national sport of {country}?", "Which ocean is {country} on?", "Who founded {company}?",
        "when was {company} founded", "Where is the headquarters of {company}?", "who owns {company}",
        "What is the real name of {stage_name}?", "how old is {famous_living}", "how tall is {famous_living}",
        "What year was {book} published?", "who is the author of {book}",
    ],
    slots={
        "theory_name": _THEORY_NAMES,
        "field": _FIELDS,
        "term_definition": _TERM_DEFINITIONS,
        "organelle": _ORGANELLES,
        "adaptation": _ADAPTATIONS,
        "country": _COUNTRIES,
        "book": _BOOKS,
        "invention": _INVENTIONS,
        "landmark": _LANDMARKS,
        "war": _WARS,
        "painting": _PAINTINGS,
        "superlative": _SUPERLATIVES,
        "region": _REGIONS,
        "element": _ELEMENTS,
        "first": _FIRSTS,
        "famous": _PEOPLE_FAMOUS,
        "count_question": _COUNT_QUESTIONS,
        "nq_count": _NQ_COUNT,
        "song": _SONGS,
        "character": _CHARACTERS,
        "film": _FILMS,
        "show": _SHOWS,
        "n": _numbers(1, 12),
        "event_dated": _EVENTS_DATED,
        "competition": _COMPETITIONS,
        "competition_titles": [
            "grand slam titles", "olympic gold medals", "world cup titles", "oscars", "grammy awards",
            "nba championships", "ballon d'or awards", "super bowl rings",
        ],
        "year": _YEARS,
        "team": _TEAMS,
        "office": _OFFICES,
        "ordinal": [
            "first", "second", "third", "16th", "32nd", "44th", "last", "youngest", "longest serving",
        ],
        "acronym": _ACRONYMS,
        "nq_what": _NQ_WHAT,
        "place_nq": _PLACES_NQ,
        "stat": [
            "islands", "time zones", "pyramids", "volcanoes", "lakes", "official languages",
            "nobel prize winners", "world heritage sites",
        ],
        "planet_fact": [
            "is closest to the sun", "has the most moons", "is known as the red planet",
            "has the biggest rings", "is the hottest", "was downgraded to a dwarf planet",
        ],
        "discovery": [
            "penicillin", "gravity", "radium", "the electron", "America", "DNA's double helix", "x-rays",
            "the planet neptune", "insulin", "the higgs boson", "oxygen", "pluto",
        ],
        "liquid": ["water", "water in fahrenheit", "ethanol", "liquid nitrogen", "olive oil", "mercury"],
        "speed": ["light", "sound", "the earth around the sun", "a cheetah", "the fastest train", "a bullet"],
        "company": [
            "apple", "microsoft", "amazon", "google", "ikea", "toyota", "nike", "coca-cola", "tesla",
            "samsung", "netflix", "lego", "walmart", "mcdonald's", "disney",
        ],
        "stage_name": [
            "Lady Gaga", "Bruno Mars", "Freddie Mercury", "Marilyn Monroe", "Elton John", "Bono", "Sting",
            "Lorde", "Mark Twain", "George Orwell",
        ],
        "famous_living": [
            "taylor swift", "lebron james", "tom cruise", "oprah winfrey", "king charles", "serena williams",
            "keanu reeves", "bill gates", "dolly parton",
        ],
    },
    examples=[
        "What is the capital of France?", "When was the Eiffel Tower built?", "Who invented the telephone?",
        "Where is Mount Everest?", "who sang the song hotel california",
        "How many bones are there in the human body?", "Who wrote Pride and Prejudice?",
        "When did World War II end?", "What is the largest ocean?", "who played the joker in the dark knight",
        "Who painted the Mona Lisa?", "when did the first iphone come out",
        "What is the chemical symbol for gold?", "Who was the first person on the moon?",
        "where is the great barrier reef located", "What is the speed of light?",
        "how many episodes in season 1 of the office", "Where is the Taj Mahal?",
        "what year did the berlin wall fall", "Which planet is known as the red planet?",
        "who is the current prime minister of canada", "What currency is used in Japan?",
        "who won the world cup in 2014", "What is the tallest mountain in Africa?",
        "When was Albert Einstein born?", "what does nasa stand for", "Who discovered penicillin?",
        "what is the longest river in the world", "Who founded Microsoft?", "when did the titanic sink",
        "How many players are on a soccer team?", "who plays eleven in stranger things",
        "What language is spoken in Brazil?", "In which country is Machu Picchu?",
    ],
)

ROUTING: dict[str, RoutingExamples] = {
    "reasoning": REASONING,
    "knowledge": KNOWLEDGE,
    "qa": QA,
    "factoid": FACTOID,
}
# fmt: on
