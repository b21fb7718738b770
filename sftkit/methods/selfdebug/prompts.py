"""LEDEX's prompt and reply format. The paper publishes no code, so there is no official text to copy: the prompt is
ours, one short user turn that teacher and student both get (a one-line task with its record fits the tiny model's
512 positions), and the reply format ("Explanation: ..." then "Fixed code:") follows the paper's description of a
self-debugging reply: an explanation of the wrong code, then the refined code.
"""
from __future__ import annotations

import re

# ----------------------------------------------------------------------------------------------------
# The prompt and the reply format (their parser: `parse_reply`)

DEBUG_PROMPT = ("Fix the code. Reply \"Explanation: ...\" then \"Fixed code:\".\n"
                "Task: {task}\nCode:\n{code}\nFeedback: {feedback}")
DEBUG_RE = re.compile(r"Task: (?P<task>.*?)\nCode:\n(?P<code>.*)\nFeedback: (?P<feedback>.*)\Z", re.S)


def debug_prompt(task: str, code: str, feedback: str) -> str:
    """The self-debugging prompt (one user turn; teacher and student get the same): task, wrong code, feedback."""
    return DEBUG_PROMPT.format(task=task, code=code, feedback=feedback)


def format_reply(explanation: str, code: str) -> str:
    """A reply in the format `parse_reply` reads: "Explanation: ...", then "Fixed code:" and the code."""
    return f"Explanation: {explanation}\nFixed code:\n{code}"
