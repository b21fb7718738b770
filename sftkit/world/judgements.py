"""Language-understanding tasks in the tiny world, asked in a fixed answer format (notebook 07, PPO).

Hu et al. ("Improving the Language Understanding Capabilities of Large Language Models Using Reinforcement
Learning"; code coder-qicao/RL4GLUE) prompt a chat model with a GLUE task and a required answer format, then
read a label out of the reply: +1 when it is right, -1 when it is wrong, -3 when no label can be read.
Two tasks here, one on a single sentence and one on a pair, like SST-2 and MRPC/RTE:

- ``sentiment``: "Is this sentence positive? the film was dull. Answer yes or no." (the world's labelled
  sentences; the ``composed`` shift asks about negated ones, whose label flips);
- ``compare``: "Is 47 larger than 52? Answer yes or no." (two different numbers of 10-99; the ``larger``
  shift uses 100-999). Its ``wide`` split holds 1,000 more questions drawn like ``test``: sentiment's test is
  at the ceiling after SFT, so compare carries every difference between methods, and its 100 test questions
  are too few for a small minimum detectable effect.

Each record is conversational ({"messages": [user, assistant]}) with "task", "split", "answer" (the gold
label) and "labels" (what the format allows). Labels are balanced per task and split. The records carry no
"skill": they are not the world's skills and are scored by `judgement_reward`, not `check`.
"""
from __future__ import annotations

import random
import re

from .skills import NEGATIVE, NOUNS, POSITIVE, SEED

LABELS = ("yes", "no")
# The paper's reward for a readable right label, a readable wrong one, and a reply with no readable label.
REWARD = {"correct": 1.0, "wrong": -1.0, "unparsable": -3.0}
TASKS = {
    "sentiment": "is a sentence positive? (single sentence, like SST-2)",
    "compare": "is one number larger than another? (a pair, like MRPC / RTE)",
}
# Records per task and split; `shift` is `composed` for sentiment and `larger` for compare.
SIZES = {"train": 400, "dev": 60, "test": 100, "shift": 100}
SHIFT_OF = {"sentiment": "composed", "compare": "larger"}
# Extra evaluation splits of one task, drawn like its test split after every other split (so those are unchanged).
WIDE = {"compare": 1000}
FORMAT = "Answer yes or no."


def _sentiment(rng: random.Random, label: str, negated: bool) -> str:
    """A sentence whose answer to 'is it positive?' is `label` (yes / no)."""
    positive = label == "yes"
    if negated:  # "not awful" is positive
        adjective = rng.choice(NEGATIVE if positive else POSITIVE)
        return f"the {rng.choice(NOUNS)} was not {adjective}"
    return f"the {rng.choice(NOUNS)} was {rng.choice(POSITIVE if positive else NEGATIVE)}"


def _compare(rng: random.Random, label: str, larger: bool) -> tuple[int, int]:
    lo, hi = (100, 999) if larger else (10, 99)
    a, b = rng.sample(range(lo, hi + 1), 2)
    return (max(a, b), min(a, b)) if label == "yes" else (min(a, b), max(a, b))


def prompt_text(task: str, meta: dict) -> str:
    if task == "sentiment":
        return f"Is this sentence positive? {meta['sentence']}. {FORMAT}"
    return f"Is {meta['a']} larger than {meta['b']}? {FORMAT}"


def make_task(task: str, seed: int = SEED, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Every split of `task`: train, dev, test and shift (named by its shift, e.g. "composed"), and "wide" for the
    tasks in `WIDE`. Inputs are distinct within and across splits (train never holds an evaluation input)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    sizes = sizes or SIZES
    rng = random.Random(f"{seed}-{task}")
    held_out: set[str] = set()  # evaluation prompts: distinct, and never in train (train may repeat)
    out = {}
    wide = ("wide",) if task in WIDE else ()
    for split in ("test", "shift", "dev", "train", *wide):  # evaluation inputs first; wide last, drawn after train
        name = SHIFT_OF[task] if split == "shift" else split
        size = sizes.get("wide", WIDE[task]) if split == "wide" else sizes[split]
        if split == "wide":
            held_out |= {r["messages"][0]["content"] for r in out["train"]}
        records: list[dict] = []
        while len(records) < size:
            label = LABELS[len(records) % 2]
            if task == "sentiment":
                meta = {"sentence": _sentiment(rng, label, negated=split == "shift")}
            else:
                a, b = _compare(rng, label, larger=split == "shift")
                meta = {"a": a, "b": b}
            text = prompt_text(task, meta)
            if text in held_out:
                continue
            if split != "train":
                held_out.add(text)
            records.append({"id": f"{task}-{name}-{len(records):04d}", "task": task, "split": name,
                            "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": label}],
                            "answer": label, "labels": list(LABELS), "meta": meta})
        out[name] = records
    return out


def task_records(split: str, tasks: tuple[str, ...] = tuple(TASKS), seed: int = SEED) -> list[dict]:
    """One split of several tasks: "train", "dev", "test", "shift" (each task's own shift) or "wide" (the tasks
    in `WIDE` only)."""
    out = []
    for task in tasks:
        splits = make_task(task, seed)
        out += splits.get(SHIFT_OF[task] if split == "shift" else split, [])
    return out


WORD = re.compile(r"[A-Za-z]+")


def parse_judgement(text: str, labels=LABELS) -> str | None:
    """The one label a reply states, or None when it cannot be read.

    RL4GLUE's rule, written out: the reply is read word by word (letters only, so "yes." and "yes," count);
    exactly one distinct label must occur, spelled as the format asks (case-sensitive: "Yes" is not "yes",
    as the official code's `"Yes" in x` is case-sensitive). Empty replies, replies with no label, and replies
    with two different labels ("yes no") are unreadable. Extra words around one label are allowed ("yes, it
    is"), as in the official code.
    """
    found = {w for w in WORD.findall(text) if w in labels}
    return found.pop() if len(found) == 1 else None


def judgement_reward(record: dict, text: str) -> float:
    """+1 right, -1 wrong, -3 unreadable (`REWARD`, the paper's values)."""
    label = parse_judgement(text, record.get("labels", LABELS))
    if label is None:
        return REWARD["unparsable"]
    return REWARD["correct"] if label == record["answer"] else REWARD["wrong"]


def with_examples(record: dict, examples: list[dict]) -> dict:
    """`record` with in-context examples in front, as earlier user/assistant turns (few-shot prompting)."""
    shots = [m for e in examples for m in e["messages"]]
    return {**record, "messages": shots + record["messages"]}


def few_shot_examples(train: list[dict], task: str, k: int = 4, seed: int = 0) -> list[dict]:
    """`k` train examples of `task`, labels alternating (half yes, half no), in a seeded order."""
    rng = random.Random(seed)
    by_label = {label: [r for r in train if r["task"] == task and r["answer"] == label] for label in LABELS}
    picks = [rng.choice(by_label[LABELS[i % 2]]) for i in range(k)]
    rng.shuffle(picks)
    return picks
