"""Realistic wrong answers and preference pairs built from them (each skill owns its mistakes: `Skill.mistakes`)."""
from __future__ import annotations

import random

from .skills import LAND, SKILLS, check

# Generic non-answers: what a lazy writer (the 'shirker' of Instruct-SkillMix) replies to any question.
LAZY_ANSWERS = ("I am not sure.", "I cannot help with that.", "It depends.", "Sorry, I do not know.")


def corrupt(record: dict, rng: random.Random) -> str:
    """A realistic wrong answer to a tiny-world record: the kind of mistake a small model makes (an
    unreversed word, an off-by-one count, a neighbour's fact, a flipped label, a wrong operator...)."""
    answer = record["answer"]
    options = SKILLS[record["skill"]].mistakes(record["meta"], answer, rng)
    options = [o for o in options if not check(record, o)] or [answer + answer]
    return rng.choice(options)


def _neighbour_fact(m: dict) -> str:
    """The same attribute of the nearest town before `m`'s (in LAND's order, cyclic) whose value differs."""
    towns = list(LAND)
    gold = LAND[m["town"]][m["attribute"]]
    i = towns.index(m["town"])
    return next(LAND[t][m["attribute"]] for t in towns[i - 1::-1] + towns[:i:-1] if LAND[t][m["attribute"]] != gold)


def _other_op(expr: str) -> str:
    op = next(o for o in ("+", "-", "*") if f" {o} " in expr)
    return expr.replace(f" {op} ", f" {'+-*'[('+-*'.index(op) + 1) % 3]} ", 1)


# One wrong rule per skill, applied the same way to every input: what a weaker writer that has learnt the
# skill wrong writes (the unreversed word, only the first letter capitalized, one letter too many, no dashes,
# the two numbers written side by side for their sum, descending order, the smallest digit, a neighbouring town's fact, the flipped
# label, the next operator).
RULES = {
    "reverse": lambda m: m["word"],
    "uppercase": lambda m: m["word"].capitalize(),
    "length": lambda m: str(len(m["word"]) + 1),
    "spell": lambda m: m["word"],
    "add": lambda m: f"{m['a']}{m['b']}",
    "sort": lambda m: " ".join(map(str, sorted(m["numbers"], reverse=True))),
    "max": lambda m: str(min(m["numbers"])),
    "facts": _neighbour_fact,
    "sentiment": lambda m: "negative" if m["label"] == "positive" else "positive",
    "code": lambda m: f"def f(x): return {_other_op(m['expr'])}",
}


def consistent_mistake(record: dict, rng: random.Random | None = None) -> str:
    """The answer of a writer that applies its skill's wrong rule (`RULES`) to every input: unlike `corrupt`,
    the same mistake for the same kind of input, so imitating this writer teaches one wrong rule. When the
    rule happens to give the gold answer (a one-letter word in capitals, a list whose digits are all equal),
    the gold answer doubled, as `corrupt` does. `rng` is unused (the writers' common signature)."""
    wrong = RULES[record["skill"]](record["meta"])
    return wrong if not check(record, wrong) else record["answer"] + record["answer"]


def lazy_answer(record: dict, rng: random.Random) -> str:
    """A generic non-answer (the 'shirker' of Instruct-SkillMix): it answers no question in particular."""
    return rng.choice(LAZY_ANSWERS)


def world_pairs(records: list[dict], samples: list[list[str]] | None = None, corruptions: int = 1,
                max_sampled: int = 2, seed: int = 0) -> list[dict]:
    """Preference pairs from tiny-world records: chosen = the gold answer, rejected = up to `max_sampled`
    distinct wrong `samples` of a model (judged by the gold checker) and `corruptions` corrupted answers.

    Each pair is a conversational preference record plus "id", "skill" and "source" ("sample" or
    "corruption"). The prompt is the record's conversation before its answer.
    """
    rng = random.Random(seed)
    pairs = []
    for i, r in enumerate(records):
        wrong = [s for s in dict.fromkeys((samples or [[]] * len(records))[i])
                 if s.strip() and not check(r, s)][:max_sampled]
        made = [(s, "sample") for s in wrong] + [(corrupt(r, rng), "corruption") for _ in range(corruptions)]
        for rejected, source in dict(made).items():
            pairs.append({"id": r["id"], "skill": r["skill"], "source": source, "prompt": r["messages"][:-1],
                          "chosen": [{"role": "assistant", "content": r["answer"]}],
                          "rejected": [{"role": "assistant", "content": rejected}]})
    return pairs


def onpolicy_pairs(records: list[dict], samples: list[list[str]]) -> list[dict]:
    """One preference pair per record whose `samples` (a model's own answers, a list per record) include a wrong
    one, judged by the gold checker: rejected = the first distinct wrong sample; chosen = the first right sample
    (source "on-policy": both sides are the model's own) or, when no sample is right, the gold answer (source
    "gold-chosen"). Records whose samples are all right, or all empty, give no pair. The pairs of RPO's setting:
    what the start model itself is tempted to say, labelled by the checker (notebook 05)."""
    if len(samples) != len(records):
        raise ValueError(f"onpolicy_pairs: {len(records)} records but {len(samples)} lists of samples")
    pairs = []
    for record, answers in zip(records, samples):
        distinct = [s for s in dict.fromkeys(answers) if s.strip()]
        right = [s for s in distinct if check(record, s)]
        wrong = [s for s in distinct if not check(record, s)]
        if wrong:
            pairs.append({"id": record["id"], "skill": record["skill"],
                          "source": "on-policy" if right else "gold-chosen", "prompt": record["messages"][:-1],
                          "chosen": [{"role": "assistant", "content": right[0] if right else record["answer"]}],
                          "rejected": [{"role": "assistant", "content": wrong[0]}]})
    return pairs
