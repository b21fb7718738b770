"""AugCon: context-driven SFT data across granularities (Quan, "Automatically Generating Numerous Context-Driven
SFT Data for LLMs across Diverse Granularity", arXiv 2405.16579; code quanshr/AugCon, MIT). Spec:
METHODS.md section 6. Built so far (the first part; no notebook, no CLI yet):

    Context-Split-Tree   `context_split_tree(context, ask)`: ask the strong LLM (a teacher) for one question
                         about the whole context and a split of it into two sub-contexts; record the node and
                         recurse on both halves (official `step1_cst.py`), with the official stopping rules;
                         `repeat_until_enough` re-runs it on the root until there are ~1.15 x the wanted
                         queries (official `step1_gen_q.gen_q`). The prompt is the official English one
                         (`prompt_en.instruct_CST`), its weakened variants for the scorer's negatives too.
    scripted task        `split_task`: the tiny world's `ScriptedTeacher` plays the split prompt on documents
                         about Veloria (`sftkit.world.make_documents`), registered as "augcon_split".
    ROUGE-L filter       `rouge_l_filter`: rank by score, drop near-duplicates of a kept query (ROUGE-L F above
                         0.7), keep ~len(context)/35 (official `step2_scorer.filter_queries`), with Google's
                         `rouge-score` package (the official code uses `rouge_chinese` on jieba tokens, for
                         Chinese text).
    scorer loss          `scorer_loss`: -mean sigmoid(s_pos) + mean sigmoid(s_neg) (official `Scorer.forward`).

Not built yet: the scorer model (LM + linear head on the last token) and its training on (full-prompt,
weakened-prompt) query pairs, the answers (self-alignment with the three principles, bootstrapped few-shot
self-improvement), `sftkit generate augcon`, and the notebook.

Deliberate differences from the official code: the reply parser reads multi-line sub-contexts (the official
regex has no DOTALL, so a sub-context ends at its first line break, and the documents here have paragraphs);
and `repeat_until_enough` stops after `max_rounds` rounds (the official loop never stops when every root
reply fails to parse).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..teachers import Task, Teacher, last_user_text, register_task
from ..world import make_documents
from ..world.documents import sentences

# Official settings (quanshr/AugCon config.py and step1/step2).
MIN_CHARS = 20  # config.min_length: a context of at most this many characters is not asked about
MIN_QUESTION_CHARS = 5  # step1_cst: a question shorter than this ends the branch
TRIES = 4  # step1_cst: asks again up to 4 times while the reply cannot be parsed
CHARS_PER_QUERY = 35  # config.character_per_piece: one query per 35 characters of context
OVERSHOOT = 1.15  # step1_gen_q.gen_q: generate 1.15 x the wanted queries, for the filter to drop
ROUGE_THRESHOLD = 0.7  # config.rouge_thres

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
    question = match.group(1).strip().split("\n")[-1].strip()
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
# The scripted teacher's split task (the tiny world's stand-in for a strong LLM)

PROMPT_TAIL = "\n\nQuestion: "


def split_context(context: str) -> tuple[str, str]:
    """Two halves of `context` at the paragraph boundary (or, for one paragraph, the sentence boundary) nearest
    its middle; a single sentence is returned twice (no split, so the tree stops there)."""
    paragraphs = [p for p in context.split("\n\n") if p.strip()]
    units, glue = (paragraphs, "\n\n") if len(paragraphs) > 1 else (sentences(context), " ")
    if len(units) < 2:
        return context, context
    cut = min(range(1, len(units)), key=lambda k: abs(len(glue.join(units[:k])) - len(context) / 2))
    return glue.join(units[:cut]), glue.join(units[cut:])


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def question_about(context: str, facts: list[dict], towns: list[str]) -> str:
    """A question about the whole of `context`, given the facts it states and the towns it names (in order):
    one fact -> "What is the ruler of Tobeka?"; several of one town -> "What are the colour and ruler of
    Tobeka?"; several towns -> "What does the passage tell about Tobeka and Gamo?"."""
    fact_towns = list(dict.fromkeys(f["town"] for f in facts))
    if len(fact_towns) == 1:
        attributes = list(dict.fromkeys(f["attribute"] for f in facts))
        verb = "is" if len(attributes) == 1 else "are"
        return f"What {verb} the {_and(attributes)} of {fact_towns[0]}?"
    named = fact_towns or towns
    return f"What does the passage tell about {_and(named)}?" if named else "What does this passage describe?"


def split_task(documents: list[dict] | None = None) -> Task:
    """The split prompt (`cst_prompt`, any instruction and examples) on text from `documents` (default:
    `make_documents()`), played from the documents' recorded facts: the question asks about every fact the
    context states (`question_about`), and the halves are `split_context`'s. The mistake is a malformed reply
    (no split, one half only, or wrongly labelled halves) that `parse_split` rejects."""
    documents = make_documents() if documents is None else documents
    facts = list({f["sentence"]: f for d in documents for f in d["facts"]}.values())
    towns = [d["town"] for d in documents]

    def match(messages: list[dict]) -> str | None:
        text = last_user_text(messages)
        if not (text.startswith((CST_INSTRUCTION, CST_TERSE_INSTRUCTION)) and text.endswith(PROMPT_TAIL)):
            return None
        return text[:-len(PROMPT_TAIL)].rsplit("---\n\nContext: ", 1)[-1]

    def answer(context: str) -> str:
        stated = sorted((f for f in facts if f["sentence"] in context), key=lambda f: context.index(f["sentence"]))
        named = sorted((t for t in towns if re.search(rf"\b{t}\b", context)), key=context.index)
        first, second = split_context(context)
        return f"{question_about(context, stated, named)}\n\nContext 1: {first}\n\nContext 2: {second}"

    def mistake(context: str, rng) -> str:
        first, second = split_context(context)
        return rng.choice([answer(context).partition("\n")[0],
                           f"What is this about?\n\nContext 1: {first}",
                           f"What is this about?\n\nPart 1: {first}\n\nPart 2: {second}"])

    return Task("augcon_split", match, answer, mistake)


register_task("augcon_split", split_task)


# ----------------------------------------------------------------------------------------------------
# Filtering and the scorer's loss


def rouge_l_filter(queries: list[str], scores: list[float], threshold: float = ROUGE_THRESHOLD,
                   keep: int | None = None) -> list[int]:
    """Indices of the queries kept, best score first (official `step2_scorer.filter_queries`): in order of
    decreasing score (ties: input order), drop a query whose ROUGE-L F with an already kept one exceeds
    `threshold`; stop at `keep` kept (official: `query_budget(context)`; None: no limit). ROUGE-L from
    `rouge-score` (lower-cased words)."""
    from rouge_score import rouge_scorer

    if len(queries) != len(scores):
        raise ValueError(f"rouge_l_filter: {len(queries)} queries but {len(scores)} scores")
    rouge = rouge_scorer.RougeScorer(["rougeL"])
    kept: list[int] = []
    for i in sorted(range(len(queries)), key=lambda i: -scores[i]):
        if keep is not None and len(kept) >= keep:
            break
        if all(rouge.score(queries[j], queries[i])["rougeL"].fmeasure <= threshold for j in kept):
            kept.append(i)
    return kept


def scorer_loss(s_pos, s_neg):
    """The contrastive scorer's loss on raw scores (logits of the linear head), s_pos [P], s_neg [N] -> []:
    -mean(sigmoid(s_pos)) + mean(sigmoid(s_neg)) (official `Scorer.forward`, whose head ends in a sigmoid).
    Its minimum, -1, is every positive scored far above every negative."""
    return -s_pos.sigmoid().mean() + s_neg.sigmoid().mean()
