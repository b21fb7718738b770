"""A teacher's data is a function of its settings alone (its rates, seed and explicit task list), never of what the
process happened to import: the same teacher built in two fresh processes with different imports gives byte-identical
replies, and `sftkit generate METHOD` writes byte-identical files from the command line and from Python.

Before the scripted teacher took an explicit task list, methods registered their tasks at import and the teacher's
identity (which seeds its draws) listed every registered task: 40 of 60 test prompts got other replies in a process
that had also imported augcon and selfdebug."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sftkit.io import REPO_DIR

REPLIES = """
import json, sys
{imports}
from sftkit.methods import augcon, selfdebug, skillmix
from sftkit.teachers import ScriptedTeacher
from sftkit.world import make_splits

prompts = [r["messages"][0]["content"] for r in make_splits()["test"][:60]]
code = selfdebug.one_line_tasks("train")[0]
prompts += [skillmix.skills_prompt(skillmix.default_seeds()[:6]),
            skillmix.first_prompt(["reverse", "spell"], {{"query_str": "Instructional", "query_type": "Instructional: x"}}),
            augcon.cst_prompt(augcon.default_documents()[0]["text"]),
            selfdebug.debug_prompt(selfdebug.task_prompt(code), selfdebug.mutants(code["answer"])[0].program,
                                   "f(0) returned 1, expected 2.")]
out = {{}}
for name, tasks in (("default", None), ("augcon", augcon.teacher_tasks()), ("skillmix", skillmix.teacher_tasks()),
                    ("selfdebug", selfdebug.teacher_tasks())):
    teacher = ScriptedTeacher(error_rate=0.5, laziness_rate=0.1, seed=0, tasks=tasks)
    out[name] = {{"identity": teacher.identity(), "replies": teacher.complete(prompts)}}
sys.stdout.write(json.dumps(out, sort_keys=True))
"""


def fresh_process(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_DIR, check=True, capture_output=True,
                          text=True).stdout


def test_the_same_teacher_replies_alike_whatever_was_imported():
    # one process imports the method packages only; the other first imports the CLI with every method (as
    # `sftkit generate` does) and the experiment module (as the notebooks do), in another order
    alone = fresh_process(REPLIES.format(imports=""))
    everything = fresh_process(REPLIES.format(imports="import sftkit.experiment\nfrom sftkit import cli\n"
                                                      "cli.all_methods()\nimport sftkit.methods.ppo"))
    assert alone == everything
    out = json.loads(alone)
    assert out["skillmix"]["identity"]["tasks"] == ["world_question", "skillmix_skills", "skillmix_query_types",
                                                   "skillmix_generate", "skillmix_junk", "skillmix_brevity"]
    assert out["default"]["identity"]["tasks"] == ["world_question"]
    # each method's tasks answer its own prompt (not the scripted teacher's "I cannot answer that")
    for k, name in enumerate(("skillmix", "skillmix", "augcon", "selfdebug"), 60):
        assert not out[name]["replies"][k].startswith("I cannot answer that"), name
        assert out["default"]["replies"][k].startswith("I cannot answer that"), name


# (method, the CLI's own arguments, Python that makes the same data from the same settings: the CLI's defaults are
# error rate 0.2, laziness 0.05, seed 0)
GENERATE = {
    "skillmix": (["--num-data", "40", "--shirker-fraction", "0.2"],
                 "records = m.make_data(None, teacher, m.Config(num_data=40, shirker_fraction=0.2), seed=0)"),
    "selfdebug": (["--max-tasks", "6"],
                  "records = m.make_data(m.one_line_tasks('train')[:6], teacher, m.Config(), seed=0)"),
    "augcon": (["--documents", "{docs}", "--scorer-steps", "2"],
               "records = m.make_data(m.read_documents({docs!r}), teacher, m.Config(scorer_steps=2), seed=0)"),
}


@pytest.mark.parametrize("method", list(GENERATE))
def test_generate_writes_the_same_file_from_the_cli_and_from_python(method, tmp_path):
    docs = tmp_path / "docs.jsonl"
    if method == "augcon":
        from sftkit.world import make_documents

        docs.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in make_documents()[:2]))
    arguments, python = GENERATE[method]
    cli_file, python_file = tmp_path / "cli.jsonl", tmp_path / "python.jsonl"
    subprocess.run([sys.executable, "-m", "sftkit.cli", "generate", method, "--output", str(cli_file),
                    *[a.format(docs=docs) for a in arguments]], cwd=REPO_DIR, check=True, capture_output=True)
    fresh_process(f"from sftkit.io import write_jsonl\nfrom sftkit.methods import {method} as m\n"
                  f"from sftkit.teachers import teacher_from\n"
                  f"teacher = teacher_from('scripted', 0.2, 0.05, 0, tasks=m.teacher_tasks())\n"
                  f"{python.format(docs=str(docs))}\nwrite_jsonl({str(python_file)!r}, records)\n")
    assert cli_file.read_bytes() == python_file.read_bytes()
    assert len(cli_file.read_text().splitlines()) > 0
