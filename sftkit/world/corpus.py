"""The prose corpus the tiny base model is pretrained on: statements about the world, no instructions."""
from __future__ import annotations

import random

from .skills import SEED, SKILLS, _key


def make_corpus(seed: int = SEED, n_docs: int = 12000, sentences_per_doc: int = 6,
                exclude: set[str] | None = None) -> list[str]:
    """Raw prose about the world (no instruction format): what the base model is pretrained on.

    Every fact of Veloria appears many times; string, list, arithmetic, sentiment and code skills appear
    as statements on freshly drawn inputs (never the evaluation inputs in `exclude`) from the train
    distribution and, for a `PRETRAIN_SHIFT_SHARE` of them, from the skill's input shifts (longer words,
    larger numbers, negations, two-operation code), so SFT has to teach the instruction format, not the
    knowledge, and the shift splits ask whether it carries over to what the base model read.
    """
    rng = random.Random(seed + 1)
    exclude = exclude or set()
    docs = []
    for _ in range(n_docs):
        sents = []
        while len(sents) < sentences_per_doc:
            skill = SKILLS[rng.choice(list(SKILLS))]
            meta = skill.sample(rng, "pretrain")
            if _key(skill.name, meta) in exclude and skill.name != "facts":
                continue
            sents.append(skill.prose(rng, meta))
        docs.append(" ".join(sents))
    return docs
