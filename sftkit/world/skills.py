"""The tiny world: skills with exact, programmatic answers, a fictional land, and a prose corpus.

Everything is generated from a seed, so `sftkit data` rebuilds `data/world/*.jsonl` byte for byte.

A record is a Hugging Face conversational example plus what the checker needs::

    {"id": "test-reverse-0003", "skill": "reverse", "split": "test",
     "messages": [{"role": "user", "content": "Reverse the word kofa."},
                  {"role": "assistant", "content": "afok"}],
     "answer": "afok", "meta": {"word": "kofa"}}

Splits: ``train`` / ``dev`` / ``test`` share the input distribution but not the inputs (held-out words,
number pairs, lists, facts and sentences). Four *shift* splits each move one thing away from it, so
that a method's generalisation can be read one shift at a time (`SHIFTS`):

- ``wording``: an instruction phrasing never used in training (every skill; the inputs are in-distribution);
- ``longer``: 7-8 letter words and 6-7 digit lists (training has 3-6 letters and 3-5 digits);
- ``larger``: sums of two numbers from 20-49 (training adds 0-19) and code constants 100-999 (1-99);
- ``composed``: negated sentences ("the soup was not awful") and two-operation code ("(x + 3) * 2").

The base model read statements about longer, larger and composed inputs in its pretraining prose (never
the evaluation inputs themselves); SFT data never shows them. So a shift asks whether fine-tuning on
narrow instructions carries over to what the base model already knew, which is the question SFT
methods claim to answer differently.
"""
from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

SHIFTS = {
    "wording": "an unseen instruction phrasing (every skill)",
    "longer": "7-8 letter words, 6-7 digit lists (train: 3-6 letters, 3-5 digits)",
    "larger": "sums of numbers 20-49 (train: 0-19), code constants 100-999 (train: 1-99)",
    "composed": "negated sentences, two-operation code (train: neither)",
}
SPLITS = ("train", "dev", "test", *SHIFTS)
EVAL_SPLITS = ("test", *SHIFTS)
SEED = 1234
LETTERS = string.ascii_lowercase

# ----------------------------------------------------------------------------------------------------
# The fictional land of Veloria: towns with three attributes each.
ANIMALS = ["owl", "fox", "bear", "crow", "deer", "wolf", "hare", "seal", "lynx", "toad", "moth", "swan"]
COLOURS = ["red", "blue", "green", "gold", "grey", "pink", "black", "white", "amber", "violet"]
RULERS = ["Ada", "Bram", "Cora", "Dov", "Esk", "Fen", "Gia", "Hal", "Ivo", "Juno", "Kel", "Lir"]
ATTRIBUTES = ("animal", "colour", "ruler")
N_TOWNS = 40

POSITIVE = ["lovely", "great", "superb", "tasty", "bright", "kind", "calm", "fun", "warm", "neat"]
NEGATIVE = ["awful", "bad", "dull", "rude", "cold", "grim", "stale", "noisy", "ugly", "sad"]
NOUNS = ["soup", "film", "room", "song", "trip", "book", "game", "town", "cake", "park", "show", "bus",
         "tea", "shop", "class", "boat", "walk", "play", "meal", "view"]


def _syllable_name(rng: random.Random) -> str:
    cons, vows = "bdfgklmnprstvz", "aeiou"
    return "".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.choice([2, 3]))).capitalize()


def make_land(seed: int = SEED) -> dict[str, dict[str, str]]:
    """Town name -> {"animal", "colour", "ruler"}: the facts the base model reads during pretraining."""
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < N_TOWNS:
        name = _syllable_name(rng)
        if name not in names:
            names.append(name)
    return {n: {"animal": rng.choice(ANIMALS), "colour": rng.choice(COLOURS), "ruler": rng.choice(RULERS)}
            for n in names}


LAND = make_land()

# ----------------------------------------------------------------------------------------------------
# Skills. Each skill turns a sampled input into (instruction, answer, meta); `check` compares outputs.


@dataclass(frozen=True)
class Skill:
    """One atomic skill: how to sample its input, phrase it, answer it, describe it in prose, and get it
    wrong the way a small model does (`mistakes`, used for rejected answers and sub-optimal data: a new
    skill cannot be added without them)."""

    name: str
    description: str
    sample: Callable[[random.Random, str], dict]  # (rng, dist) -> meta (the input); dist: see _word_input
    answer: Callable[[dict], str]  # meta -> gold answer
    instruction: Callable[[random.Random, dict, str], str]  # (rng, meta, split) -> user turn
    prose: Callable[[random.Random, dict], str]  # (rng, meta) -> a pretraining sentence
    mistakes: Callable[[dict, str, random.Random], list[str]]  # (meta, answer, rng) -> realistic wrong answers
    shifts: tuple[str, ...] = ()  # the input shifts of `SHIFTS` this skill has (every skill has `wording`)


def _word(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(lo, hi)))


# Input samplers take `dist`: "train" (the train/dev/test/wording inputs), a shift name ("longer", "larger",
# "composed"), or "pretrain" (the prose corpus: the train inputs and every input shift, mixed).
PRETRAIN_SHIFT_SHARE = 0.4  # share of prose sentences drawn from a skill's input shift, when it has one


def _shifted(rng, dist: str, shift: str) -> bool:
    return dist == shift or (dist == "pretrain" and rng.random() < PRETRAIN_SHIFT_SHARE)


def _word_input(rng, dist):
    return {"word": _word(rng, 7, 8) if _shifted(rng, dist, "longer") else _word(rng, 3, 6)}


def _digits(rng, dist):
    n = rng.randint(6, 7) if _shifted(rng, dist, "longer") else rng.randint(3, 5)
    return {"numbers": [rng.randint(0, 9) for _ in range(n)]}


def _add_input(rng, dist):
    lo, hi = (20, 49) if _shifted(rng, dist, "larger") else (0, 19)
    return {"a": rng.randint(lo, hi), "b": rng.randint(lo, hi)}


def _nums(meta) -> str:
    return " ".join(map(str, meta["numbers"]))


def _pick(rng, options, split, unseen):
    """Choose a phrasing: every split shares `options` except `wording`, which uses the `unseen` ones."""
    return rng.choice(unseen if split == "wording" else options)


def _fact_input(rng, dist):
    town = rng.choice(list(LAND))
    attr = rng.choice(ATTRIBUTES)
    return {"town": town, "attribute": attr}


def _sentence_input(rng, dist):
    label = rng.choice(["positive", "negative"])
    words = POSITIVE if label == "positive" else NEGATIVE
    noun, adj = rng.choice(NOUNS), rng.choice(words)
    if _shifted(rng, dist, "composed"):  # negation flips the label
        flip = NEGATIVE if label == "positive" else POSITIVE
        return {"sentence": f"the {noun} was not {rng.choice(flip)}", "label": label}
    return {"sentence": f"the {noun} was {adj}", "label": label}


def _code_input(rng, dist):
    op = rng.choice(["+", "-", "*"])
    k = rng.randint(100, 999) if _shifted(rng, dist, "larger") else rng.randint(1, 99)
    if _shifted(rng, dist, "composed"):  # two operations
        op2, k2 = rng.choice(["+", "-", "*"]), rng.randint(2, 9)
        expr = f"(x {op} {k}) {op2} {k2}"
    else:
        expr = f"x {op} {k}"
    return {"expr": expr, "tests": [[x, eval(expr, {"x": x})] for x in (0, 1, 5)]}


def _expr_words(expr: str) -> str:
    for op, word in OP_WORDS.items():
        expr = expr.replace(f" {op} ", f" {word} ")
    return expr


def _swap(seq, rng: random.Random):
    """Swap two neighbouring items of a string or list (doubled when too short to swap)."""
    if len(seq) < 2:
        return seq + seq
    i = rng.randrange(len(seq) - 1)
    return seq[:i] + seq[i + 1:i + 2] + seq[i:i + 1] + seq[i + 2:]


def _near(n: int, rng: random.Random) -> str:
    return str(n + rng.choice([-10, -1, 1, 1, 10]))


def _code_mistakes(m: dict, answer: str, rng: random.Random) -> list[str]:
    op = next(o for o in ("+", "-", "*") if f" {o} " in m["expr"])
    return [answer.replace(f" {op} ", f" {o} ", 1) for o in "+-*" if o != op] + [answer + " + 1", m["expr"]]


OP_WORDS = {"+": "plus", "-": "minus", "*": "times"}

SKILLS: dict[str, Skill] = {s.name: s for s in [
    Skill("reverse", "write a word backwards", _word_input, lambda m: m["word"][::-1],
          lambda r, m, s: _pick(r, ["Reverse the word {w}.", "Write {w} backwards."], s,
                                ["Give me {w} in reverse order."]).format(w=m["word"]),
          lambda r, m: r.choice(["{w} backwards is {a}.", "Reversed, {w} reads {a}."]).format(
              w=m["word"], a=m["word"][::-1]),
          lambda m, a, r: [m["word"], _swap(a, r), a[:-1]], ("longer",)),
    Skill("uppercase", "write a word in capital letters", _word_input, lambda m: m["word"].upper(),
          lambda r, m, s: _pick(r, ["Write {w} in capital letters.", "Uppercase: {w}"], s,
                                ["Shout the word {w}."]).format(w=m["word"]),
          lambda r, m: r.choice(["In capitals, {w} is {a}.", "{w} loudly is {a}."]).format(
              w=m["word"], a=m["word"].upper()),
          lambda m, a, r: [m["word"], _swap(a, r), a[:-1], a.capitalize()], ("longer",)),
    Skill("length", "count the letters of a word", _word_input, lambda m: str(len(m["word"])),
          lambda r, m, s: _pick(r, ["How many letters does {w} have?", "Length of {w}?"], s,
                                ["Count the letters in {w}."]).format(w=m["word"]),
          lambda r, m: r.choice(["The word {w} has {a} letters.", "{w} is {a} letters long."]).format(
              w=m["word"], a=len(m["word"])),
          lambda m, a, r: [_near(int(a), r)], ("longer",)),
    Skill("spell", "spell a word with dashes", _word_input, lambda m: "-".join(m["word"]),
          lambda r, m, s: _pick(r, ["Spell {w} with dashes.", "Spell out {w}."], s,
                                ["Put dashes between the letters of {w}."]).format(w=m["word"]),
          lambda r, m: r.choice(["{w} is spelled {a}.", "Letter by letter, {w} is {a}."]).format(
              w=m["word"], a="-".join(m["word"])),
          lambda m, a, r: [m["word"], "-".join(_swap(m["word"], r)), a[:-2]], ("longer",)),
    Skill("add", "add two numbers", _add_input,
          lambda m: str(m["a"] + m["b"]),
          lambda r, m, s: _pick(r, ["What is {a} + {b}?", "Add {a} and {b}."], s,
                                ["Compute the sum of {a} and {b}."]).format(**m),
          lambda r, m: r.choice(["{a} plus {b} is {s}.", "Adding {a} and {b} gives {s}."]).format(
              s=m["a"] + m["b"], **m),
          lambda m, a, r: [_near(int(a), r), str(abs(m["a"] - m["b"]))], ("larger",)),
    Skill("sort", "sort a list of digits", _digits, lambda m: " ".join(map(str, sorted(m["numbers"]))),
          lambda r, m, s: _pick(r, ["Sort these numbers: {l}", "Put in order: {l}"], s,
                                ["Arrange from smallest to largest: {l}"]).format(l=_nums(m)),
          lambda r, m: r.choice(["In order, {l} becomes {a}.", "Sorted, {l} is {a}."]).format(
              l=_nums(m), a=" ".join(map(str, sorted(m["numbers"])))),
          lambda m, a, r: [" ".join(map(str, m["numbers"])), " ".join(a.split()[::-1]),
                            " ".join(_swap(a.split(), r))], ("longer",)),
    Skill("max", "find the largest digit of a list", _digits, lambda m: str(max(m["numbers"])),
          lambda r, m, s: _pick(r, ["Which is the largest: {l}?", "Max of {l}?"], s,
                                ["Tell me the biggest number in {l}."]).format(l=_nums(m)),
          lambda r, m: r.choice(["The largest of {l} is {a}.", "Of {l}, {a} is the biggest."]).format(
              l=_nums(m), a=max(m["numbers"])),
          lambda m, a, r: [str(min(m["numbers"])), str(sorted(m["numbers"])[-2]), _near(int(a), r)], ("longer",)),
    Skill("facts", "answer a question about a town of Veloria", _fact_input,
          lambda m: LAND[m["town"]][m["attribute"]],
          lambda r, m, s: _pick(r, ["What is the {attribute} of {town}?", "{town}: which {attribute}?"], s,
                                ["Tell me the {attribute} that belongs to {town}."]).format(**m),
          lambda r, m: r.choice(["The {attribute} of {town} is {a}.", "{town} has the {attribute} {a}."])
          .format(a=LAND[m["town"]][m["attribute"]], **m),
          lambda m, a, r: [LAND[t][m["attribute"]] for t in LAND if LAND[t][m["attribute"]] != a]),
    Skill("sentiment", "label a sentence positive or negative", _sentence_input, lambda m: m["label"],
          lambda r, m, s: _pick(r, ["Is this positive or negative? {x}", "Label the sentence: {x}"], s,
                                ["Positive or negative: {x}"]).format(x=m["sentence"]),
          lambda r, m: r.choice(["'{x}' is a {a} sentence.", "The mood of '{x}' is {a}."]).format(
              x=m["sentence"], a=m["label"]),
          lambda m, a, r: ["negative" if a == "positive" else "positive"], ("composed",)),
    Skill("code", "write a one-line Python function", _code_input,
          lambda m: f"def f(x): return {m['expr']}",
          lambda r, m, s: _pick(r, ["Write a Python function f(x) that returns {w}.",
                                    "Python: f(x) gives {w}."], s,
                                ["Define f in Python so that f(x) is {w}."]).format(w=_expr_words(m["expr"])),
          lambda r, m: r.choice(["A function for {w}: def f(x): return {e}",
                                 "To get {w} in Python write def f(x): return {e}"]).format(
              w=_expr_words(m["expr"]), e=m["expr"]),
          _code_mistakes, ("larger", "composed")),
]}


def _key(skill: str, meta: dict) -> str:
    """What must not be shared across splits: the input itself, ignoring phrasing. Words and digit lists
    are keyed without the skill, so an evaluation word appears in no training example and no prose."""
    if "word" in meta:
        return f"word:{meta['word']}"
    if "numbers" in meta:
        return f"numbers:{meta['numbers']}"
    return skill + ":" + repr(sorted((k, v) for k, v in meta.items() if k != "tests"))


def normalize(text: str) -> str:
    """Strip whitespace and collapse inner runs of spaces: the only leniency of the checkers."""
    return " ".join(text.strip().split())


def check(record: dict, prediction: str) -> bool:
    """Exact match of a model's answer against the record's gold answer (after `normalize`)."""
    if record["skill"] not in SKILLS:
        raise KeyError(f"unknown skill {record['skill']!r}; known: {', '.join(SKILLS)}")
    return normalize(prediction) == normalize(record["answer"])


def make_record(skill: str, meta: dict, split: str, index: int, rng: random.Random) -> dict:
    s = SKILLS[skill]
    answer = s.answer(meta)
    return {"id": f"{split}-{skill}-{index:04d}", "skill": skill, "split": split,
            "messages": [{"role": "user", "content": s.instruction(rng, meta, split)},
                         {"role": "assistant", "content": answer}],
            "answer": answer, "meta": meta}


def compose(first: str, second: str, word: str) -> dict:
    """Two string skills in one instruction, e.g. reverse then uppercase (for skill-mixing notebooks)."""
    a, b = SKILLS[first], SKILLS[second]
    out = b.answer({"word": a.answer({"word": word})})
    text = f"{a.description.capitalize()}, then {b.description}: {word}"
    return {"id": f"compose-{first}-{second}-{word}", "skill": f"{first}+{second}", "split": "compose",
            "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": out}],
            "answer": out, "meta": {"word": word, "skills": [first, second]}}
