"""AugCon: context-driven SFT data across granularities (Quan, "Automatically Generating Numerous Context-Driven
SFT Data for LLMs across Diverse Granularity", arXiv 2405.16579; code quanshr/AugCon, MIT). A data-side method:
it writes question -> answer data that plain SFT learns. Notebook: 09_augcon; command: `sftkit generate augcon`.

    step 1  Context-Split-Tree   `context_split_tree(context, ask)`: ask the strong LLM (a teacher) for one
                                 question about the whole context and a split of it into two sub-contexts;
                                 record the node, recurse on both halves (official `step1_cst.py`, its stopping
                                 rules); `repeat_until_enough` re-runs it on the root until there are 1.15 x the
                                 wanted queries (official `step1_gen_q.gen_q`). The official English prompt
                                 (`prompt_en.instruct_CST`) and its weakened variants (`WEAK_PROMPTS`).
    step 2  contrastive scorer   `scorer_pairs` (official `mk_scorer_pairs`: a pool question is the positive, the
                                 same context asked with a weakened prompt gives the negative), `train_scorer`
                                 (an LM with a scalar head on the last token, `ScorerTrainer`, `scorer_loss`:
                                 -mean sigmoid(s_pos) + mean sigmoid(s_neg), official `Scorer.forward`),
                                 `score_questions`; `keep_questions` ranks each document's pool and applies the
                                 ROUGE-L filter (`rouge_l_filter` / `filter_report`: drop a query whose ROUGE-L F
                                 with a kept one exceeds 0.7, keep len(context) // 35; official `filter_queries`).
    step 3  answers              `answer_prompt` (the official English `ContextQA` principles), `bootstrap_demos`
                                 (DSPy `BootstrapFewShot` with the official self-judge prompt), `answer_items`.
            records              `sft_records`: question -> answer without the context, as the paper fine-tunes.
    whole                        `make_data(documents, teacher, config)`; `read_documents` (JSONL, chunked at 500
                                 characters as the official `load_data`).

The tiny world's pieces: `split_task`, `answer_task`, `judge_task` (the `ScriptedTeacher` plays the three
prompts from the documents' recorded facts, `sftkit.world.make_documents`), the gold labels of a question
(`question_quality`) and of an answer (`answer_from`), the one-question-per-document baseline and the closed-book
test (`closed_book_questions`).

Deliberate differences from the official code: the reply parser reads multi-line sub-contexts (the official
regex has no DOTALL, so a sub-context ends at its first line break) and drops a "Question:" label a chat model
repeats; `repeat_until_enough` stops after `max_rounds` rounds (the official loop never stops when every root
reply fails to parse); prompts go to the teacher as one chat turn (official: a raw completion with stop
sequences "---" and "\n\n\n"); the scorer reads "Context: ..." and "Question: ..." through the chat template,
starts from any causal LM (official: the generator itself, 4-bit with LoRA) and drops scorer pairs whose two
questions are identical (their loss terms cancel); the answer step is DSPy's `Predict` layout, not
`ChainOfThought`; the bootstrap answers each seed example without demos. The paper (not the code) writes the
scorer loss as -log sigmoid(s_pos - s_neg) and the filter as ROUGE-L precision < 0.7; we follow the code.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ..io import SftkitError
from ..model import load_model
from ..reward import RewardTrainer
from ..teachers import Task, Teacher, last_user_text, register_task
from ..train import TrainConfig, TrainResult, train
from ..world import make_documents, normalize
from ..world.documents import sentences
from ..world.skills import ANIMALS, ATTRIBUTES, COLOURS, RULERS
from .base import MethodConfig, Paper, knob

VALUES = {"animal": ANIMALS, "colour": COLOURS, "ruler": RULERS}

PAPER = Paper("Automatically Generating Numerous Context-Driven SFT Data for LLMs across Diverse Granularity (AugCon)",
              "2405.16579", "https://github.com/quanshr/AugCon", "09_augcon")
SHAPE, DATA = "data", "documents"

# Official settings (quanshr/AugCon config.py and step1/step2).
MIN_CHARS = 20  # config.min_length: a context of at most this many characters is not asked about
MIN_QUESTION_CHARS = 5  # step1_cst: a question shorter than this ends the branch
TRIES = 4  # step1_cst: asks again up to 4 times while the reply cannot be parsed
CHARS_PER_QUERY = 35  # config.character_per_piece: one query per 35 characters of context
OVERSHOOT = 1.15  # step1_gen_q.gen_q: generate 1.15 x the wanted queries, for the filter to drop
ROUGE_THRESHOLD = 0.7  # config.rouge_thres



@dataclass
class Config(MethodConfig):
    """AugCon's own knobs (`sftkit generate augcon`); the teacher's are its own (`--teacher`, `--error-rate`)."""

    VARIANT = ("rouge_threshold",)

    rouge_threshold: float = knob(ROUGE_THRESHOLD, "drop a question whose ROUGE-L F with a kept one exceeds this")
    scorer_steps: int = knob(200, "optimizer steps of the contrastive scorer (batches of 8 pairs)")
    scorer_lr: float = knob(3e-4, "learning rate of the contrastive scorer")


# ----------------------------------------------------------------------------------------------------
# The official English prompt (prompt_en.py), in parts: instruction, format, three worked examples; `cst_prompt`
# rebuilds instruct_CST and the weakened prompts word for word (blank lines aside). The official run on the
# Chinese DailyM corpus imports the Chinese version, prompt_zh.py (step1_gen_q.py).
CST_INSTRUCTION = ('Given an entire context as the Context, generate a Question about the entire context that users '
                   'might be interested in, which answer should be able to be derived directly from the Context. Then, '
                   'divide the entire context into two sub-contexts Context 1 and Context 2 based on their semantic '
                   'content, making necessary adjustments within each sub-contexts to ensure they are independently '
                   'coherent.')
CST_TERSE_INSTRUCTION = 'Given a context, generate a question and split context into two sub-contexts.'
CST_EXAMPLES = (
    (
        'Trying to rebound from their divisional home loss to the Buccaneers, the Panthers flew to the '
        'Louisiana Superdome for a Week 5 divisional duel with the winless New Orleans Saints. With QB Jake '
        'Delhomme out and done for the year with a right elbow injury, QB David Carr was given the start. In '
        'the first quarter, Carolina took the early lead with kicker John Kasay getting a 23-yard field '
        'goal. The Saints responded with kicker Olindo Mare getting a 25-yard field goal. In the second '
        'quarter, the Panthers went back into the lead with Kasay nailing a 35-yard field goal. New Orleans '
        'would respond with Mare kicking a 28-yard field goal. In the third quarter, Carolina trailed as '
        'Saints FB Mike Karney got a 2-yard TD run for the only score of the period. In the fourth quarter, '
        'the Panthers tied the game with Carr completing a 17-yard TD pass to WR Steve Smith. Afterwards, '
        'Carolina sealed the win in the final seconds with Kasay nailing a 52-yard field goal as time ran '
        'out.',
        'How did the Carolina Panthers secure their victory against the New Orleans Saints in their Week 5 '
        'divisional duel?',
        'Trying to rebound from their divisional home loss to the Buccaneers, the Panthers flew to the '
        'Louisiana Superdome for a Week 5 divisional duel with the winless New Orleans Saints. With QB Jake '
        'Delhomme out for the year with a right elbow injury, QB David Carr was given the start. In the '
        'first quarter, Carolina took the early lead with kicker John Kasay getting a 23-yard field goal. '
        'The Saints responded with kicker Olindo Mare getting a 25-yard field goal. In the second quarter, '
        'the Panthers went back into the lead with Kasay nailing a 35-yard field goal, followed by New '
        'Orleans’ response with Mare kicking a 28-yard field goal.',
        'As the game progressed into the third quarter, the Panthers found themselves trailing after Saints '
        'FB Mike Karney got a 2-yard TD run, marking the only score of the period. However, in the fourth '
        'quarter, the Panthers managed to tie the game thanks to QB David Carr completing a 17-yard TD pass '
        'to WR Steve Smith. The climax of the match came in the final seconds with John Kasay nailing a '
        '52-yard field goal as time ran out, securing a dramatic victory for Carolina against the New '
        'Orleans Saints.',
    ),
    (
        'As a cell grows, its volume increases more quickly than its surface area. If a cell was to get very '
        'large, the small surface area would not allow enough nutrients to enter the cell quickly enough for '
        'the cell’s needs. However, large cells have a way of dealing with some size challenges. Big cells, '
        'such as some white blood cells, often grow more nuclei so that they can supply enough proteins and '
        'RNA for the cell’s requirements. Large, metabolically active cells often have lots of cell '
        'protrusions, resulting in many folds throughout the membrane. These folds increase the surface area '
        'available for transport of materials into or out of the cell. Such cell types are found lining your '
        'small intestine, where they absorb nutrients from your food through protrusions called microvilli.',
        'How do large cells adapt to the challenge of having a volume that increases more quickly than their '
        'surface area to meet their metabolic needs?',
        'As a cell grows, its volume increases more quickly than its surface area. If a cell was to get very '
        'large, the small surface area would not allow enough nutrients to enter the cell quickly enough for '
        "the cell's needs.",
        'Large cells have a way of dealing with their size challenges. Big cells, such as some white blood '
        "cells, often grow more nuclei so that they can supply enough proteins and RNA for the cell's "
        'requirements. Large, metabolically active cells often have lots of cell protrusions, resulting in '
        'many folds throughout the membrane. These folds increase the surface area available for transport '
        'of materials into or out of the cell. Such cell types are found lining your small intestine, where '
        'they absorb nutrients from your food through protrusions called microvilli.',
    ),
    (
        'Philip Arnold Heseltine is best known as a composer of songs and other vocal music; he also '
        'achieved notoriety in his lifetime through his unconventional and often scandalous lifestyle.',
        "Why is Philip Arnold Heseltine's reputation mixed?",
        'Philip Arnold Heseltine is best known as a composer of songs and other vocal music.',
        'Philip Arnold Heseltine also achieved notoriety in his lifetime through his unconventional and '
        'often scandalous lifestyle.',
    ),
)
CST_FORMAT = ("Provide in the following form:\n\nContext: The entire context\n\nQuestion: Regarding the entire context\n\n"
              "Context 1: Sub-context 1\n\nContext 2: Sub-context 2")


def cst_prompt(context: str, instruction: str = CST_INSTRUCTION, examples: tuple = CST_EXAMPLES) -> str:
    """The split prompt for `context` (official `instruct_CST` with the defaults): instruction, format, the
    worked examples (context, question, context 1, context 2), then the context; the reply continues after
    its final "Question: "."""
    shots = [f"Context: {c}\n\nQuestion: {q}\n\nContext 1: {c1}\n\nContext 2: {c2}" for c, q, c1, c2 in examples]
    return "\n\n---\n\n".join([instruction, CST_FORMAT, *shots, f"Context: {context}\n\nQuestion: "])


# The weakened prompts whose queries are the scorer's negatives (official `neg_instruct_CST_list`): the terse
# instruction with every example, the full instruction with one example, the terse one with one example.
WEAK_PROMPTS = {
    "terse": {"instruction": CST_TERSE_INSTRUCTION, "examples": CST_EXAMPLES},
    "one_shot": {"instruction": CST_INSTRUCTION, "examples": CST_EXAMPLES[:1]},
    "terse_one_shot": {"instruction": CST_TERSE_INSTRUCTION, "examples": CST_EXAMPLES[:1]},
}


def parse_split(reply: str) -> tuple[str, str, str] | None:
    """(question, context 1, context 2) from a reply to `cst_prompt`, or None when it has no "Context 1: ...
    Context 2: ..." in that order. As the official regex: the question is the last line before "Context 1:";
    unlike it, a sub-context may span lines (context 2 ends at a "---" line, where a model runs on into
    another example)."""
    match = re.search(r"(.*?)\s*Context 1:(.*?)\s*Context 2:(.*)", reply, re.S)
    if match is None:
        return None
    question = match.group(1).strip().split("\n")[-1].strip().removeprefix("Question:").strip()
    context2 = re.split(r"\n\s*---", match.group(3))[0]
    return question, match.group(2).strip(), context2.strip()


# ----------------------------------------------------------------------------------------------------
# The Context-Split-Tree


@dataclass(frozen=True)
class Node:
    """One (context, question) pair of a tree. depth: 0 for the root context, +1 per split (the granularity:
    deeper = finer); parent: the index of the parent node in the same list (None for a root); round: which
    re-run on the root made it (`repeat_until_enough`)."""

    context: str
    question: str
    depth: int
    parent: int | None
    round: int = 0


def ask_parsed(context: str, ask: Callable[[str], str], tries: int = TRIES) -> tuple[str, str, str] | None:
    """`parse_split` of the first of up to `tries` replies of `ask(context)` that parses; None if none does."""
    for _ in range(tries):
        parsed = parse_split(ask(context))
        if parsed is not None:
            return parsed
    return None


def context_split_tree(context: str, ask: Callable[[str], str], min_chars: int = MIN_CHARS,
                       min_question_chars: int = MIN_QUESTION_CHARS, tries: int = TRIES) -> list[Node]:
    """The Context-Split-Tree of `context` (official `step1_cst.context_split_tree`), depth first, a node
    before its subtrees. `ask(context) -> reply` is one teacher call on the split prompt (`teacher_ask`).

    A branch ends without a node when the context has at most `min_chars` characters, when `tries` replies
    in a row cannot be parsed, or when the question has fewer than `min_question_chars` characters; it ends
    after its node (no children) when either half is not shorter than the context."""
    nodes: list[Node] = []

    def grow(text: str, depth: int, parent: int | None) -> None:
        if len(text) <= min_chars:
            return
        parsed = ask_parsed(text, ask, tries)
        if parsed is None or len(parsed[0]) < min_question_chars:
            return
        question, first, second = parsed
        nodes.append(Node(text, question, depth, parent))
        if len(first) >= len(text) or len(second) >= len(text):
            return
        here = len(nodes) - 1
        grow(first, depth + 1, here)
        grow(second, depth + 1, here)

    grow(context, 0, None)
    return nodes


def query_budget(context: str) -> int:
    """How many queries a context is worth: len(context) // 35 (official `utils.gen_count`)."""
    return len(context) // CHARS_PER_QUERY


def repeat_until_enough(context: str, ask: Callable[[str], str], wanted: int | None = None, overshoot: float = OVERSHOOT,
                        max_rounds: int = 50, **tree_settings) -> list[Node]:
    """Context-Split-Trees of `context`, one round after another, until there are at least overshoot x wanted
    nodes (default wanted: `query_budget(context)`; official `step1_gen_q.gen_q`) or `max_rounds` rounds
    ran. The nodes of all rounds in one list (parents index into it; `Node.round` tells the rounds apart);
    `tree_settings` go to `context_split_tree`."""
    wanted = query_budget(context) if wanted is None else wanted
    nodes: list[Node] = []
    for r in range(max_rounds):
        if len(nodes) >= wanted * overshoot:
            break
        offset = len(nodes)
        nodes += [Node(n.context, n.question, n.depth, None if n.parent is None else n.parent + offset, r)
                  for n in context_split_tree(context, ask, **tree_settings)]
    return nodes


def teacher_ask(teacher: Teacher, instruction: str = CST_INSTRUCTION, examples: tuple = CST_EXAMPLES,
                **settings) -> Callable[[str], str]:
    """`ask(context) -> reply` for `context_split_tree`: the teacher's reply to `cst_prompt(context, ...)`.
    The k-th ask (from 0) of the same context passes seed=k, so a retry or a new round draws a new reply instead of
    reading the first one back from the teacher's cache (a `seed` setting is the first ask's seed)."""
    asked: dict[str, int] = {}
    first_seed = settings.pop("seed", 0)

    def ask(context: str) -> str:
        k = asked[context] = asked.get(context, -1) + 1
        return teacher.ask(cst_prompt(context, instruction, examples), **settings, seed=first_seed + k)

    return ask


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


def question_for(pairs: list[tuple[str, str]]) -> str:
    """A self-contained question asking for the (town, attribute) `pairs`, grouped by town in order:
    [(Tobeka, ruler)] -> "What is the ruler of Tobeka?"; [(Tobeka, colour), (Tobeka, ruler), (Gamo, animal)]
    -> "What are the colour and ruler of Tobeka, and the animal of Gamo?". Closed-book answerable: it names
    what it asks about, never "the passage"."""
    by_town: dict[str, list[str]] = {}
    for town, attribute in pairs:
        by_town.setdefault(town, []).append(attribute)
    groups = [f"{_and(attributes)} of {town}" for town, attributes in by_town.items()]
    return f"What {'is' if len(pairs) == 1 else 'are'} the {', and the '.join(groups)}?"


def asked(question: str) -> list[tuple[str, str]] | None:
    """The (town, attribute) pairs a `question_for` question asks for, or None for any other question."""
    match = re.fullmatch(r"What (?:is|are) the (.+)\?", question.strip())
    if match is None:
        return None
    pairs = []
    for group in match.group(1).split(", and the "):
        attributes, sep, town = group.rpartition(" of ")
        names = re.split(r", | and ", attributes)
        if not sep or town not in TOWNS or not all(a in ATTRIBUTES for a in names):
            return None
        pairs += [(town, a) for a in names]
    return pairs


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


def question_about(context: str) -> str:
    """The right question about the whole of `context`: every fact it states (`question_for`), or, with no
    fact in it, what is said about the town it names."""
    stated = facts_in(context)
    return question_for([(f["town"], f["attribute"]) for f in stated]) if stated else about_question(context)


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


# ----------------------------------------------------------------------------------------------------
# The scripted teacher's split task (the tiny world's stand-in for a strong LLM)

PROMPT_TAIL = "\n\nQuestion: "
FLAWS = ("partial", "generic", "unanswerable")
GENERIC_QUESTIONS = ("What is this passage about?", "What can you tell me about this?")
# How often the scripted teacher asks a flawed question under each prompt: the full prompt insists on a question
# about the *entire* context that its answer can be derived from; weaker prompts let it drift (`split_task`).
FLAW_RATE = {"full": 0.0, "terse": 0.5, "one_shot": 0.4, "terse_one_shot": 0.7}


def prompt_kind(text: str) -> str | None:
    """Which split prompt `text` is ("full", or a `WEAK_PROMPTS` name), from its instruction and its number
    of worked examples; None when it is no split prompt."""
    parts = text.split("\n\n---\n\n")
    if not text.endswith(PROMPT_TAIL) or len(parts) < 4 or parts[1] != CST_FORMAT:
        return None
    terse = {CST_INSTRUCTION: False, CST_TERSE_INSTRUCTION: True}.get(parts[0])
    shots = len(parts) - 3
    if terse is None or shots not in (1, len(CST_EXAMPLES)):
        return None
    return {(False, True): "full", (True, True): "terse", (False, False): "one_shot",
            (True, False): "terse_one_shot"}[terse, shots == len(CST_EXAMPLES)]


def flawed_question(context: str, flaw: str, rng: random.Random) -> str:
    """A realistic flawed question about `context`: "partial" asks for only its first fact (a single fact
    turns unanswerable), "unanswerable" for an attribute of a town it names that it does not state, "generic"
    for nothing in particular."""
    stated = facts_in(context)
    if flaw == "partial" and len(stated) >= 2:
        return question_for([(stated[0]["town"], stated[0]["attribute"])])
    if flaw in ("partial", "unanswerable"):
        have = {(f["town"], f["attribute"]) for f in stated}
        missing = [(t, a) for t in towns_in(context) or TOWNS[:1] for a in ATTRIBUTES if (t, a) not in have]
        if missing:
            return question_for([rng.choice(missing)])
    return rng.choice(GENERIC_QUESTIONS)


def split_reply(question: str, context: str) -> str:
    first, second = split_context(context)
    return f"{question}\n\nContext 1: {first}\n\nContext 2: {second}"


def split_task(flaw_rate: dict[str, float] | None = None) -> Task:
    """The split prompt (`cst_prompt`, the full one or a weakened one) played from the documents' facts: the
    question is `question_about` the context and the halves are `split_context`'s. Under a weakened prompt the
    question is flawed (`flawed_question`) with probability `flaw_rate[kind]` (default `FLAW_RATE`), drawn from
    a hash of (prompt kind, context). The teacher's mistake (its `error_rate`) is, half the time, a
    malformed reply that `parse_split` rejects (no split, one half only, wrongly labelled halves) and otherwise
    a parseable reply with a flawed question: what the scorer and the filter are for."""
    rates = {**FLAW_RATE, **(flaw_rate or {})}

    def match(messages: list[dict]) -> tuple[str, str] | None:
        text = last_user_text(messages)
        kind = prompt_kind(text)
        return None if kind is None else (text[:-len(PROMPT_TAIL)].rsplit("---\n\nContext: ", 1)[-1], kind)

    def answer(item: tuple[str, str]) -> str:
        context, kind = item
        draw = random.Random(f"{kind}|{context}")
        if draw.random() < rates[kind]:
            return split_reply(flawed_question(context, draw.choice(FLAWS), draw), context)
        return split_reply(question_about(context), context)

    def mistake(item: tuple[str, str], rng: random.Random) -> str:
        context, _ = item
        first, second = split_context(context)
        if rng.random() < 0.5:
            return split_reply(flawed_question(context, rng.choice(FLAWS), rng), context)
        return rng.choice([question_about(context), f"What is this about?\n\nContext 1: {first}",
                           f"What is this about?\n\nPart 1: {first}\n\nPart 2: {second}"])

    return Task("augcon_split", match, answer, mistake)


def split_context(context: str) -> tuple[str, str]:
    """Two halves of `context` at the paragraph boundary (or, for one paragraph, the sentence boundary) nearest
    its middle; a single sentence is returned twice (no split, so the tree stops there)."""
    paragraphs = [p for p in context.split("\n\n") if p.strip()]
    units, glue = (paragraphs, "\n\n") if len(paragraphs) > 1 else (sentences(context), " ")
    if len(units) < 2:
        return context, context
    cut = min(range(1, len(units)), key=lambda k: abs(len(glue.join(units[:k])) - len(context) / 2))
    return glue.join(units[:cut]), glue.join(units[cut:])


register_task("augcon_split", split_task)


# ----------------------------------------------------------------------------------------------------
# Filtering and the scorer's loss


def filter_report(queries: list[str], scores: list[float], threshold: float = ROUGE_THRESHOLD,
                  keep: int | None = None) -> list[dict]:
    """What the filter does with each query, in order of decreasing score (ties: input order) (official
    `step2_scorer.filter_queries`): {"index", "score", "verdict", "like", "rouge"}, verdict "kept"; or
    "near-duplicate" when its ROUGE-L F with the kept query `like` is `rouge` > `threshold`; or "over budget"
    once `keep` are kept (None: no limit). ROUGE-L from `rouge-score` (lower-cased words)."""
    from rouge_score import rouge_scorer

    if len(queries) != len(scores):
        raise ValueError(f"rouge_l_filter: {len(queries)} queries but {len(scores)} scores")
    rouge = rouge_scorer.RougeScorer(["rougeL"])
    report, kept = [], []
    for i in sorted(range(len(queries)), key=lambda i: -scores[i]):
        row = {"index": i, "score": scores[i], "verdict": "kept", "like": None, "rouge": None}
        if keep is not None and len(kept) >= keep:
            row["verdict"] = "over budget"
        else:
            similar = [(rouge.score(queries[j], queries[i])["rougeL"].fmeasure, j) for j in kept]
            closest = max(similar, default=(0.0, None))
            if closest[0] > threshold:
                row.update(verdict="near-duplicate", rouge=closest[0], like=closest[1])
            else:
                kept.append(i)
        report.append(row)
    return report


def rouge_l_filter(queries: list[str], scores: list[float], threshold: float = ROUGE_THRESHOLD,
                   keep: int | None = None) -> list[int]:
    """Indices of the queries kept, best score first (official `step2_scorer.filter_queries`): in order of
    decreasing score, drop a query whose ROUGE-L F with an already kept one exceeds `threshold`; stop at
    `keep` kept (official: `query_budget(context)`; None: no limit). See `filter_report` for the reasons."""
    return [r["index"] for r in filter_report(queries, scores, threshold, keep) if r["verdict"] == "kept"]


def scorer_loss(s_pos, s_neg):
    """The contrastive scorer's loss on raw scores (logits of the linear head), s_pos [P], s_neg [N] -> []:
    -mean(sigmoid(s_pos)) + mean(sigmoid(s_neg)) (official `Scorer.forward`, whose head ends in a sigmoid).
    Its minimum, -1, is every positive scored far above every negative."""
    return -s_pos.sigmoid().mean() + s_neg.sigmoid().mean()


# ----------------------------------------------------------------------------------------------------
# The contrastive scorer (official step1_gen_q.mk_scorer_pairs and step2_scorer)


def scorer_pairs(pool: list[Node], teacher: Teacher, count: int = 500, seed: int = 0,
                 prompts: dict = WEAK_PROMPTS, tries: int = TRIES, **settings) -> list[dict]:
    """The scorer's training pairs (official `mk_scorer_pairs`): the pool's nodes shuffled, the next
    min(count, len(pool) // 3) of them for each weakened prompt in turn; each node's question is the positive
    and the weakened prompt's question about the same context the negative, asked up to `tries` times until a
    reply parses (as the official code does through `context_split_tree`; no pair when none does). A negative
    equal to its positive gives no pair either (the official code keeps those: its two terms of the loss
    cancel, so they only dilute the batch). As preference records for `sftkit.train` ({prompt, chosen,
    rejected} + "weak", "context"): the prompt is the context, the chosen / rejected reply the positive /
    negative question."""
    rng = random.Random(seed)
    nodes = rng.sample(pool, len(pool))
    per_prompt = min(count, len(pool) // len(prompts))
    pairs = []
    for k, (name, prompt) in enumerate(prompts.items()):
        pending = nodes[k * per_prompt:(k + 1) * per_prompt]
        for attempt in range(tries):
            replies = teacher.complete([cst_prompt(n.context, **prompt) for n in pending], **settings, seed=attempt)
            failed = []
            for node, reply in zip(pending, replies):
                parsed = parse_split(reply)
                if parsed is None:
                    failed.append(node)
                elif parsed[0] != node.question:
                    pairs.append(scorer_record(node.context, node.question, parsed[0]) | {"weak": name})
            pending = failed
    return pairs


def split_pairs(pairs: list[dict], held_out: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) scorer pairs, duplicates removed and split by context, so that no held-out pair's
    context (and no copy of it) is trained on: the tiny world's filler sentences recur across documents."""
    unique = list({(p["context"], p["chosen"][0]["content"], p["rejected"][0]["content"]): p for p in pairs}.values())
    contexts = sorted({p["context"] for p in unique})
    random.Random(seed).shuffle(contexts)
    held = set(contexts[:round(held_out * len(contexts))])
    return [p for p in unique if p["context"] not in held], [p for p in unique if p["context"] in held]


def scorer_record(context: str, positive: str, negative: str) -> dict:
    """One scorer pair as a preference record: the official input "Context: ...\\n\\nQuestion: ..." as a chat
    (the context a user turn, the question the reply), so the scorer reads it through the chat template."""
    return {"prompt": [{"role": "user", "content": f"Context: {context}"}],
            "chosen": [{"role": "assistant", "content": f"Question: {positive}"}],
            "rejected": [{"role": "assistant", "content": f"Question: {negative}"}], "context": context}


class ScorerTrainer(RewardTrainer):
    """The scorer's training: an LM with a scalar head on the last token (`sftkit.reward.load_reward_model`),
    positives first in each batch, loss = `scorer_loss`; logs how often a positive outscores its negative."""

    def loss(self, model, inputs: dict, outputs) -> torch.Tensor:
        positive, negative = outputs.logits.squeeze(-1).float().chunk(2)
        self.record(reward_accuracy=(positive > negative).float().mean(), margin=(positive - negative).mean())
        return scorer_loss(positive, negative)


SCORER_BUDGET = TrainConfig(steps=200, batch_size=8, lr=3e-4, warmup_steps=20, weight_decay=0.01, max_length=512,
                            scheduler="linear")  # official: 4 epochs of batch 4, warm-up 50, weight decay 0.01


def train_scorer(pairs: list[dict], model_name: str = "tiny", config: TrainConfig = SCORER_BUDGET,
                 device: str | None = None, seed: int = 0) -> TrainResult:
    """Train the contrastive scorer from `model_name` on `scorer_pairs`: -> `TrainResult` (model, history)."""
    from ..data import tokenize_pairs
    from ..reward import load_reward_model

    model, tokenizer = load_reward_model(model_name, device=device, seed=seed)
    config = replace(config, seed=seed)
    return train(model, tokenizer, pairs, config, trainer_cls=ScorerTrainer,
                 dataset=tokenize_pairs(tokenizer, pairs, config.max_length))


def score_questions(model, tokenizer, contexts: list[str], questions: list[str], batch_size: int = 64) -> list[float]:
    """The scorer's score (the head's logit; the official sigmoid of it ranks the same) of each
    (context, question): -> one float each."""
    from ..reward import reward_scores

    conversations = [scorer_record(c, q, q)["prompt"] + [{"role": "assistant", "content": f"Question: {q}"}]
                     for c, q in zip(contexts, questions)]
    return reward_scores(model, tokenizer, conversations, batch_size).tolist()


def keep_questions(pool: dict[str, list[Node]], scores: dict[str, list[float]], documents: list[dict],
                   threshold: float = ROUGE_THRESHOLD) -> dict[str, list[Node]]:
    """Per document: its pool ranked by score, near-duplicates dropped, `query_budget(document)` kept
    (`rouge_l_filter`); the kept nodes best first."""
    texts = {d["id"]: d["text"] for d in documents}
    return {doc: [nodes[i] for i in rouge_l_filter([n.question for n in nodes], scores[doc], threshold,
                                                    keep=query_budget(texts[doc]))]
            for doc, nodes in pool.items()}


# ----------------------------------------------------------------------------------------------------
# Answers: self-alignment with principles, bootstrapped few-shot (official step3_get_a.py, in English)

# The official English `ContextQA` signature (DSPy), its docstring the instruction.
ANSWER_INSTRUCTION = ("Given a contextual reference and a question, to return the answer, you must follow the "
                      "following principles.\nPrinciples\n1. You must use contextual references to answer "
                      "questions accurately and without error.\n2. When answering, it is necessary to imitate "
                      "the way humans answer questions.\n3. Please do not provide answers that violate ethics.")
ANSWER_FORMAT = ("Follow the following format.\n\nContext: Context reference\n\nQuestion: question\n\n"
                 "Answer: Your answer")
ANSWER_TAIL = "\n\nAnswer:"
# The official English judge (`gold_metric`): the teacher grades its own answer against a reference.
JUDGE_PROMPT = ("Determine whether another newly predicted answer accurately answered the question based on the "
                "context reference and reference answer, and return yes or no.\n[Context Reference]: {context}\n"
                "[Question]: {question}\n[Reference Answer]: {reference}\n[Predicted Answer]: {predicted}\n"
                "[yes/no]: ")


def answer_prompt(context: str, question: str, demos: list[dict] = ()) -> str:
    """The answer prompt, DSPy's layout of `ContextQA` (instruction, format, demos, the query); the reply is
    the answer. Official: a ChainOfThought module, which asks for "Reasoning: Let's think step by step" before
    the answer; plain `Predict` here (the tiny world's answers need no reasoning; a real model may want it)."""
    shots = [f"Context: {d['context']}\n\nQuestion: {d['question']}\n\nAnswer: {d['answer']}" for d in demos]
    return "\n\n---\n\n".join([ANSWER_INSTRUCTION, ANSWER_FORMAT, *shots,
                               f"Context: {context}\n\nQuestion: {question}{ANSWER_TAIL}"])


def clean_answer(reply: str) -> str:
    """The answer in a reply: up to a "---" line (the official LM stops at "---"), stripped."""
    return re.split(r"\n\s*---", reply)[0].strip()


def judged_yes(reply: str) -> bool | None:
    """The judge's verdict: True for yes, False for no (official: "yes" / "no" anywhere in the reply, yes
    first), None when it says neither (the official code stops with an assertion; here it counts as no)."""
    text = reply.lower()
    return True if "yes" in text else False if "no" in text else None


def bootstrap_demos(teacher: Teacher, examples: list[dict], max_bootstrapped: int = 3, max_labeled: int = 3,
                    **settings) -> tuple[list[dict], list[dict]]:
    """Self-improvement by bootstrapped few-shot (DSPy `BootstrapFewShot` as the official code configures it):
    the teacher answers each seed example (context, question, answer) with no demos, judges its own answer
    against the reference (`JUDGE_PROMPT`), and up to `max_bootstrapped` answers judged right become demos
    (with the teacher's own answer); examples not bootstrapped fill the demos up to `max_labeled` with their
    reference answers. -> (demos, log: one {question, answer, verdict} per example tried)."""
    answers = [clean_answer(a) for a in teacher.complete([answer_prompt(e["context"], e["question"]) for e in examples],
                                                           **settings)]
    verdicts = [judged_yes(v) for v in teacher.complete(
        [JUDGE_PROMPT.format(context=e["context"], question=e["question"], reference=e["answer"], predicted=a)
         for e, a in zip(examples, answers)], **settings)]
    log = [{"question": e["question"], "answer": a, "verdict": v} for e, a, v in zip(examples, answers, verdicts)]
    demos = [dict(e, answer=a) for e, a, v in zip(examples, answers, verdicts) if v][:max_bootstrapped]
    labeled = [e for e in examples if e["question"] not in {d["question"] for d in demos}]
    return demos + labeled[:max(0, max_labeled - len(demos))], log


def answer_questions(teacher: Teacher, nodes: list[Node], demos: list[dict] = (), **settings) -> list[str]:
    """The teacher's answer to each node's question from its context, with the bootstrapped `demos`."""
    replies = teacher.complete([answer_prompt(n.context, n.question, demos) for n in nodes], **settings)
    return [clean_answer(r) for r in replies]


def seed_examples(documents: list[dict] | None = None, n: int = 4) -> list[dict]:
    """Hand-checkable (context, question, answer) examples for `bootstrap_demos` (official: qa_examples_en.jsonl,
    written by hand): the last paragraph of each of the last `n` documents with its right question and answer."""
    documents = DOCUMENTS[-n:] if documents is None else documents[-n:]
    contexts = [d["paragraphs"][-1] for d in documents]
    return [{"context": c, "question": question_about(c), "answer": answer_from(c, question_about(c))}
            for c in contexts]


def answer_task() -> Task:
    """The answer prompt played from the documents' facts: the right reply is `answer_from(context,
    question)`; the mistake states one asked fact with a wrong value (or nothing but a guess)."""

    def match(messages: list[dict]) -> tuple[str, str] | None:
        text = last_user_text(messages)
        if not (text.startswith(ANSWER_INSTRUCTION) and text.endswith(ANSWER_TAIL)):
            return None
        query = text[:-len(ANSWER_TAIL)].rsplit("\n\n---\n\n", 1)[-1]
        context, sep, question = query.removeprefix("Context: ").rpartition("\n\nQuestion: ")
        return (context, question) if sep else None

    def answer(item: tuple[str, str]) -> str:
        return answer_from(*item)

    def mistake(item: tuple[str, str], rng: random.Random) -> str:
        right = answer_from(*item)
        values = re.findall(r"The (\w+) of \w+ is (\w+)\.", right)
        if not values:
            return f"I think it is {rng.choice(COLOURS)}."
        attribute, value = rng.choice(values)
        wrong = rng.choice([v for v in VALUES[attribute] if v != value])
        return right.replace(f" is {value}.", f" is {wrong}.", 1)

    return Task("augcon_answer", match, answer, mistake)


def judge_task() -> Task:
    """The judge prompt played exactly: "yes" when the predicted answer states the same facts as the
    reference (compared after `normalize`), else "no"; the mistake is the opposite verdict."""

    def match(messages: list[dict]) -> bool | None:
        text = last_user_text(messages)
        found = re.search(r"\[Reference Answer\]: (.*)\n\[Predicted Answer\]: (.*)\n\[yes/no\]: $", text, re.S)
        if not text.startswith(JUDGE_PROMPT[:60]) or found is None:
            return None
        return normalize(found.group(1)) == normalize(found.group(2))

    return Task("augcon_judge", match, lambda same: "yes" if same else "no",
                lambda same, rng: "no" if same else "yes")


register_task("augcon_answer", answer_task)
register_task("augcon_judge", judge_task)


# ----------------------------------------------------------------------------------------------------
# The whole pipeline, the baseline, the SFT records and the closed-book test


def question_pools(documents: list[dict], teacher: Teacher, **settings) -> dict[str, list[Node]]:
    """Step 1 for every document: `repeat_until_enough` on its text with the full split prompt."""
    return {d["id"]: repeat_until_enough(d["text"], teacher_ask(teacher, **settings)) for d in documents}


def sft_records(items: list[tuple[str, Node]], answers: list[str], source: str, gold: bool = True) -> list[dict]:
    """Conversational SFT records from (document id, node) items and their answers: question -> answer,
    without the context, as the paper fine-tunes. "meta" holds the document, the depth and the context, and
    with `gold` (the tiny world's documents) what the notebook measures: the question's gold quality
    (`question_quality`) and whether the answer is the right one from the context."""
    records = []
    for k, ((doc, node), answer) in enumerate(zip(items, answers)):
        meta = {"document": doc, "depth": node.depth, "context": node.context}
        if gold:
            meta |= {"quality": question_quality(node.question, node.context),
                     "answer_right": answer == answer_from(node.context, node.question)}
        records.append({"id": f"{source}-{k:04d}", "skill": "facts", "split": source, "meta": meta,
                        "messages": [{"role": "user", "content": node.question},
                                     {"role": "assistant", "content": answer}]})
    return records


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


def default_documents() -> list[dict]:
    """The tiny world's documents about Veloria (`sftkit.world.make_documents`), a fresh copy."""
    return make_documents()


def one_question_per_document(pools: dict[str, list[Node]], n: int) -> list[tuple[str, Node]]:
    """The baseline's questions: each document's root question (one question about the whole document, the
    first node of its pool), the documents taken in turn until there are `n` (document id, node) items, so
    the baseline has AugCon's size and every document as often as the others (within one). `answer_items`
    answers each distinct question once, as one call per document would."""
    roots = [(doc, nodes[0]) for doc, nodes in pools.items() if nodes and nodes[0].depth == 0]
    if not roots:
        raise SftkitError("one_question_per_document: no document has a root question")
    return [roots[k % len(roots)] for k in range(n)]


def answer_items(teacher: Teacher, items: list[tuple[str, Node]], demos: list[dict] = (), fresh: bool = False,
                 **settings) -> list[str]:
    """`answer_questions` for (document id, node) items, one teacher call per distinct (context, question). A
    repeated question gets the same answer, or, with `fresh`, its k-th repeat passes seed=k and draws a new
    one (as a sampling teacher would)."""
    seen: dict[tuple[str, str], int] = {}
    keys = []
    for _, node in items:
        key = (node.context, node.question)
        seen[key] = seen.get(key, -1) + 1
        keys.append((node, seen[key] if fresh else 0))
    distinct = list(dict.fromkeys((n.context, n.question, k) for n, k in keys))
    answer = {}
    for k in sorted({k for *_, k in distinct}):
        todo = [Node(c, q, 0, None) for c, q, kk in distinct if kk == k]
        for node, reply in zip(todo, answer_questions(teacher, todo, demos, **{**settings, "seed": k})):
            answer[node.context, node.question, k] = reply
    return [answer[n.context, n.question, k] for n, k in keys]


MAX_CHUNK = 500  # config.max_length: the official `load_data` cuts documents into pieces of at most 500 characters


def chunks(text: str, max_chars: int = MAX_CHUNK) -> list[str]:
    """`text` cut at sentence ends into pieces of at most `max_chars` characters (a longer sentence is a piece
    of its own), as the official `load_data` does, so that a split reply fits a teacher's output budget."""
    pieces, current = [], ""
    for sentence in re.split(r"(?<=[.!?。？！])\s+", text.strip()):
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    return pieces + [current] if current else pieces


def read_documents(path: str, max_chars: int = MAX_CHUNK) -> list[dict]:
    """Documents to generate from: a JSONL file of {"id", "text"} (or the official "context") records, each cut
    into `chunks` of at most `max_chars` characters ("id" gets "#k" for the k-th piece of a longer text); an
    `SftkitError` names the file and line of a bad record. Any `sftkit.io.read_records` format (chosen by the
    extension: .jsonl, .json, .csv, .parquet, a saved dataset), so a CSV is read as CSV, not as JSONL."""
    from ..io import check_records, read_records

    def text_of(record: dict) -> str:
        return record.get("text", record.get("context")) if isinstance(record, dict) else None

    def validate(record: dict) -> None:
        if not isinstance(text_of(record), str) or not text_of(record).strip():
            raise ValueError("expected a record with a non-empty string 'text' (or 'context')")

    documents = []
    located = read_records(path)
    check_records(located, validate)
    for k, (_, record) in enumerate(located):
        name = str(record.get("id", f"doc-{k:05d}"))
        pieces = chunks(text_of(record), max_chars)
        documents += [{"id": name if len(pieces) == 1 else f"{name}#{j}", "text": piece} for j, piece in enumerate(pieces)]
    if not documents:
        raise SftkitError(f"{path}: no documents")
    return documents


def read_examples(path: str) -> list[dict]:
    """Seed examples for `bootstrap_demos` (official qa_examples_en.jsonl): {context, question, answer} records in
    any `sftkit.io.read_records` format (JSONL, JSON, CSV, Parquet)."""
    from ..io import check_records, read_records

    def validate(record: dict) -> None:
        missing = [k for k in ("context", "question", "answer") if not isinstance(record.get(k), str)]
        if missing:
            raise ValueError(f"field {missing[0]!r} is missing or not a string")

    located = read_records(path)
    check_records(located, validate)
    return [record for _, record in located]


def add_generate_arguments(parser) -> None:
    """`sftkit generate augcon`'s own inputs (the CLI adds the teacher's and the Config's)."""
    parser.add_argument("--documents", default=None, help="JSONL of {id, text} documents (default: the tiny world's)")
    parser.add_argument("--scorer-model", default="tiny", help="the model the scorer starts from ('tiny' knows only "
                        "the tiny world's characters: for text of your own, a real model)")
    parser.add_argument("--examples", default=None, help="JSONL of {context, question, answer} seed examples for "
                        "the answer step's demos (default: the tiny world's)")


def data_from_args(args, teacher: Teacher, config: Config) -> list[dict]:
    """`make_data` with `sftkit generate augcon`'s arguments."""
    documents = read_documents(args.documents) if args.documents else default_documents()
    examples = read_examples(args.examples) if args.examples else None
    return make_data(documents, teacher, config, scorer_model=args.scorer_model, examples=examples, seed=args.seed,
                     device=args.device)


def make_data(documents: list[dict], teacher: Teacher, config: Config | None = None, scorer_model: str = "tiny",
              examples: list[dict] | None = None, seed: int = 0, device: str | None = None,
              question_settings: dict | None = None, answer_settings: dict | None = None,
              log: Callable[[str], None] = print) -> list[dict]:
    """AugCon end to end (official augcon.sh: step 1, step 2, step 3): question pools by Context-Split-Tree,
    the scorer's pairs and training, scoring, the ROUGE-L filter, bootstrapped demos and the answers ->
    conversational SFT records (question -> answer). `examples` ({context, question, answer} records) seed the
    demos (default: the tiny world's `seed_examples`). `question_settings` go with the split prompts (default:
    the official temperature 0.85), `answer_settings` with the answer and judge prompts (default: greedy, as
    DSPy's default). With the tiny world's documents (they carry "facts"),
    each record's meta also holds the gold quality of its question and whether its answer is right."""
    asking = {"temperature": 0.85} if question_settings is None else question_settings
    answering = {"temperature": 0.0} if answer_settings is None else answer_settings
    pools = question_pools(documents, teacher, **asking)
    pool = [n for nodes in pools.values() for n in nodes]
    log(f"step 1: {len(pool)} questions from {len(documents)} documents")
    pairs = scorer_pairs(pool, teacher, seed=seed, **asking)
    if not pairs:
        raise SftkitError("no scorer pair: the teacher's replies to the weakened prompts did not parse")
    config = config or Config()
    budget = replace(SCORER_BUDGET, steps=config.scorer_steps, lr=config.scorer_lr)
    result = train_scorer(pairs, scorer_model, budget, device=device, seed=seed)
    tokenizer = load_model(scorer_model, tokenizer_only=True)
    scores = score_questions(result.model, tokenizer, [n.context for n in pool], [n.question for n in pool])
    by_doc, start = {}, 0
    for doc, nodes in pools.items():
        by_doc[doc], start = scores[start:start + len(nodes)], start + len(nodes)
    kept = keep_questions(pools, by_doc, documents, config.rouge_threshold)
    items = [(doc, n) for doc, nodes in kept.items() for n in nodes]
    log(f"step 2: scorer trained on {len(pairs)} pairs; {len(items)} questions kept")
    demos, _ = bootstrap_demos(teacher, examples or seed_examples(), **answering)
    answers = answer_items(teacher, items, demos, **answering)
    log(f"step 3: {len(answers)} answers ({len(demos)} demos)")
    return sft_records(items, answers, "augcon", gold=all("facts" in d for d in documents))
