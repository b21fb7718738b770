"""Student copies of the notebooks and grading of their "Check yourself" exercises (`sftkit classroom`).

`release(dest, notebooks)` writes student copies: every worked solution (a markdown
`<details><summary>Solution</summary> ... </details>` block) is removed, every hint
(`<details><summary>Hint</summary>`) stays, and each "Check yourself" exercise gets, right after its markdown,
an answer cell (the solution's imports and function signatures, each body replaced by nbgrader's stub
`# YOUR CODE HERE` / `raise NotImplementedError()`) and a locked checker cell (the solution's own
`check_loss(...)` / `check_piece(...)` calls). The cells carry nbgrader's cell metadata (schema 3: answer
cells `solution: true`, checker cells `grade: true, locked: true`), so the copies also open in nbgrader's
tools. Outputs are cleared unless `keep_outputs` (then widget views are dropped: they break on reopening).

`grade(submissions, output)` reads one folder per student, and for each student notebook and graded exercise
runs the student's answer cell and then the *instructor's* checker calls (taken from the source notebook, not
from the student's copy) in a fresh Python process with a timeout, and writes one CSV row per (student,
notebook, exercise): PASS, FAIL, ERROR (the answer raised), TIMEOUT or MISSING (no answer cell found).
Executing whole notebooks would take minutes each; the checkers need only the answer cell, which the
released stub makes self-contained (its imports are given).

Layer 6: imports only `io` (the checkers run in the child process).
"""
from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .io import REPO_DIR, SftkitError, shown

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
SOLUTION = re.compile(r"\n*<details><summary>Solution</summary>(.*?)</details>[ \t]*\n?", re.S)
HINT = "<details><summary>Hint</summary>"
CODE = re.compile(r"```python\n(.*?)```", re.S)
EXERCISE_NUMBER = re.compile(r"\*\*(\d+)\.")
CHECKERS = ("check_loss", "check_piece")
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TIMEOUT_S = 120.0
STUDENT_NOTE = ("**Student copy** (made by `sftkit classroom release`): the worked solutions are removed; the "
                "hints stay. Each \"Check yourself\" exercise has an answer cell (replace `raise "
                "NotImplementedError()` with your code; keep the imports you need in that cell: it is graded on "
                "its own) and a checker cell below it that prints PASS or FAIL. Do not edit the checker cells.")


@dataclass
class Exercise:
    """One "Check yourself" exercise of a notebook: its number, the solution's code, the checker calls."""

    notebook: str       # stem, e.g. "01_sft"
    number: str         # "6", as printed in bold in the exercise
    imports: list[str]  # the solution's top-level imports other than sftkit.checks
    functions: list[str]  # stubs: "def name(args):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    names: list[str]    # the functions the student writes
    checks: list[str] = field(default_factory=list)  # e.g. 'check_loss(my_ntp_loss, "sft")'

    @property
    def grade_id(self) -> str:
        return f"{self.notebook}-ex{self.number}"

    def answer_source(self) -> str:
        parts = ["\n".join(self.imports)] if self.imports else []
        return "\n\n\n".join(parts + self.functions) + "\n"

    def checker_source(self) -> str:
        used = [name for name in CHECKERS if any(c.startswith(name + "(") for c in self.checks)]
        return f"from sftkit.checks import {', '.join(used)}\n\n" + "\n".join(self.checks) + "\n"


def is_checker_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id in CHECKERS)


def parse_exercise(notebook: str, number: str, code: str) -> Exercise | None:
    """The exercise a solution's code makes, or None when the code calls no checker (an open exercise)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    checks = [ast.get_source_segment(code, node) for node in tree.body if is_checker_call(node)]
    if not checks:
        return None
    imports, functions, names = [], [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.ImportFrom) and node.module == "sftkit.checks"):
            imports.append(ast.get_source_segment(code, node))
        elif isinstance(node, ast.FunctionDef):
            names.append(node.name)
            functions.append(f"def {node.name}({ast.unparse(node.args)}):\n    " + STUB.replace("\n", "\n    "))
    return Exercise(notebook, number, imports, functions, names, checks)


def solution_blocks(text: str) -> list[tuple[str, str]]:
    """(exercise number, the block's Python code) for each Solution block of a markdown text, in order; the
    number is the last bold `**N.` before the block ("?" when none)."""
    blocks = []
    for match in SOLUTION.finditer(text):
        if "<details>" in match.group(1):
            raise SftkitError("a Solution block contains another <details> block: cannot tell where it ends")
        numbers = EXERCISE_NUMBER.findall(text[:match.start()])
        blocks.append((numbers[-1] if numbers else "?", "\n".join(CODE.findall(match.group(1)))))
    return blocks


def cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def as_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def exercises(path: str | os.PathLike) -> list[Exercise]:
    """The graded ("Check yourself") exercises of an instructor notebook, in order."""
    notebook = json.loads(Path(path).read_text())
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for number, code in solution_blocks(cell_text(cell)):
                exercise = parse_exercise(Path(path).stem, number, code)
                if exercise:
                    found.append(exercise)
    return found


def nbgrader_metadata(grade_id: str, solution: bool) -> dict:
    """nbgrader's cell metadata (schema 3): an autograded answer cell, or a locked autograder test cell."""
    return {"nbgrader": {"grade": not solution, "grade_id": grade_id, "locked": not solution,
                         "schema_version": 3, "solution": solution, "task": False,
                         **({} if solution else {"points": 1})}}


def code_cell(source: str, metadata: dict, cell_id: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": metadata, "outputs": [],
            "source": as_lines(source)}


def strip_outputs(cell: dict, keep: bool) -> None:
    if cell["cell_type"] != "code":
        return
    if not keep:
        cell["outputs"], cell["execution_count"] = [], None
        return
    outputs = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        data.pop("application/vnd.jupyter.widget-view+json", None)
        if out.get("output_type") in ("display_data", "execute_result") and not data:
            continue  # nothing left but a widget view
        outputs.append(out)
    cell["outputs"] = outputs


def tidy(markdown: str) -> str:
    """Markdown without blank lines at its ends; the intro's promise of worked solutions reworded."""
    markdown = markdown.strip("\n")
    return markdown.replace("a hint and a worked solution", "a hint").replace(
        "Hints and worked solutions are folded", "Hints are folded")


def student_copy(notebook: dict, stem: str, keep_outputs: bool = False) -> tuple[dict, dict]:
    """(the student copy of a notebook, counts: solutions removed, hints kept, answer and checker cells added)."""
    counts = {"solutions": 0, "hints": 0, "answer_cells": 0, "checker_cells": 0}
    cells = [{"cell_type": "markdown", "id": "sftkit-student-copy", "metadata": {}, "source": as_lines(STUDENT_NOTE)}]
    for cell in notebook["cells"]:
        cell = json.loads(json.dumps(cell))  # a copy
        strip_outputs(cell, keep_outputs)
        cells.append(cell)
        if cell["cell_type"] != "markdown":
            continue
        text = cell_text(cell)
        blocks = solution_blocks(text)
        if not blocks:
            counts["hints"] += text.count(HINT)
            continue
        counts["solutions"] += len(blocks)
        counts["hints"] += text.count(HINT)
        # the text without its solutions, cut after each graded exercise: its answer and checker cells go there
        pieces, kept, position = [], "", 0
        for match, (number, code) in zip(SOLUTION.finditer(text), blocks):
            kept = kept + text[position:match.start()].rstrip("\n") + "\n\n"
            position = match.end() + len(text[match.end():]) - len(text[match.end():].lstrip("\n"))
            exercise = parse_exercise(stem, number, code)
            if exercise is not None:
                pieces, kept = pieces + [tidy(kept), exercise], ""
        pieces.append(tidy(kept + text[position:]))
        cell["source"] = as_lines(pieces[0])
        for k, piece in enumerate(pieces[1:], 1):
            if isinstance(piece, Exercise):
                for kind, source in (("answer", piece.answer_source()), ("check", piece.checker_source())):
                    grade_id = f"{piece.grade_id}-{kind}"
                    cells.append(code_cell(source, nbgrader_metadata(grade_id, kind == "answer"), grade_id))
                counts["answer_cells"] += 1
                counts["checker_cells"] += 1
            elif piece:  # the cell's text after the exercise, e.g. the next section
                cells.append({"cell_type": "markdown", "id": f"{cell.get('id', 'md')}-{k}"[:64], "metadata": {},
                              "source": as_lines(piece)})
    if not any("id" in c for c in notebook["cells"]):  # nbformat < 4.5: no cell ids
        cells = [{k: v for k, v in c.items() if k != "id"} for c in cells]
    return {**notebook, "cells": cells}, counts


RELEASE_README = """# Student copies of the sftkit notebooks

Made by `sftkit classroom release` from the instructor's notebooks. What changed from the originals:

- **Worked solutions removed** (the folded "Solution" blocks); the folded **hints stay**.
- Each **"Check yourself"** exercise has an **answer cell** right after it: the imports and function
  signatures you need, each body `# YOUR CODE HERE` / `raise NotImplementedError()`. Replace that line with
  your code. Keep everything the answer needs inside that cell: it is graded on its own.
- Below it, a **checker cell** (`check_loss(...)` or `check_piece(...)`) prints PASS, or FAIL with the first
  value that differs and a hint. Do not edit it: grading runs the instructor's copy of these calls.
- {outputs}

Open the notebooks with the course's environment (sftkit installed, e.g. `.venv/bin/jupyter lab`) and run
them from the top. Hand back the folder with your notebooks; the instructor grades it with
`sftkit classroom grade SUBMISSIONS_DIR --output grades.csv` (one folder per student in SUBMISSIONS_DIR).

Why not nbgrader itself: the notebooks keep their solutions as folded Markdown so that a reader of the full
tutorial can open them in place, whereas nbgrader wants solutions as code cells between `### BEGIN SOLUTION`
and `### END SOLUTION`, plus a course directory and a database. These copies follow nbgrader's conventions
instead (its `# YOUR CODE HERE` / `raise NotImplementedError()` stub, its cell metadata: answer cells
`solution: true`, locked checker cells `grade: true`, outputs cleared as `nbgrader generate_assignment` does),
with no new dependency, and grading needs only the checkers sftkit already has.

Notebooks in this release:

{table}
"""


def release(dest: str | os.PathLike, notebooks: list[str | os.PathLike] | None = None,
            keep_outputs: bool = False) -> dict[str, dict]:
    """Write student copies of `notebooks` (default: every notebook) and a README.md into `dest`; returns the
    counts per notebook (solutions removed, hints kept, answer and checker cells added)."""
    paths = [Path(p) for p in notebooks] if notebooks else sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SftkitError(f"{missing[0]}: no such notebook")
    dest = Path(dest)
    if dest.resolve() == NOTEBOOKS_DIR.resolve():
        raise SftkitError(f"{shown(dest)}: that is the instructor's notebooks folder; choose another DIR")
    dest.mkdir(parents=True, exist_ok=True)
    report = {}
    for path in paths:
        copy, counts = student_copy(json.loads(path.read_text()), path.stem, keep_outputs)
        (dest / path.name).write_text(json.dumps(copy, indent=1, ensure_ascii=False) + "\n")
        report[path.stem] = counts
    rows = ["| notebook | solutions removed | hints kept | graded exercises |", "|---|---|---|---|"]
    rows += [f"| {stem} | {c['solutions']} | {c['hints']} | {c['answer_cells']} |" for stem, c in report.items()]
    outputs = ("Outputs are **kept** from the instructor's run (widget views removed: run the cells to use the "
               "explorers)." if keep_outputs else
               "Outputs are **cleared**: run the cells to see them (the instructor's copies, with outputs, are "
               "in the repository's notebooks/).")
    (dest / "README.md").write_text(RELEASE_README.format(outputs=outputs, table="\n".join(rows)))
    return report


# ----------------------------------------------------------------------------------------------------
# Grading

# Runs in a fresh interpreter: argv = answer file, checks (JSON list), result file. The student's own top-level
# checker calls are skipped (the instructor's are run instead); each checker's printed line is kept.
HARNESS = r"""
import ast, contextlib, io, json, sys, traceback
answer_path, checks, result_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
from sftkit.checks import check_loss, check_piece
result = {"status": "ERROR", "passed": 0, "lines": []}
try:
    source = open(answer_path).read()
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                 and isinstance(n.value.func, ast.Name) and n.value.func.id in ("check_loss", "check_piece"))]
    space = {"__name__": "__student__"}
    exec(compile(tree, "answer cell", "exec"), space)
except BaseException as e:
    result["lines"] = [f"the answer cell raised {type(e).__name__}: {e}".strip()]
else:
    space.update(check_loss=check_loss, check_piece=check_piece)
    for call in checks:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                ok = eval(call, space)
        except BaseException as e:
            ok, line = False, f"{call}: raised {type(e).__name__}: {e}"
        else:
            line = out.getvalue().strip().splitlines()[0] if out.getvalue().strip() else call
        result["passed"] += ok is True
        result["lines"].append(line)
    result["status"] = "PASS" if result["passed"] == len(checks) else "FAIL"
with open(result_path, "w") as f:
    json.dump(result, f)
"""

FIELDS = ["student", "notebook", "exercise", "result", "checks_passed", "checks", "detail"]


def answer_cell(notebook: dict, exercise: Exercise) -> str | None:
    """The student's answer to `exercise`: the code cell with its nbgrader grade_id, else the last code cell
    that defines every function the exercise asks for (a cell pasted anew loses its metadata)."""
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    for cell in code:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == exercise.grade_id + "-answer":
            return cell_text(cell)
    defining = [cell_text(c) for c in code
                if all(re.search(rf"^def {name}\(", cell_text(c), re.M) for name in exercise.names)]
    return defining[-1] if defining else None


def run_exercise(source: str, exercise: Exercise, timeout: float = TIMEOUT_S) -> dict:
    """Run one answer against the instructor's checker calls in a child process: {status, passed, lines}."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join([str(REPO_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    with tempfile.TemporaryDirectory(prefix="sftkit-grade-") as tmp:
        answer, result = Path(tmp) / "answer.py", Path(tmp) / "result.json"
        answer.write_text(source)
        try:
            proc = subprocess.run([sys.executable, "-c", HARNESS, str(answer), json.dumps(exercise.checks),
                                   str(result)], cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "TIMEOUT", "passed": 0, "lines": [f"no result within {timeout:g} s"]}
        if not result.is_file():
            tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            return {"status": "ERROR", "passed": 0, "lines": [f"the grading process ended without a result: {tail}"]}
        return json.loads(result.read_text())


def grade(submissions: str | os.PathLike, output: str | os.PathLike, source: str | os.PathLike = NOTEBOOKS_DIR,
          timeout: float = TIMEOUT_S) -> list[dict]:
    """Grade every student folder of `submissions` (its notebooks named as in `source`) and write the CSV
    `output`: one row per (student, notebook, exercise), for every notebook with graded exercises that any
    student handed in (MISSING for a student who did not). Returns the rows."""
    submissions, source = Path(submissions), Path(source)
    if not submissions.is_dir():
        raise SftkitError(f"{shown(submissions)}: no such folder (expected one folder per student)")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise SftkitError(f"{shown(submissions)}: no student folders in it")
    # the assignment: every source notebook with graded exercises that at least one student handed in
    handed_in = {p.name for student in students for p in student.glob("*.ipynb")}
    graded = {p.name: exercises(p) for p in sorted(source.glob("[0-9]*.ipynb")) if p.name in handed_in}
    rows = []
    for student in students:
        for name, items in graded.items():
            path, notebook, error = student / name, {}, None
            if not path.is_file():
                error = f"{name} not handed in"
            else:
                try:
                    notebook = json.loads(path.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    error = f"not a readable notebook: {e}"
            for exercise in items:
                answer = answer_cell(notebook, exercise)
                if answer is None:
                    result = {"status": "MISSING", "passed": 0,
                              "lines": [error or f"no answer cell defining {', '.join(exercise.names)}"]}
                else:
                    result = run_exercise(answer, exercise, timeout)
                rows.append({"student": student.name, "notebook": Path(name).stem, "exercise": exercise.number,
                             "result": result["status"], "checks_passed": f"{result['passed']}/{len(exercise.checks)}",
                             "checks": "; ".join(exercise.checks), "detail": " | ".join(result["lines"])})
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows
