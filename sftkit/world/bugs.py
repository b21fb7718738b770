"""Bugs in the tiny world's programs: realistic one-edit mutants of a gold program (`KINDS`), where wrong code
differs from right code token by token (`changed_fragments`), the explanation checks that read an explanation
against that diff, and the gold explanation of a change. Pure gold functions, no torch: LEDEX
(`sftkit.methods.selfdebug`, notebook 11_selfdebug) reads them, and its scripted teacher plays its prompt from them.
"""
from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass

# ----------------------------------------------------------------------------------------------------
# Mutations: realistic one-edit bugs

KINDS = {"operator": "an arithmetic operator replaced by another (+ for -)",
         "comparison": "a comparison flipped (< for >, == for !=)",
         "off_by_one": "a constant one off, or a comparison's boundary moved (< for <=)",
         "constant": "a constant mistyped (its digits transposed, else 2 more)",
         "swapped": "two operands or two parameters swapped",
         "missing_return": "a return keyword dropped (the function returns None)"}
TOKEN = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|\d+|\w+|==|!=|<=|>=|//|\*\*|[-+*/%]=|\S")
ARITHMETIC, AUGMENTED = ("+", "-", "*"), ("+=", "-=", "*=")
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "!=", "!=": "=="}
BOUNDARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
NOT_COMMUTATIVE = ("-", "//", "%", "/")
KEYWORDS = ("return", "in", "if", "else", "not", "and", "or")


@dataclass(frozen=True)
class Mutation:
    """One bug put into a program: its kind (`KINDS`), the resulting program, the 1-based line of the edit, and the
    text replaced (`before`) and put there (`after`)."""
    kind: str
    program: str
    line: int
    before: str
    after: str


def _edits(program: str) -> list[tuple[str, int, int, str]]:
    """(kind, start, end, replacement) of every candidate one-edit bug, in program order."""
    toks = list(TOKEN.finditer(program))
    out = []
    for i, t in enumerate(toks):
        s, e, text = t.start(), t.end(), t.group()
        if text.isdigit():
            n = int(text)
            out += [("off_by_one", s, e, str(m)) for m in (n + 1, n - 1) if m >= 0]
            swap = text[::-1]
            out.append(("constant", s, e, swap if swap != text and not swap.startswith("0") else str(n + 2)))
        elif text in AUGMENTED or (text in ARITHMETIC and i > 0 and (_operand(toks, i - 1) or toks[i - 1].group() in ")]")):
            out += [("operator", s, e, o) for o in (ARITHMETIC if text in ARITHMETIC else AUGMENTED) if o != text]
        if text in FLIP:
            out.append(("comparison", s, e, FLIP[text]))
        if text in BOUNDARY:
            out.append(("off_by_one", s, e, BOUNDARY[text]))
        if text == "return" and i + 1 < len(toks):
            out.append(("missing_return", s, toks[i + 1].start(), ""))
        if text in NOT_COMMUTATIVE and 0 < i < len(toks) - 1 and _operand(toks, i - 1) and _operand(toks, i + 1) \
                and (i + 2 >= len(toks) or toks[i + 2].group() not in "([."):
            a, b = toks[i - 1], toks[i + 1]
            out.append(("swapped", a.start(), b.end(), b.group() + program[a.end():b.start()] + a.group()))
        if text == "def" and [x.group() for x in toks[i + 2:i + 7:2]] == ["(", ",", ")"]:
            a, b = toks[i + 3], toks[i + 5]
            out.append(("swapped", a.start(), b.end(), b.group() + program[a.end():b.start()] + a.group()))
    return out


def _operand(toks: list[re.Match], i: int) -> bool:
    return re.fullmatch(r"\w+", toks[i].group()) is not None and toks[i].group() not in KEYWORDS


def mutants(program: str) -> list[Mutation]:
    """Every distinct one-edit bug of `program` (`KINDS`), in program order; formatting is kept (a one-liner stays
    one line). Not yet checked: some may still pass the tests (`mutated_attempts` runs them)."""
    seen, out = {program}, []
    for kind, s, e, new in _edits(program):
        mutated = program[:s] + new + program[e:]
        if mutated not in seen:
            seen.add(mutated)
            out.append(Mutation(kind, mutated, program.count("\n", 0, s) + 1, program[s:e], new))
    return out


def pick_mutants(program: str, n: int, rng: random.Random) -> list[Mutation]:
    """Up to `n` mutants of `program`, spread over kinds: one of each kind in a random order of kinds, then a
    second of each, and so on."""
    by_kind: dict[str, list[Mutation]] = {}
    for m in mutants(program):
        by_kind.setdefault(m.kind, []).append(m)
    for options in by_kind.values():
        rng.shuffle(options)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    out = []
    for rank in range(max((len(v) for v in by_kind.values()), default=0)):
        out += [by_kind[k][rank] for k in kinds if rank < len(by_kind[k])]
    return out[:n]


# ----------------------------------------------------------------------------------------------------
# Where the wrong code differs from the right one: the explanation proxy and the scripted explanation


def changed_fragments(wrong: str, right: str) -> list[tuple[int, str, str]]:
    """(line in `wrong`, wrong fragment, right fragment) of each token-level change from `wrong` to `right`
    (difflib over `TOKEN`s), each widened by one token on each side within its line, e.g. (1, "x - 5", "x + 5")."""
    a, b = list(TOKEN.finditer(wrong)), list(TOKEN.finditer(right))
    matcher = difflib.SequenceMatcher(None, [t.group() for t in a], [t.group() for t in b], autojunk=False)
    out = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            w, r = _widened(wrong, a, i1, i2), _widened(right, b, j1, j2)
            out.append((wrong.count("\n", 0, a[min(i1, len(a) - 1)].start()) + 1 if a else 1, w, r))
    return out


def _widened(source: str, toks: list[re.Match], i1: int, i2: int) -> str:
    """source text of toks[i1:i2] plus one neighbour on each side that is on the same line."""
    line = source.count("\n", 0, toks[i1].start() if i1 < len(toks) else len(source))
    same = [k for k in (i1 - 1, i2) if 0 <= k < len(toks) and source.count("\n", 0, toks[k].start()) == line]
    span = [*range(i1, i2), *same]
    return source[toks[min(span)].start():toks[max(span)].end()] if span else ""


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def explanation_checks(explanation: str, wrong: str, gold: str, call: str | None) -> dict[str, bool]:
    """The explanation proxy's checks (the `sftkit.methods.selfdebug` docstring): "bug" (quotes a wrong fragment of
    `changed_fragments`), "fix" (quotes the matching gold fragment), "test" (names the failing `call`; absent when
    there is none). Whitespace is ignored."""
    text = _squeeze(explanation)
    pairs = [(_squeeze(w), _squeeze(r)) for _, w, r in changed_fragments(wrong, gold)]
    checks = {"bug": any(w and w in text for w, _ in pairs), "fix": any(r and r in text for _, r in pairs)}
    if call:
        checks["test"] = _squeeze(call) in text
    return checks


def explain(wrong: str, fixed: str, call: str | None) -> str:
    """The scripted teacher's explanation of a change: where the wrong code differs from `fixed` (at most two
    fragments) and the failing call that shows it, e.g. "Line 1 has `x - 5` where it needs `x + 5`, so f(0) fails."."""
    parts = [f"line {n} has `{w}` where it needs `{r}`" for n, w, r in changed_fragments(wrong, fixed)[:2]]
    where = "; ".join(parts) if parts else "the code does not do what the task asks"
    return f"{where[0].upper()}{where[1:]}" + (f", so {call} fails." if call else ".")
