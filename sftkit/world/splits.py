"""The tiny world's splits and the files `sftkit data` writes (byte for byte from a seed)."""
from __future__ import annotations

import json
import random

from ..io import WORLD_DIR, atomic_write_text, write_jsonl
from .corpus import make_corpus
from .skills import ATTRIBUTES, LAND, SEED, SKILLS, SPLITS, _key, make_land, make_record

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


def write_world(directory=None, seed: int = SEED) -> dict[str, int]:
    """Write {train,dev,test,hard}.jsonl, corpus.txt and land.json under `directory` (default data/world)."""
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
