"""The tiny world's splits and the files `sftkit data` writes (byte for byte from a seed)."""
from __future__ import annotations

import json
import random

from ..io import WORLD_DIR, atomic_write_text, write_jsonl
from .corpus import make_corpus
from .skills import ATTRIBUTES, EVAL_SPLITS, LAND, SEED, SHIFTS, SKILLS, SPLITS, _key, make_land, make_record

# Records per skill. A shift split holds only the skills that have that shift (`Skill.shifts`; every skill
# has `wording`).
SPLIT_SIZES = {"train": 240, "dev": 30, "test": 50, "wording": 25, "longer": 30, "larger": 50, "composed": 50}


def split_skills(split: str) -> list[str]:
    """The skills a split asks about: all of them, except in an input shift (`longer`, `larger`, `composed`)."""
    if split in SHIFTS and split != "wording":
        return [name for name, skill in SKILLS.items() if split in skill.shifts]
    return list(SKILLS)


def make_splits(seed: int = SEED, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Generate every split. Evaluation inputs are distinct and never appear in train (train may repeat).

    Facts are split by (town, attribute): train asks about some facts, test about others (the base model
    read all of them in pretraining); `wording` asks test facts with an unseen wording. Inputs come from the
    train distribution except in the input shifts, which draw from their own (`Skill.sample(rng, shift)`).
    """
    sizes = sizes or SPLIT_SIZES
    rng = random.Random(seed)
    facts = [(t, a) for t in LAND for a in ATTRIBUTES]
    rng.shuffle(facts)
    fact_pool = {"test": facts[:40], "wording": facts[:40], "dev": facts[40:60], "train": facts[60:]}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    held_out: set[str] = set()
    for split in (*EVAL_SPLITS, "dev", "train"):  # evaluation inputs first, then excluded from train
        dist = split if split in SHIFTS and split != "wording" else "train"
        for skill in split_skills(split):
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
                    meta = SKILLS[skill].sample(rng, dist)
                key = _key(skill, meta)
                if key in held_out and not (skill == "facts" and split == "wording"):
                    continue  # (wording asks the test facts again, in an unseen phrasing)
                if split != "train":
                    held_out.add(key)
                records.append(make_record(skill, meta, split, len(records), rng))
            out[split].extend(records)
    return out


def eval_keys(splits: dict[str, list[dict]]) -> set[str]:
    """Keys of every evaluation input (dev, test and the shifts): the corpus must not state their answers."""
    return {_key(r["skill"], r["meta"]) for s in ("dev", *EVAL_SPLITS) for r in splits[s]}


def write_world(directory=None, seed: int = SEED) -> dict[str, int]:
    """Write one JSONL per split (`SPLITS`), corpus.txt and land.json under `directory` (default data/world)."""
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
