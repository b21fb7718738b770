"""Facts and questions of the tiny world's documents (`documents.make_documents`): which facts a context states,
the self-contained question asking for some of them (in the canonical wording or one of several, `SINGLE_TEMPLATES`,
`MULTI_OPENERS`) and its right answer, the gold quality of a generated question, the closed-book test and its per-fact
grader (`fact_credit`). Pure gold functions, no torch: AugCon (`sftkit.methods.augcon`, notebook 09_augcon) reads them,
and its scripted teacher plays its prompts from them.
"""
from __future__ import annotations

import random
import re

from .documents import make_documents, sentences
from .skills import ANIMALS, ATTRIBUTES, COLOURS, LAND, RULERS

VALUES = {"animal": ANIMALS, "colour": COLOURS, "ruler": RULERS}


# ----------------------------------------------------------------------------------------------------
# Facts and questions of the tiny world's documents (what the scripted teacher plays, and the gold checks)

DOCUMENTS = make_documents()  # the tiny world's documents, which the scripted tasks and the gold labels read
FACTS = [f for d in DOCUMENTS for f in d["facts"]]  # every fact sentence of the documents, with its fact
TOWNS = [d["town"] for d in DOCUMENTS]


def facts_in(context: str, facts: list[dict] = FACTS) -> list[dict]:
    """The facts `context` states (their sentences are in it), in the order they appear, once each."""
    stated = {f["sentence"]: f for f in facts if f["sentence"] in context}
    return sorted(stated.values(), key=lambda f: context.index(f["sentence"]))


def towns_in(context: str, towns: list[str] = TOWNS) -> list[str]:
    """The towns `context` names, in order of first mention."""
    named = [t for t in towns if re.search(rf"\b{t}\b", context)]
    return sorted(named, key=lambda t: re.search(rf"\b{t}\b", context).start())


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# Phrasings of a question (`question_for` with an rng, the scripted teacher's): several per attribute for one fact,
# worded so that questions about different facts of one document rarely share most of their words (ROUGE-L F above
# 0.7); the first of each list is the canonical one (`question_for` without an rng, the closed-book test's).
SINGLE_TEMPLATES = {
    "animal": ("What is the animal of {town}?", "Which animal belongs to {town}?", "What creature stands for {town}?",
               "{town} is known for which animal?"),
    "colour": ("What is the colour of {town}?", "What colour are the banners of {town}?", "Which colour marks {town}?",
               "{town} flies banners of which colour?"),
    "ruler": ("What is the ruler of {town}?", "Who rules {town}?", "Who governs {town}?", "{town} is ruled by whom?"),
}
MULTI_OPENERS = ("What are the {groups}?", "Tell me the {groups}.", "Name the {groups}.")


def question_for(pairs: list[tuple[str, str]], rng: random.Random | None = None) -> str:
    """A self-contained question asking for the (town, attribute) `pairs`, grouped by town in order:
    [(Tobeka, ruler)] -> "What is the ruler of Tobeka?"; [(Tobeka, colour), (Tobeka, ruler), (Gamo, animal)]
    -> "What are the colour and ruler of Tobeka, and the animal of Gamo?". Closed-book answerable: it names
    what it asks about, never "the passage". With `rng`, a phrasing drawn from `SINGLE_TEMPLATES` (one fact)
    or `MULTI_OPENERS` (several): "Who rules Tobeka?", "Tell me the colour and ruler of Tobeka."."""
    by_town: dict[str, list[str]] = {}
    for town, attribute in pairs:
        by_town.setdefault(town, []).append(attribute)
    groups = [f"{_and(attributes)} of {town}" for town, attributes in by_town.items()]
    if rng is None:
        return f"What {'is' if len(pairs) == 1 else 'are'} the {', and the '.join(groups)}?"
    if len(pairs) == 1:
        return rng.choice(SINGLE_TEMPLATES[pairs[0][1]]).format(town=pairs[0][0])
    return rng.choice(MULTI_OPENERS).format(groups=", and the ".join(groups))


def _single_patterns() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(re.escape(t).replace(re.escape("{town}"), r"(\w+)")), attribute)
            for attribute, templates in SINGLE_TEMPLATES.items() for t in templates[1:]]


SINGLE_PATTERNS = _single_patterns()
GROUPS_PATTERN = re.compile(r"(?:What (?:is|are) the (.+)\?|Tell me the (.+)\.|Name the (.+)\.)")


def asked(question: str) -> list[tuple[str, str]] | None:
    """The (town, attribute) pairs a `question_for` question (any phrasing) asks for, or None for any other question."""
    question = question.strip()
    for pattern, attribute in SINGLE_PATTERNS:
        found = pattern.fullmatch(question)
        if found:
            return [(found.group(1), attribute)] if found.group(1) in TOWNS else None
    match = GROUPS_PATTERN.fullmatch(question)
    if match is None:
        return None
    pairs = []
    for group in next(g for g in match.groups() if g is not None).split(", and the "):
        attributes, sep, town = group.rpartition(" of ")
        names = re.split(r", | and ", attributes)
        if not sep or town not in TOWNS or not all(a in ATTRIBUTES for a in names):
            return None
        pairs += [(town, a) for a in names]
    return pairs


STATEMENT = re.compile(r"\bThe (animal|colour|ruler) of (\w+) is (?:the )?(\w+)\.")


def stated_values(reply: str) -> dict[tuple[str, str], set[str]]:
    """What a reply states, as {(town, attribute): {values}}, from its "The ruler of Tobeka is Cora." sentences."""
    stated: dict[tuple[str, str], set[str]] = {}
    for attribute, town, value in STATEMENT.findall(reply or ""):
        stated.setdefault((town, attribute), set()).add(value)
    return stated


def fact_credit(pairs: list[tuple[str, str]], reply: str, land: dict[str, dict[str, str]] = LAND) -> float:
    """The share of the requested (town, attribute) `pairs` that `reply` states correctly, checked against the
    world (`land`): a pair counts when the reply states it with the true value and no other value. Partial credit
    for paragraph and document questions: 2 of 3 facts right -> 0.667, whatever else the reply says."""
    if not pairs:
        raise ValueError("fact_credit: no requested fact")
    stated = stated_values(reply)
    return sum(stated.get((t, a)) == {land[t][a]} for t, a in pairs) / len(pairs)


def fact_sentence(town: str, attribute: str, value: str) -> str:
    return f"The {attribute} of {town} is {value}."


def not_stated(town: str, attribute: str) -> str:
    return f"The passage does not say the {attribute} of {town}."


# The question a careful writer asks about each filler sentence of the documents (`world.documents.FILLERS`).
FILLER_QUESTIONS = {
    "{town} lies in the land of Veloria.": "Where does {town} lie?",
    "Travellers say {town} is worth a visit.": "What do travellers say about {town}?",
    "Its market opens early each morning.": "When does the market open?",
    "The road to {town} winds through low hills.": "Where does the road to {town} wind?",
    "Most houses there are built of stone.": "What are most houses built of?",
    "A small river runs past the square.": "What runs past the square?",
    "Every spring the town holds a fair.": "What does the town hold every spring?",
    "Visitors often stay for a second night.": "How long do visitors often stay?",
}


def about_question(context: str) -> str:
    """The question about a context that states no fact: a filler sentence's own question
    (`FILLER_QUESTIONS`), else "What is said about Tobeka?" (or "the passage" when it names no town)."""
    for filler, question in FILLER_QUESTIONS.items():
        found = re.fullmatch(re.escape(filler).replace(re.escape("{town}"), r"(\w+)"), context.strip())
        if found:
            return question.format(town=found.group(1) if found.groups() else "")
    named = towns_in(context)
    return f"What is said about {named[0]}?" if named else "What does the passage describe?"


def question_about(context: str, rng: random.Random | None = None) -> str:
    """The right question about the whole of `context`: every fact it states (`question_for`, phrased with `rng`
    when given), or, with no fact in it, what is said about the town it names."""
    stated = facts_in(context)
    return question_for([(f["town"], f["attribute"]) for f in stated], rng) if stated else about_question(context)


def answer_from(context: str, question: str) -> str:
    """The right answer to `question` from `context` (the first principle: from the context alone): one fact
    sentence per asked pair ("The ruler of Tobeka is Cora."), or "The passage does not say ..." for a pair
    the context does not state; for any other question, every fact the context states (the context itself when
    it states none)."""
    stated = facts_in(context)
    pairs = asked(question)
    if pairs is None:
        return " ".join(fact_sentence(f["town"], f["attribute"], f["value"]) for f in stated) or context.strip()
    value = {(f["town"], f["attribute"]): f["value"] for f in stated}
    return " ".join(fact_sentence(t, a, value[t, a]) if (t, a) in value else not_stated(t, a) for t, a in pairs)


def question_quality(question: str, context: str) -> str:
    """Gold label of a generated question about `context`: "complete" (asks for every fact it states, or is
    the about-question of a context without facts), "partial" (asks for some of them), "unanswerable" (asks
    for a fact the context does not state) or "generic" (asks for no fact in particular)."""
    stated = {(f["town"], f["attribute"]) for f in facts_in(context)}
    pairs = asked(question)
    if pairs is None:
        return "complete" if not stated and question == about_question(context) else "generic"
    if not set(pairs) <= stated:
        return "unanswerable"
    return "complete" if set(pairs) == stated else "partial"


def split_context(context: str) -> tuple[str, str]:
    """Two halves of `context` at the paragraph boundary (or, for one paragraph, the sentence boundary) nearest
    its middle; a single sentence is returned twice (no split, so the tree stops there)."""
    paragraphs = [p for p in context.split("\n\n") if p.strip()]
    units, glue = (paragraphs, "\n\n") if len(paragraphs) > 1 else (sentences(context), " ")
    if len(units) < 2:
        return context, context
    cut = min(range(1, len(units)), key=lambda k: abs(len(glue.join(units[:k])) - len(context) / 2))
    return glue.join(units[:cut]), glue.join(units[cut:])


def seed_examples(documents: list[dict] | None = None, n: int = 4) -> list[dict]:
    """Hand-checkable (context, question, answer) examples for `bootstrap_demos` (official: qa_examples_en.jsonl,
    written by hand): the last paragraph of each of the last `n` documents with its right question and answer."""
    documents = DOCUMENTS[-n:] if documents is None else documents[-n:]
    contexts = [d["paragraphs"][-1] for d in documents]
    return [{"context": c, "question": question_about(c), "answer": answer_from(c, question_about(c))}
            for c in contexts]


GRANULARITIES = {"fact": "one fact of a town (the teacher asks these too: seen or unseen per data set)",
                 "paragraph": "the two facts of a paragraph, neighbour first (an order the teacher never writes)",
                 "document": "a town's three own facts (a set the teacher never asks for alone)"}


def closed_book_questions(documents: list[dict]) -> list[dict]:
    """The closed-book test: questions about the documents asked without them, one set per granularity
    (`GRANULARITIES`): each own fact of each town (fact); the paragraph that also states a neighbour's fact,
    its two facts asked neighbour first (paragraph); the town's three own facts (document). The paragraph and
    document questions are phrased in the teacher's grammar but are strings the scripted teacher never writes
    (it asks in the order facts appear, and a context with all three own facts also holds the neighbour's), so
    no data set contains them. Records in the world's format: skill "facts", split = the granularity, gold
    answer = one fact sentence per asked fact, in the question's order; checked by exact match."""
    records = []
    for d in documents:
        stated = facts_in(d["text"])
        own = [(f["town"], f["attribute"]) for f in stated if f["town"] == d["town"]]
        value = {(f["town"], f["attribute"]): f["value"] for f in stated}
        neighbour_paragraph = next(p for p in d["paragraphs"] if len(facts_in(p)) > 1)
        paragraph = [(f["town"], f["attribute"]) for f in facts_in(neighbour_paragraph)][::-1]
        asks = [("fact", [pair]) for pair in own] + [("paragraph", paragraph)]
        asks += [("document", [(d["town"], a) for a in ATTRIBUTES])]
        for k, (granularity, pairs) in enumerate(asks):
            question = question_for(pairs)
            answer = " ".join(fact_sentence(t, a, value[t, a]) for t, a in pairs)
            records.append({"id": f"{granularity}-{d['id']}-{k}", "skill": "facts", "split": granularity,
                            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                            "answer": answer, "meta": {"document": d["id"]}})
    return records
