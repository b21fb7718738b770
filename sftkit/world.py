"""The tiny world: skills with exact, programmatic answers, a fictional land, and a prose corpus.

Everything is generated from a seed, so `sftkit data` rebuilds `data/world/*.jsonl` byte for byte.

A record is a Hugging Face conversational example plus what the checker needs::

    {"id": "test-reverse-0003", "skill": "reverse", "split": "test",
     "messages": [{"role": "user", "content": "Reverse the word kofa."},
                  {"role": "assistant", "content": "afok"}],
     "answer": "afok", "meta": {"word": "kofa"}}

Splits: ``train`` / ``dev`` / ``test`` share the input distribution but not the inputs (held-out words,
number pairs, lists, facts and sentences); ``hard`` shifts it (longer words, larger numbers, longer lists,
unseen question wording, negated sentences, larger constants), so a plain SFT model stays below its
in-distribution score there.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Callable

SPLITS = ("train", "dev", "test", "hard")
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
    """One atomic skill: how to sample its input, phrase it, answer it and describe it in prose."""

    name: str
    description: str
    sample: Callable[[random.Random, str], dict]  # (rng, split) -> meta (the input)
    answer: Callable[[dict], str]  # meta -> gold answer
    instruction: Callable[[random.Random, dict, str], str]  # (rng, meta, split) -> user turn
    prose: Callable[[random.Random, dict], str]  # (rng, meta) -> a pretraining sentence


def _word(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(lo, hi)))


def _word_input(rng, split):
    return {"word": _word(rng, 7, 10) if split == "hard" else _word(rng, 3, 6)}


def _digits(rng, split):
    n = rng.randint(6, 8) if split == "hard" else rng.randint(3, 5)
    return {"numbers": [rng.randint(0, 9) for _ in range(n)]}


def _nums(meta) -> str:
    return " ".join(map(str, meta["numbers"]))


def _pick(rng, options, split, hard_options=None):
    """Choose a phrasing: train/dev/test share `options`; the hard split uses unseen `hard_options`."""
    return rng.choice(hard_options if (split == "hard" and hard_options) else options)


def _fact_input(rng, split):
    town = rng.choice(list(LAND))
    attr = rng.choice(ATTRIBUTES)
    return {"town": town, "attribute": attr}


def _sentence_input(rng, split):
    label = rng.choice(["positive", "negative"])
    words = POSITIVE if label == "positive" else NEGATIVE
    noun, adj = rng.choice(NOUNS), rng.choice(words)
    if split == "hard":  # negation flips the label: the corpus never shows it
        flip = NEGATIVE if label == "positive" else POSITIVE
        return {"sentence": f"the {noun} was not {rng.choice(flip)}", "label": label}
    return {"sentence": f"the {noun} was {adj}", "label": label}


def _code_input(rng, split):
    op = rng.choice(["+", "-", "*"])
    k = rng.randint(1, 99)
    if split == "hard":  # two operations: a structure the corpus never shows
        op2, k2 = rng.choice(["+", "-", "*"]), rng.randint(2, 9)
        expr = f"(x {op} {k}) {op2} {k2}"
    else:
        expr = f"x {op} {k}"
    return {"expr": expr, "tests": [[x, eval(expr, {"x": x})] for x in (0, 1, 5)]}


def _expr_words(expr: str) -> str:
    for op, word in OP_WORDS.items():
        expr = expr.replace(f" {op} ", f" {word} ")
    return expr


OP_WORDS = {"+": "plus", "-": "minus", "*": "times"}

SKILLS: dict[str, Skill] = {s.name: s for s in [
    Skill("reverse", "write a word backwards", _word_input, lambda m: m["word"][::-1],
          lambda r, m, s: _pick(r, ["Reverse the word {w}.", "Write {w} backwards."], s,
                                ["Give me {w} in reverse order."]).format(w=m["word"]),
          lambda r, m: r.choice(["{w} backwards is {a}.", "Reversed, {w} reads {a}."]).format(
              w=m["word"], a=m["word"][::-1])),
    Skill("uppercase", "write a word in capital letters", _word_input, lambda m: m["word"].upper(),
          lambda r, m, s: _pick(r, ["Write {w} in capital letters.", "Uppercase: {w}"], s,
                                ["Shout the word {w}."]).format(w=m["word"]),
          lambda r, m: r.choice(["In capitals, {w} is {a}.", "{w} loudly is {a}."]).format(
              w=m["word"], a=m["word"].upper())),
    Skill("length", "count the letters of a word", _word_input, lambda m: str(len(m["word"])),
          lambda r, m, s: _pick(r, ["How many letters does {w} have?", "Length of {w}?"], s,
                                ["Count the letters in {w}."]).format(w=m["word"]),
          lambda r, m: r.choice(["The word {w} has {a} letters.", "{w} is {a} letters long."]).format(
              w=m["word"], a=len(m["word"]))),
    Skill("spell", "spell a word with dashes", _word_input, lambda m: "-".join(m["word"]),
          lambda r, m, s: _pick(r, ["Spell {w} with dashes.", "Spell out {w}."], s,
                                ["Put dashes between the letters of {w}."]).format(w=m["word"]),
          lambda r, m: r.choice(["{w} is spelled {a}.", "Letter by letter, {w} is {a}."]).format(
              w=m["word"], a="-".join(m["word"]))),
    Skill("add", "add two numbers",
          lambda r, s: {"a": r.randint(20, 99), "b": r.randint(20, 99)} if s == "hard"
          else {"a": r.randint(0, 19), "b": r.randint(0, 19)},
          lambda m: str(m["a"] + m["b"]),
          lambda r, m, s: _pick(r, ["What is {a} + {b}?", "Add {a} and {b}."], s,
                                ["Compute the sum of {a} and {b}."]).format(**m),
          lambda r, m: r.choice(["{a} plus {b} is {s}.", "Adding {a} and {b} gives {s}."]).format(
              s=m["a"] + m["b"], **m)),
    Skill("sort", "sort a list of digits", _digits, lambda m: " ".join(map(str, sorted(m["numbers"]))),
          lambda r, m, s: _pick(r, ["Sort these numbers: {l}", "Put in order: {l}"], s,
                                ["Arrange from smallest to largest: {l}"]).format(l=_nums(m)),
          lambda r, m: r.choice(["In order, {l} becomes {a}.", "Sorted, {l} is {a}."]).format(
              l=_nums(m), a=" ".join(map(str, sorted(m["numbers"]))))),
    Skill("max", "find the largest digit of a list", _digits, lambda m: str(max(m["numbers"])),
          lambda r, m, s: _pick(r, ["Which is the largest: {l}?", "Max of {l}?"], s,
                                ["Tell me the biggest number in {l}."]).format(l=_nums(m)),
          lambda r, m: r.choice(["The largest of {l} is {a}.", "Of {l}, {a} is the biggest."]).format(
              l=_nums(m), a=max(m["numbers"]))),
    Skill("facts", "answer a question about a town of Veloria", _fact_input,
          lambda m: LAND[m["town"]][m["attribute"]],
          lambda r, m, s: _pick(r, ["What is the {attribute} of {town}?", "{town}: which {attribute}?"], s,
                                ["Tell me the {attribute} that belongs to {town}."]).format(**m),
          lambda r, m: r.choice(["The {attribute} of {town} is {a}.", "{town} has the {attribute} {a}."])
          .format(a=LAND[m["town"]][m["attribute"]], **m)),
    Skill("sentiment", "label a sentence positive or negative", _sentence_input, lambda m: m["label"],
          lambda r, m, s: _pick(r, ["Is this positive or negative? {x}", "Label the sentence: {x}"], s,
                                ["Positive or negative: {x}"]).format(x=m["sentence"]),
          lambda r, m: r.choice(["'{x}' is a {a} sentence.", "The mood of '{x}' is {a}."]).format(
              x=m["sentence"], a=m["label"])),
    Skill("code", "write a one-line Python function", _code_input,
          lambda m: f"def f(x): return {m['expr']}",
          lambda r, m, s: _pick(r, ["Write a Python function f(x) that returns {w}.",
                                    "Python: f(x) gives {w}."], s,
                                ["Define f in Python so that f(x) is {w}."]).format(w=_expr_words(m["expr"])),
          lambda r, m: r.choice(["A function for {w}: def f(x): return {e}",
                                 "To get {w} in Python write def f(x): return {e}"]).format(
              w=_expr_words(m["expr"]), e=m["expr"])),
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


SPLIT_SIZES = {"train": 240, "dev": 30, "test": 50, "hard": 50}


def make_splits(seed: int = SEED, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Generate every split. Evaluation inputs are distinct and never appear in train (train may repeat).

    Facts are split by (town, attribute): train asks about some facts, test about others (the base model
    read all of them in pretraining); hard asks the test facts with an unseen wording.
    """
    sizes = sizes or SPLIT_SIZES
    rng = random.Random(seed)
    facts = [(t, a) for t in LAND for a in ATTRIBUTES]
    rng.shuffle(facts)
    fact_pool = {"test": facts[:40], "hard": facts[:40], "dev": facts[40:60], "train": facts[60:]}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    held_out: set[str] = set()
    for split in ("test", "hard", "dev", "train"):  # evaluation inputs first, then excluded from train
        for skill in SKILLS:
            records, tries = [], 0
            while len(records) < sizes[split]:
                tries += 1
                if tries > 200 * sizes[split]:
                    raise RuntimeError(f"could not draw {sizes[split]} {skill} inputs for {split}")
                if skill == "facts":
                    pool = fact_pool[split]
                    if split != "train" and len(records) == len(pool):
                        break  # one question per held-out fact
                    town, attr = pool[len(records)] if split != "train" else rng.choice(pool)
                    meta = {"town": town, "attribute": attr}
                else:
                    meta = SKILLS[skill].sample(rng, split)
                key = _key(skill, meta)
                if key in held_out and not (skill == "facts" and split == "hard"):
                    continue  # (hard asks the test facts again, in an unseen wording)
                if split != "train":
                    held_out.add(key)
                records.append(make_record(skill, meta, split, len(records), rng))
            out[split].extend(records)
    return out


def eval_keys(splits: dict[str, list[dict]]) -> set[str]:
    """Keys of every evaluation input (dev, test, hard): the corpus must not state their answers."""
    return {_key(r["skill"], r["meta"]) for s in ("dev", "test", "hard") for r in splits[s]}


def make_corpus(seed: int = SEED, n_docs: int = 12000, sentences_per_doc: int = 6,
                exclude: set[str] | None = None) -> list[str]:
    """Raw prose about the world (no instruction format): what the base model is pretrained on.

    Every fact of Veloria appears many times; string, list, arithmetic, sentiment and code skills appear
    as statements on freshly drawn inputs in the train distribution (never the evaluation inputs in
    `exclude`), so SFT has to teach the instruction format, not the knowledge.
    """
    rng = random.Random(seed + 1)
    exclude = exclude or set()
    docs = []
    for _ in range(n_docs):
        sents = []
        while len(sents) < sentences_per_doc:
            skill = SKILLS[rng.choice(list(SKILLS))]
            meta = skill.sample(rng, "train")
            if _key(skill.name, meta) in exclude and skill.name != "facts":
                continue
            sents.append(skill.prose(rng, meta))
        docs.append(" ".join(sents))
    return docs


def write_world(directory=None, seed: int = SEED) -> dict[str, int]:
    """Write {train,dev,test,hard}.jsonl, corpus.txt and land.json under `directory` (default data/world)."""
    import json

    from .io import WORLD_DIR, atomic_write_text, write_jsonl

    directory = WORLD_DIR if directory is None else directory
    splits = make_splits(seed)
    counts = {}
    for name, records in splits.items():
        write_jsonl(f"{directory}/{name}.jsonl", records)
        counts[name] = len(records)
    corpus = make_corpus(seed, exclude=eval_keys(splits))
    atomic_write_text(f"{directory}/corpus.txt", "\n".join(corpus) + "\n")
    atomic_write_text(f"{directory}/land.json", json.dumps(make_land(seed), indent=1, sort_keys=True) + "\n")
    counts["corpus_docs"] = len(corpus)
    return counts
