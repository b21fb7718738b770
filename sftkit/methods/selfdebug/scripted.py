"""The tiny world's scripted teacher task for LEDEX: the self-debugging prompt played from the gold programs (it
explains the diff between the wrong and the gold program and returns the gold one, or, at its error rate, "fixes"
another place of the wrong code). `tasks()` is the task list a `ScriptedTeacher` needs for LEDEX's data.
"""
from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

from ...teachers import Task, last_user_text, world_question_task
from ...world import make_splits, normalize, program_records
from ...world.bugs import explain, mutants
from .method import task_prompt
from .prompts import DEBUG_PROMPT, DEBUG_RE, format_reply

# ----------------------------------------------------------------------------------------------------
# The scripted teacher's task


@dataclass(frozen=True)
class DebugItem:
    """What the scripted teacher reads from a `debug_prompt` it knows: the task's gold program, the wrong code
    and the failing call the feedback names (None when it names none)."""
    gold: str
    wrong: str
    call: str | None


@functools.cache
def known_programs() -> dict[str, str]:
    """Gold program of every code task the scripted teacher knows, by normalized task text (every split)."""
    records = [r for split in make_splits().values() for r in split if r["skill"] == "code"]
    return {normalize(task_prompt(r)): r["answer"] for r in records + program_records("train") + program_records("test")}


def read_debug_prompt(messages: list[dict]) -> DebugItem | None:
    """The `DebugItem` of a conversation whose last user turn is a `debug_prompt` about a known task, else None."""
    text = last_user_text(messages)
    found = DEBUG_RE.search(text) if text.startswith(DEBUG_PROMPT.split("{")[0]) else None
    gold = known_programs().get(normalize(found.group("task"))) if found else None
    if not gold:
        return None
    call = re.match(r"(\w+\(.*?\)) (?:returned|raised) ", found.group("feedback"))
    return DebugItem(gold, found.group("code"), call.group(1) if call else None)


def gold_reply(item: DebugItem) -> str:
    """The right reply: `explain` the difference from the gold program, then the gold program."""
    return format_reply(explain(item.wrong, item.gold, item.call), item.gold)


def wrong_reply(item: DebugItem, rng: random.Random) -> str:
    """A wrong refinement: the wrong code with another place "fixed" (one of its own mutants, never the gold
    program), explained as if that were the bug; the code unchanged when it has no mutant."""
    options = [m.program for m in mutants(item.wrong) if m.program != item.gold]
    fixed = rng.choice(options) if options else item.wrong
    return format_reply(explain(item.wrong, fixed, item.call), fixed)


def debug_task() -> Task:
    """The self-debugging prompt played by the scripted teacher: gold reply, or its wrong refinement as mistake."""
    return Task("selfdebug_fix", read_debug_prompt, gold_reply, wrong_reply)


def tasks() -> list[Task]:
    """The scripted teacher's tasks for LEDEX's data, in the order it tries them: the world's questions, then the
    self-debugging prompt (the order notebook 11 has always used, so its teacher's replies are unchanged)."""
    return [world_question_task(), debug_task()]
