"""`sftkit classroom`: student copies keep hints and checkers and drop solutions; grading runs the checkers."""
import csv
import json
import subprocess

import nbformat
import pytest

from sftkit import classroom
from sftkit.cli import main
from sftkit.io import REPO_DIR

NOTEBOOKS = REPO_DIR / "notebooks"


def repo_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO_DIR,
                          capture_output=True, text=True).stdout


def text_of(path) -> str:
    return "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def test_release_keeps_hints_and_checkers_and_drops_every_solution(tmp_path, capsys):
    before = repo_state()
    assert main(["classroom", "release", str(tmp_path / "class"), str(NOTEBOOKS / "01_sft.ipynb"),
                 str(NOTEBOOKS / "10_skillmix.ipynb")]) == 0
    assert repo_state() == before  # nothing written into the repository
    out = tmp_path / "class"
    assert sorted(p.name for p in out.iterdir()) == ["01_sft.ipynb", "10_skillmix.ipynb", "README.md"]
    for name, checker in [("01_sft", 'check_loss(my_ntp_loss, "sft")'),
                          ("10_skillmix", 'check_piece(my_needless, "skillmix-needless")')]:
        original, copy = text_of(NOTEBOOKS / f"{name}.ipynb"), text_of(out / f"{name}.ipynb")
        hints, solutions = original.count("<summary>Hint</summary>"), original.count("<summary>Solution</summary>")
        assert hints >= 5 and solutions >= 5
        assert copy.count("<summary>Hint</summary>") == hints  # every hint kept
        assert "<summary>Solution</summary>" not in copy and copy.count("</details>") == hints  # solutions gone
        nbformat.validate(nbformat.read(out / f"{name}.ipynb", as_version=4))  # opens in Jupyter
        cells = json.loads((out / f"{name}.ipynb").read_text())["cells"]
        checks = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
        answers = [c for c in cells if c["metadata"].get("nbgrader", {}).get("solution")]
        assert len(checks) == len(answers) == 1 and checker in "".join(checks[0]["source"])
        assert "raise NotImplementedError()" in "".join(answers[0]["source"])
        assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells if c["cell_type"] == "code")
    # the code of a solution is gone, not just its folding
    assert "F.cross_entropy(logits[keep], labels[keep])" in text_of(NOTEBOOKS / "01_sft.ipynb")
    assert "F.cross_entropy(logits[keep], labels[keep])" not in text_of(out / "01_sft.ipynb")
    readme = (out / "README.md").read_text()
    assert "nbgrader" in readme and "| 01_sft | 6 | 6 | 1 |" in readme
    assert "01_sft: 6 solutions removed, 6 hints kept, 1 graded exercises" in capsys.readouterr().out


def test_the_answer_cells_follow_their_exercise_and_the_rest_of_its_markdown_follows_them():
    """Notebook 07's exercise cell goes on into the next section: the copy cuts it after the exercise."""
    copy, counts = classroom.student_copy(json.loads((NOTEBOOKS / "07_ppo.ipynb").read_text()), "07_ppo")
    cells = copy["cells"]
    at = next(i for i, c in enumerate(cells) if c.get("id") == "07_ppo-ex4-answer")
    assert "Check yourself" in "".join(cells[at - 1]["source"]) and cells[at + 1]["id"] == "07_ppo-ex4-check"
    assert "".join(cells[at + 2]["source"]).startswith("## Run it from the command line")
    assert "<summary>Hint</summary>" in "".join(cells[at - 1]["source"])
    assert counts == {"solutions": 4, "hints": 4, "answer_cells": 1, "checker_cells": 1}


def test_every_method_notebook_has_one_graded_exercise():
    found = {p.stem: classroom.exercises(p) for p in sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))}
    graded = {stem for stem, items in found.items() if items}
    assert graded == set(found) - {"00_world", "12_leaderboard"} and all(len(v) <= 1 for v in found.values())
    assert [e.checks for e in found["05_dpo_rpo"]] == [['check_loss(my_dpo_loss, "dpo")', 'check_loss(my_rpo_loss, "rpo")']]


RIGHT = """import torch.nn.functional as F
from sftkit.data import IGNORE


def my_ntp_loss(logits, labels):
    logits, labels = logits[:, :-1], labels[:, 1:]
    keep = labels != IGNORE
    return F.cross_entropy(logits[keep], labels[keep])
"""
WRONG = RIGHT.replace("logits, labels = logits[:, :-1], labels[:, 1:]", "pass  # no shift")


def submit(release_dir, folder, answer: str | None, extra: str = ""):
    """A student's folder: the released 01_sft with `answer` in its answer cell (None: left as released)."""
    notebook = json.loads((release_dir / "01_sft.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution") and answer is not None:
            cell["source"] = answer + extra
    folder.mkdir(parents=True)
    (folder / "01_sft.ipynb").write_text(json.dumps(notebook))


def test_grade_writes_pass_and_fail_rows(tmp_path, capsys):
    released = tmp_path / "release"
    classroom.release(released, [NOTEBOOKS / "01_sft.ipynb"])
    subs = tmp_path / "submissions"
    submit(released, subs / "alice", RIGHT)
    submit(released, subs / "bob", WRONG, extra='\nprint("PASS")\ncheck_loss(my_ntp_loss, "sft")\n')
    submit(released, subs / "carol", None)  # the stub: its function raises NotImplementedError
    (subs / "dave").mkdir()  # handed in nothing
    before = repo_state()
    assert main(["classroom", "grade", str(subs), "--output", str(tmp_path / "grades.csv")]) == 0
    assert repo_state() == before
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [(r["student"], r["notebook"], r["exercise"], r["result"], r["checks_passed"]) for r in rows] == [
        ("alice", "01_sft", "6", "PASS", "1/1"), ("bob", "01_sft", "6", "FAIL", "0/1"),
        ("carol", "01_sft", "6", "FAIL", "0/1"), ("dave", "01_sft", "6", "MISSING", "0/1")]
    assert rows[0]["detail"].startswith("PASS") and rows[1]["detail"].startswith("FAIL")
    assert "shift" in rows[1]["detail"]  # the checker's hint for this mistake
    assert "NotImplementedError" in rows[2]["detail"] and rows[3]["detail"] == "01_sft.ipynb not handed in"
    out = capsys.readouterr().out
    assert "alice: 1/1 exercises pass" in out and "dave: 0/1 exercises pass" in out


def test_grade_reports_a_missing_answer_and_a_timeout(tmp_path):
    released = tmp_path / "release"
    classroom.release(released, [NOTEBOOKS / "01_sft.ipynb"])
    subs = tmp_path / "subs"
    submit(released, subs / "eve", "import time\ntime.sleep(600)\n")
    notebook = json.loads((subs / "eve" / "01_sft.ipynb").read_text())
    notebook["cells"] = [c for c in notebook["cells"] if not c["metadata"].get("nbgrader")]
    (subs / "frank").mkdir()
    (subs / "frank" / "01_sft.ipynb").write_text(json.dumps(notebook))
    (subs / "grace").mkdir()
    (subs / "grace" / "01_sft.ipynb").write_text(json.dumps(json.loads((released / "01_sft.ipynb").read_text())))
    grace = json.loads((subs / "grace" / "01_sft.ipynb").read_text())
    for cell in grace["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = "def my_ntp_loss(logits, labels)\n    return 0\n"  # a syntax error
    (subs / "grace" / "01_sft.ipynb").write_text(json.dumps(grace))
    rows = classroom.grade(subs, tmp_path / "g.csv", timeout=15)
    assert [(r["student"], r["result"]) for r in rows] == [("eve", "TIMEOUT"), ("frank", "MISSING"), ("grace", "ERROR")]
    assert "SyntaxError" in rows[2]["detail"]


@pytest.mark.slow
def test_every_worked_solution_passes_the_grader(tmp_path):
    """The grader is sound on the instructor's own answers: each notebook's worked solution, pasted into the
    released answer cell, gets PASS (about 8 s per notebook: one fresh interpreter each)."""
    released = tmp_path / "release"
    classroom.release(released)
    student = tmp_path / "subs" / "teacher"
    student.mkdir(parents=True)
    for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        solutions = {number: code for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "markdown"
                     for number, code in classroom.solution_blocks("".join(cell["source"]))}
        notebook = json.loads((released / path.name).read_text())
        for cell in notebook["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
            if grade_id.endswith("-answer"):
                cell["source"] = solutions[grade_id.rsplit("-ex", 1)[1].removesuffix("-answer")]
        (student / path.name).write_text(json.dumps(notebook))
    rows = classroom.grade(tmp_path / "subs", tmp_path / "g.csv")
    assert len(rows) == 11 and {r["result"] for r in rows} == {"PASS"}, rows
