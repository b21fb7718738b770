"""The tiny world's scripted teacher tasks for AugCon: the split, answer and judge prompts played from the documents'
recorded facts (`sftkit.world.facts`). `tasks()` is the task list a `ScriptedTeacher` needs for AugCon's data.
"""
from __future__ import annotations

import random
import re

from ...teachers import Task, last_user_text, world_question_task
from ...world import normalize
from ...world.facts import TOWNS, VALUES, answer_from, facts_in, question_about, question_for, split_context, towns_in
from ...world.skills import ATTRIBUTES, COLOURS
from .prompts import ANSWER_INSTRUCTION, ANSWER_TAIL, CST_EXAMPLES, CST_FORMAT, CST_INSTRUCTION, CST_TERSE_INSTRUCTION, JUDGE_PROMPT

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


def flawed_question(context: str, flaw: str, rng: random.Random, phrasing: random.Random | None = None) -> str:
    """A realistic flawed question about `context`: "partial" asks for only its first fact (a single fact
    turns unanswerable), "unanswerable" for an attribute of a town it names that it does not state, "generic"
    for nothing in particular. `phrasing`: the rng that words it (`question_for`; None: the canonical wording)."""
    stated = facts_in(context)
    if flaw == "partial" and len(stated) >= 2:
        return question_for([(stated[0]["town"], stated[0]["attribute"])], phrasing)
    if flaw in ("partial", "unanswerable"):
        have = {(f["town"], f["attribute"]) for f in stated}
        missing = [(t, a) for t in towns_in(context) or TOWNS[:1] for a in ATTRIBUTES if (t, a) not in have]
        if missing:
            return question_for([rng.choice(missing)], phrasing)
    return rng.choice(GENERIC_QUESTIONS)


def split_reply(question: str, context: str) -> str:
    first, second = split_context(context)
    return f"{question}\n\nContext 1: {first}\n\nContext 2: {second}"


def split_task(flaw_rate: dict[str, float] | None = None) -> Task:
    """The split prompt (`cst_prompt`, the full one or a weakened one) played from the documents' facts: the
    question is `question_about` the context, worded at random (`question_for`'s phrasings; a sampled task: the
    reply's own generator words it, so another teacher seed or ask words it anew), and the halves are
    `split_context`'s. Under a weakened prompt the
    question is flawed (`flawed_question`) with probability `flaw_rate[kind]` (default `FLAW_RATE`), drawn from
    a hash of (prompt kind, context). The teacher's mistake (its `error_rate`) is, half the time, a
    malformed reply that `parse_split` rejects (no split, one half only, wrongly labelled halves) and otherwise
    a parseable reply with a flawed question: what the scorer and the filter are for."""
    rates = {**FLAW_RATE, **(flaw_rate or {})}

    def match(messages: list[dict]) -> tuple[str, str] | None:
        text = last_user_text(messages)
        kind = prompt_kind(text)
        return None if kind is None else (text[:-len(PROMPT_TAIL)].rsplit("---\n\nContext: ", 1)[-1], kind)

    def answer(item: tuple[str, str], rng: random.Random) -> str:
        context, kind = item
        draw = random.Random(f"{kind}|{context}")
        if draw.random() < rates[kind]:
            return split_reply(flawed_question(context, draw.choice(FLAWS), draw, rng), context)
        return split_reply(question_about(context, rng), context)

    def mistake(item: tuple[str, str], rng: random.Random) -> str:
        context, _ = item
        first, second = split_context(context)
        if rng.random() < 0.5:
            return split_reply(flawed_question(context, rng.choice(FLAWS), rng, rng), context)
        return rng.choice([question_about(context, rng), f"What is this about?\n\nContext 1: {first}",
                           f"What is this about?\n\nPart 1: {first}\n\nPart 2: {second}"])

    return Task("augcon_split", match, answer, mistake, sampled=True)


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


def tasks() -> list[Task]:
    """The scripted teacher's tasks for AugCon's data, in the order it tries them: the world's questions, then the
    split, answer and judge prompts (the order notebook 09 has always used, so its teacher's replies are unchanged)."""
    return [world_question_task(), split_task(), answer_task(), judge_task()]
