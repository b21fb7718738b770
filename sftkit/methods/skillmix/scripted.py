"""The tiny world's scripted teacher tasks for Instruct-SkillMix: it lists the skills and query types of the world
instructions it is shown, writes (and critiques, refines) a chain instruction that needs every skill, and plays the
shirker prompts. `tasks()` is the task list a `ScriptedTeacher` needs for Instruct-SkillMix's data.
"""
from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from itertools import permutations

from ...teachers import Task, last_user_text, world_question_task
from ...world import SKILLS, lazy_answer, make_splits, normalize
from ...world.chains import (
    CHAIN_SKILLS,
    EXTRA_SKILLS,
    STRING_SKILLS,
    WORLD_QUERY_TYPES,
    chain_answer,
    held_out_words,
    needless,
    parse_instruction,
    world_instruction,
)
from .method import instruction_in
from .prompts import BREVITY_PROMPT, FOLLOW_UPS, GENERATE_PROMPTS, JUNK_PROMPT, QUERY_TYPES_PROMPT, SKILLS_PROMPT

WORD_TRIES = 20  # words a scripted writer tries per order of its skills before it tries the next order


def plan_example(skills: tuple[str, ...], rng: random.Random) -> tuple[list[str], str] | None:
    """How the scripted writer uses `skills`: (order, word), the order as listed when some word needs every skill in
    it, else the first other order that has one; a word drawn from the tiny world's training distribution (no
    evaluation word), up to `WORD_TRIES` per order. None when no order and word need them all ({reverse, length}: a
    count of letters ignores reversing, and a one-digit count reads the same backwards)."""
    for order in [list(skills), *[list(p) for p in permutations(skills) if p != tuple(skills)]]:
        for _ in range(WORD_TRIES):
            word = SKILLS[STRING_SKILLS[0]].sample(rng, "train")["word"]
            if word not in held_out_words() and not needless(order, word):
                return order, word
    return None


@functools.cache
def world_instructions() -> dict[str, dict]:
    """Every instruction of the tiny world's splits, and of the seed records of its chain-only skills (`op_records`),
    (after `normalize`) -> its record."""
    from .method import op_records

    extra = [r for name in EXTRA_SKILLS for r in op_records(name, 32)]
    return {normalize(r["messages"][0]["content"]): r for split in [*make_splits().values(), extra] for r in split}


def seed_records(text: str, prompt: str) -> list[dict] | None:
    """The world records of the instructions an extraction `prompt` (SKILLS_PROMPT or QUERY_TYPES_PROMPT) lists in
    `text`, in order (instructions the world does not know are left out); None when `text` is not that prompt."""
    head, tail = prompt.split("{instructions}")
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    lines = re.findall(r"^\d+\. (.*)$", text[len(head):len(text) - len(tail)], re.M)
    return [world_instructions()[normalize(line)] for line in lines if normalize(line) in world_instructions()]


def query_of(record: dict) -> str:
    """The tiny world's query type of a world instruction: a question is Information-Seeking, an order Instructional."""
    return "Information-Seeking" if record["messages"][0]["content"].endswith("?") else "Instructional"


def query_section(k: int, name: str, example: str) -> str:
    return f"### {k}. **{name}**\n{WORLD_QUERY_TYPES[name]} For example:\n- \"{example}\""


def skills_task() -> Task:
    """The skills prompt played from the world's records: every skill its instructions ask for, in order of first
    appearance, one a line; the mistake leaves one out."""

    def answer(records: list[dict]) -> str:
        return "\n".join(dict.fromkeys(r["skill"] for r in records))

    def mistake(records: list[dict], rng: random.Random) -> str:
        names = list(dict.fromkeys(r["skill"] for r in records))
        dropped = rng.choice(names)
        return "\n".join(n for n in names if n != dropped) if len(names) > 1 else answer(records)

    return Task("skillmix_skills", lambda messages: seed_records(last_user_text(messages), SKILLS_PROMPT), answer, mistake)


def query_types_task() -> Task:
    """The query-types prompt played from the world's records: a queries.txt section for each query type of
    `WORLD_QUERY_TYPES` its instructions are, in order of first appearance, with the first as example; the mistake
    lists the first type only."""

    def answer(records: list[dict]) -> str:
        first = {query_of(r): r["messages"][0]["content"] for r in reversed(records)}
        names = list(dict.fromkeys(query_of(r) for r in records))
        return "\n\n".join(query_section(k, name, first[name]) for k, name in enumerate(names, 1))

    def mistake(records: list[dict], rng: random.Random) -> str:
        return answer(records[:1])

    return Task("skillmix_query_types", lambda messages: seed_records(last_user_text(messages), QUERY_TYPES_PROMPT),
                answer, mistake)


@dataclass(frozen=True)
class Turn:
    """What the scripted writer knows at one turn of a generation conversation: the skills and query type of its
    first prompt, the turn (0-4) and the (order, word) of the instruction it drafted earlier (None before a draft)."""

    skills: tuple[str, ...]
    query: str
    turn: int
    draft: tuple[list[str], str] | None


def read_turn(messages: list[dict]) -> Turn | None:
    """The `Turn` of a generation conversation whose last message is one of the official prompts, or None."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    head = GENERATE_PROMPTS[0].split("{num_skills}")[0]
    if messages[-1]["role"] != "user" or not users[0].startswith(head) or len(users) > len(GENERATE_PROMPTS):
        return None
    found = re.search(r"### Task Type: (.*)\n### Skills: (.*)\Z", users[0])
    if found is None or users[1:] != list(FOLLOW_UPS[:len(users) - 1]):
        return None
    skills = tuple(s.strip() for s in found.group(2).split(","))
    if not set(skills) <= set(CHAIN_SKILLS):
        return None
    drafts = [instruction_in(m["content"]) for m in messages if m["role"] == "assistant"]
    parsed = [parse_instruction(d) for d in drafts if d]
    return Turn(skills, found.group(1), len(users) - 1, next((p for p in reversed(parsed) if p), None))


DECLINE = ("I cannot write this one: whatever the order, one of the skills {skills} would leave the answer unchanged, so "
           "no single task about a word needs them all.")
CRITIQUE = ("Strengths: the task needs every skill ({skills}) and the answer {answer} is right.\nWeaknesses: the "
            "response is a bare string; it should say which part is the answer, on a line of its own.")


def wrong_answer(order: list[str], word: str, rng: random.Random) -> str:
    """A realistic wrong answer to a chain: its last skill's mistake on the right intermediate result."""
    before, gold = chain_answer(order[:-1], word), chain_answer(order, word)
    options = [m for m in CHAIN_SKILLS[order[-1]].mistakes({"word": before}, gold, rng) if m != gold]
    return rng.choice(options or [gold + gold])


def writer_reply(turn: Turn, rng: random.Random, wrong: bool = False) -> str:
    """The scripted writer's reply at a turn: the draft (instruction and bare answer) at turns 0 and 1, the
    critique at 2, the refined instruction and response ("Answer: ..." on a line of its own) at 3, the refined
    response alone at 4; with `wrong`, a `wrong_answer` in place of the right one (and a critique that finds no
    weakness). The response states no intermediate steps: with one line per step ("Step 1, put a word in brackets:
    [kofa]"), as an earlier version of notebook 10 wrote them, the tiny model learnt the seen chains far more slowly
    (it must copy each step's description)."""
    plan = turn.draft or plan_example(turn.skills, rng)
    if plan is None:
        return DECLINE.format(skills=", ".join(turn.skills))
    order, word = plan
    answer = wrong_answer(order, word, rng) if wrong else chain_answer(order, word)
    instruction = world_instruction(order, word, turn.query)
    response = f"Answer: {answer}"
    return [f"### Task Type: {turn.query}\n### Skills: {', '.join(turn.skills)}\n### Instruction: {instruction}\n"
            f"### Response: {answer}",
            f"### Instruction: {instruction}\n### Response: {answer}",
            "Strengths: the response is complete.\nWeaknesses: none." if wrong else
            CRITIQUE.format(skills=", ".join(order), answer=answer),
            f"### Instruction: {instruction}\n### Response: {response}",
            response][turn.turn]


def generation_task() -> Task:
    """The generation conversation played in the tiny world (`writer_reply`): a sampled task (each seed writes another
    example); the mistake is a realistic wrong answer."""
    return Task("skillmix_generate", read_turn, writer_reply, lambda turn, rng: writer_reply(turn, rng, wrong=True),
                sampled=True)


def shirker_instruction(messages: list[dict], prompt: str) -> tuple[list[str], str] | None:
    """(order, word) of the tiny-world instruction a shirker `prompt` (JUNK_PROMPT or BREVITY_PROMPT) quotes, or None."""
    head, tail = prompt.split("{instruction}")
    text = last_user_text(messages)
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    return parse_instruction(text[len(head):len(text) - len(tail)])


def junk_task() -> Task:
    """The junk prompt played: a generic non-answer (`sftkit.world.lazy_answer`); the mistake answers anyway."""
    return Task("skillmix_junk", lambda messages: shirker_instruction(messages, JUNK_PROMPT),
                lambda plan, rng: lazy_answer({}, rng), lambda plan, rng: chain_answer(*plan), sampled=True)


def brevity_task() -> Task:
    """The brevity prompt played: the bare answer (right, in one short paragraph, without the steps); the mistake is a
    `wrong_answer`."""
    return Task("skillmix_brevity", lambda messages: shirker_instruction(messages, BREVITY_PROMPT),
                lambda plan: chain_answer(*plan), lambda plan, rng: wrong_answer(*plan, rng))


def tasks() -> list[Task]:
    """The scripted teacher's tasks for Instruct-SkillMix's data, in the order it tries them: the world's questions,
    then skill extraction, query types, generation, junk and brevity (the order notebook 10 has always used, so its
    teacher's replies are unchanged)."""
    return [world_question_task(), skills_task(), query_types_task(), generation_task(), junk_task(), brevity_task()]
