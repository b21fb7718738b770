"""Documents about the land of Veloria: one per town, a few short paragraphs stating its facts in varied prose.

The contexts that context-driven data methods (AugCon, `sftkit.methods.augcon`) ask questions about. A
document is a dict::

    {"id": "doc-07-Tobeka", "town": "Tobeka",
     "paragraphs": ["Tobeka lies in the land of Veloria. The ruler of Tobeka is Cora.", ...],
     "text": the paragraphs joined by blank lines,
     "facts": [{"town": "Tobeka", "attribute": "ruler", "value": "Cora", "paragraph": 0,
                "sentence": "The ruler of Tobeka is Cora."}, ...]}

Each paragraph states one attribute of the town (in a shuffled order), between sentences that state no fact
(`FILLERS`); one paragraph also states a fact of a neighbouring town. Every fact sentence is recorded with
the paragraph that holds it, so a question about any span of a document can be traced back to the facts it
asks about, and `check_documents` proves that every sentence is either a recorded, true fact (`LAND`) or a
filler naming no animal, colour or ruler. Deterministic from the seed; nothing here changes the world's
other data.
"""
from __future__ import annotations

import random
import re

from .skills import ANIMALS, ATTRIBUTES, COLOURS, LAND, RULERS, SEED

# Sentences stating one fact: {town} and {value} are filled in. Several phrasings per attribute.
FACT_TEMPLATES = {
    "animal": ["The animal of {town} is the {value}.", "{town} has the animal {value}.",
               "In {town}, the animal everyone knows is the {value}.",
               "People of {town} carve the {value}, the animal of their town, above their doors."],
    "colour": ["The colour of {town} is {value}.", "{town} is known for its colour, {value}.",
               "Banners in {town} are {value}, the colour of the town."],
    "ruler": ["The ruler of {town} is {value}.", "{town} is ruled by {value}.",
              "{value} rules {town} from the old hall."],
}
NEIGHBOUR_TEMPLATES = ["Its neighbour {town} has the {attribute} {value}.",
                       "Nearby {town}, by contrast, has the {attribute} {value}."]
# Sentences stating no fact ({town} is filled in): they must name no animal, colour or ruler.
FILLERS = ["{town} lies in the land of Veloria.", "Travellers say {town} is worth a visit.",
           "Its market opens early each morning.", "The road to {town} winds through low hills.",
           "Most houses there are built of stone.", "A small river runs past the square.",
           "Every spring the town holds a fair.", "Visitors often stay for a second night."]
VALUE_WORDS = frozenset(w.lower() for w in (*ANIMALS, *COLOURS, *RULERS))


def sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences (each ends with a full stop followed by a space or the end)."""
    return [s for s in re.split(r"(?<=\.)\s+", paragraph.strip()) if s]


def _fact(town: str, attribute: str, value: str, paragraph: int, sentence: str) -> dict:
    return {"town": town, "attribute": attribute, "value": value, "paragraph": paragraph, "sentence": sentence}


def make_document(town: str, index: int, rng: random.Random, land: dict[str, dict[str, str]] = LAND) -> dict:
    """One town's document: a paragraph per attribute (shuffled order), each its fact sentence after 0-1 filler
    and before one; one paragraph also states a fact of another town. Format: see the module docstring."""
    attributes = rng.sample(ATTRIBUTES, len(ATTRIBUTES))
    fillers = rng.sample(FILLERS, len(FILLERS))
    neighbour_at = rng.randrange(len(attributes))
    paragraphs, facts = [], []
    for p, attribute in enumerate(attributes):
        value = land[town][attribute]
        stated = rng.choice(FACT_TEMPLATES[attribute]).format(town=town, value=value)
        body = [stated]
        facts.append(_fact(town, attribute, value, p, stated))
        if p == neighbour_at:
            other = rng.choice([t for t in land if t != town])
            other_attribute = rng.choice(ATTRIBUTES)
            other_value = land[other][other_attribute]
            said = rng.choice(NEIGHBOUR_TEMPLATES).format(town=other, attribute=other_attribute, value=other_value)
            body.append(said)
            facts.append(_fact(other, other_attribute, other_value, p, said))
        before = [fillers.pop().format(town=town) for _ in range(rng.randint(0, 1))]
        after = [fillers.pop().format(town=town)]
        paragraphs.append(" ".join(before + body + after))
    return {"id": f"doc-{index:02d}-{town}", "town": town, "paragraphs": paragraphs, "text": "\n\n".join(paragraphs),
            "facts": facts}


def make_documents(seed: int = SEED, land: dict[str, dict[str, str]] = LAND) -> list[dict]:
    """One document per town of `land`, in the land's order (a fresh generator: the world's other data are
    unchanged)."""
    rng = random.Random(seed + 13)
    return [make_document(town, i, rng, land) for i, town in enumerate(land)]


def check_documents(documents: list[dict], land: dict[str, dict[str, str]] = LAND) -> list[str]:
    """Problems with `documents` ([] when none): every recorded fact is true in `land` and its sentence is in
    its paragraph (and names its town and value); every sentence of every paragraph is a recorded fact or a
    filler (no animal, colour or ruler word in it); every town has a document stating its three attributes;
    the text is the paragraphs joined by blank lines."""
    problems = []
    for doc in documents:
        name = doc["id"]
        if doc["text"] != "\n\n".join(doc["paragraphs"]):
            problems.append(f"{name}: text is not its paragraphs")
        stated = {f["sentence"] for f in doc["facts"]}
        for f in doc["facts"]:
            if land.get(f["town"], {}).get(f["attribute"]) != f["value"]:
                problems.append(f"{name}: false fact {f['town']} {f['attribute']} {f['value']}")
            if f["sentence"] not in sentences(doc["paragraphs"][f["paragraph"]]):
                problems.append(f"{name}: {f['sentence']!r} is not in paragraph {f['paragraph']}")
            if f["town"] not in f["sentence"] or f["value"] not in f["sentence"]:
                problems.append(f"{name}: {f['sentence']!r} does not name {f['town']} and {f['value']}")
        for p, paragraph in enumerate(doc["paragraphs"]):
            for s in sentences(paragraph):
                if s not in stated and VALUE_WORDS & set(re.findall(r"\w+", s.lower())):
                    problems.append(f"{name}: paragraph {p} has an unrecorded fact sentence {s!r}")
        own = {f["attribute"] for f in doc["facts"] if f["town"] == doc["town"]}
        if own != set(ATTRIBUTES):
            problems.append(f"{name}: states {sorted(own)} of {doc['town']}, not all of {list(ATTRIBUTES)}")
    missing = set(land) - {doc["town"] for doc in documents}
    if missing:
        problems.append(f"no document for {', '.join(sorted(missing))}")
    return problems
