"""Realistic wrong answers and preference pairs built from them (each skill owns its mistakes: `Skill.mistakes`)."""
from __future__ import annotations

import random

from .skills import SKILLS, check

# Generic non-answers: what a lazy writer (the 'shirker' of Instruct-SkillMix) replies to any question.
LAZY_ANSWERS = ("I am not sure.", "I cannot help with that.", "It depends.", "Sorry, I do not know.")


def corrupt(record: dict, rng: random.Random) -> str:
    """A realistic wrong answer to a tiny-world record: the kind of mistake a small model makes (an
    unreversed word, an off-by-one count, a neighbour's fact, a flipped label, a wrong operator...)."""
    answer = record["answer"]
    options = SKILLS[record["skill"]].mistakes(record["meta"], answer, rng)
    options = [o for o in options if not check(record, o)] or [answer + answer]
    return rng.choice(options)


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
