"""Small multi-line programs: code tasks with more room for bugs than the code skill's one-liners.

The code skill (`SKILLS["code"]`) writes `def f(x): return x + 5`: a bug there is one operator or constant. A
self-debugging method (LEDEX, `sftkit.methods.selfdebug`) also needs loops, conditions, accumulators and two
arguments, where realistic bugs live (an off-by-one range, a flipped comparison, a wrong start value, swapped
arguments, a missing return). Each family below is a description, a gold program and a reference function (plain
Python, which computes the tests' expected values: no program is executed here); its instances differ by a
constant. Records have the world's format with skill "code", so `sftkit.sandbox.run_record` runs them::

    {"id": "programs-train-sum_range-1", "skill": "code", "split": "programs-train",
     "messages": [{"role": "user", "content": "Write a Python function f(n) that returns the sum of ... from 1 to n."},
                  {"role": "assistant", "content": "def f(n):\\n    total = 0\\n    for i in range(1, n + 1):\\n ..."}],
     "answer": "def f(n): ...", "meta": {"family": "sum_range", "k": 1, "tests": [[1, 1], [4, 10], [6, 21]]}}

Tests are [argument, expected] pairs for one-argument functions and {"call", "expected"} dicts for two (the
sandbox's two test forms). Splits: "programs-train" and "programs-test" use different constants of the same
families. Nothing here changes the world's own splits (`make_splits`), which notebooks depend on.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..io import SftkitError


@dataclass(frozen=True)
class Family:
    """One kind of small program: `description` and `program` are templates with {k}; `reference(k, arg)` is the
    right value; `inputs(k)` the test arguments (a tuple of two for a two-argument function); `constants` the k of
    each split."""
    name: str
    description: str
    program: str
    reference: Callable
    inputs: Callable
    constants: dict[str, tuple]


def _count(word: str, letter: str) -> int:
    return sum(ch == letter for ch in word)


def _product(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


WORDS = ("banana", "kofa", "eerie", "moss", "papaya", "test", "level", "sense")

FAMILIES = (
    Family("sum_range", "Write a Python function f(n) that returns the sum of the whole numbers from {k} to n.",
           "def f(n):\n    total = 0\n    for i in range({k}, n + 1):\n        total += i\n    return total",
           lambda k, n: sum(range(k, n + 1)), lambda k: [k, k + 3, k + 5], {"train": (0, 1, 2), "test": (3,)}),
    Family("product_range", "Write a Python function f(n) that returns the product of the whole numbers from {k} to n.",
           "def f(n):\n    total = 1\n    for i in range({k}, n + 1):\n        total *= i\n    return total",
           lambda k, n: _product(range(k, n + 1)), lambda k: [k, k + 2, k + 4], {"train": (1, 2), "test": (3,)}),
    Family("count_letter", "Write a Python function f(s) that counts how often the letter {k} appears in the word s.",
           "def f(s):\n    n = 0\n    for ch in s:\n        if ch == \"{k}\":\n            n += 1\n    return n",
           lambda k, s: _count(s, k), lambda k: [w for w in WORDS if k in w][:2] + ["xyz"],
           {"train": ("a", "e"), "test": ("s",)}),
    Family("count_above", "Write a Python function f(xs) that counts the numbers in the list xs greater than {k}.",
           "def f(xs):\n    n = 0\n    for x in xs:\n        if x > {k}:\n            n += 1\n    return n",
           lambda k, xs: sum(x > k for x in xs), lambda k: [[k, k + 1, k + 2], [k - 1, k], [k + 5, 0, k + 1, k]],
           {"train": (3, 5), "test": (7,)}),
    Family("largest", "Write a Python function f(xs) that returns the largest number in the list xs, or {k} if it is empty.",
           "def f(xs):\n    if len(xs) == 0:\n        return {k}\n    best = xs[0]\n    for x in xs:\n        if x > best:\n"
           "            best = x\n    return best",
           lambda k, xs: max(xs) if xs else k, lambda k: [[3, 9, 4], [7, 2, 5], [], [1, 1, 8, 2]],
           {"train": (0, -1), "test": (-2,)}),
    Family("at_least", "Write a Python function f(x) that returns x if x is at least {k}, and {k} otherwise.",
           "def f(x):\n    if x >= {k}:\n        return x\n    return {k}",
           lambda k, x: max(x, k), lambda k: [k - 2, k, k + 3], {"train": (4, 10), "test": (6,)}),
    Family("scaled_difference", "Write a Python function f(a, b) that returns a minus {k} times b.",
           "def f(a, b):\n    return a - {k} * b",
           lambda k, ab: ab[0] - k * ab[1], lambda k: [(9, 2), (3, 4), (10, 1)], {"train": (2, 3), "test": (4,)}),
)


def _tests(family: Family, k) -> list:
    """The instance's tests in the sandbox's format: pairs for one argument, call dicts for two."""
    out = []
    for arg in family.inputs(k):
        expected = family.reference(k, arg)
        out.append({"call": f"f{arg!r}", "expected": expected} if isinstance(arg, tuple) else [arg, expected])
    return out


def program_records(split: str = "train") -> list[dict]:
    """The program tasks of `split` ("train" or "test"), one record per family and constant, in the world's
    format (skill "code", split "programs-<split>"; meta: family, k, tests)."""
    if split not in ("train", "test"):
        raise SftkitError(f"program_records: split must be 'train' or 'test', got {split!r}")
    records = []
    for family in FAMILIES:
        for i, k in enumerate(family.constants[split]):
            program = family.program.format(k=k)
            records.append({"id": f"programs-{split}-{family.name}-{i}", "skill": "code", "split": f"programs-{split}",
                            "messages": [{"role": "user", "content": family.description.format(k=k)},
                                         {"role": "assistant", "content": program}],
                            "answer": program, "meta": {"family": family.name, "k": k, "tests": _tests(family, k)}})
    return records
