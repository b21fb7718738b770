"""Minutes per exercise: the compute of each exercise's worked solution, measured in the light profile.

For each notebook named (default: every notebook, 00-12), the committed .ipynb is
copied into a temporary directory and one code cell per worked solution of its Exercises section is appended
after its last cell (the ```python blocks of each folded `<details><summary>Solution</summary>`, in order, the
"Check yourself" exercise included). The copy runs with `sftkit.tutorial.run_notebook` (its own kernel,
`python3`) in the light profile (`SFTKIT_LIGHT=1`, `TQDM_DISABLE=1`, `MPLBACKEND=Agg`), so every solution
runs after the whole notebook, as a student who does the exercises in order would run it. Each solution's
seconds are nbclient's own timing record of its cell (`metadata.execution`: `iopub.execute_input` to
`shell.execute_reply`): the compute of the worked solution, not the time to read, think or write it.

"Trains a model" is measured, not guessed: a cell before the solutions registers torch's global optimizer-step
hook, and a small cell after each solution prints the steps taken since the last one (a `!sftkit train ...`
subprocess is not seen by the hook; such a solution is marked as training in a subprocess). A solution that
raises is recorded as ERROR with its one-line error; the notebook is not changed. Not run: solutions with no
Python code (prose answers), excerpts of a source file (code indented inside its fence), solutions that point
`MODEL_NAME` at a Hub model (they need a GPU and a download), and those named with `--skip`.

Nothing is written into the repository: results and model outputs of the run go to the temporary directory
(`SFTKIT_RESULTS`, seeded with a copy of `results/*.jsonl` so reuse of saved runs works as in a fresh clone,
and `SFTKIT_RUNS`), and the table is printed; `--output FILE` appends its rows to FILE (header once), so
separate invocations, one notebook each, build one table:

    flock /tmp/torch.lock env TQDM_DISABLE=1 MPLBACKEND=Agg PYTHONPATH=. .venv/bin/python \\
        benchmarks/exercise_minutes.py notebooks/01_sft.ipynb --skip 2,3,5 --output /tmp/exercises.md
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sftkit.classroom import SOLUTION, cell_text
from sftkit.io import REPO_DIR, REPO_RESULTS

NOTEBOOKS = ["00_world", "01_sft", "02_sftmix", "03_ift", "04_ift_frozenlake", "05_dpo_rpo", "06_crlft", "07_ppo",
             "08_superhf", "09_augcon", "10_skillmix", "11_selfdebug", "12_leaderboard"]
LIGHT_ENV = {"SFTKIT_LIGHT": "1", "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
FENCE = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^[ \t]*```", re.S | re.M)
# "**6. Check yourself: ...**", "**1.** Add a skill ...", or a list item "1. **Exploration.** Run ..."
HEADER = re.compile(r"^[ \t]*(?:\*\*(\d+)\.[ \t]*(.*?)\*\*|(\d+)\.[ \t]+\*\*(.*?)\*\*)(.*)$", re.M)
EXERCISES = re.compile(r"^#{1,3} Exercises[ \t]*$", re.M)
NEXT_SECTION = re.compile(r"^## ", re.M)
HUB_MODEL = re.compile(r"^MODEL_NAME\s*=\s*[\"'][^\"']+/", re.M)
SUBPROCESS_TRAIN = re.compile(r"^\s*!\s*sftkit train", re.M)
COUNTER = "_exercise_minutes_steps"
PRELUDE = (f"import torch.optim.optimizer as _optimizer\n{COUNTER} = [0]\n_optimizer.register_optimizer_step_post_hook("
           f"lambda *_: {COUNTER}.__setitem__(0, {COUNTER}[0] + 1))")
PROBE = (f"import json as _json\nprint(_json.dumps([{COUNTER}[0], globals().pop('_exit_code', None)]))\n"
         f"{COUNTER}[0] = 0")


@dataclass
class Solution:
    number: str   # as printed in bold, "?" when no header precedes the block
    title: str    # the bold title, else the start of the exercise's first line
    code: str     # the solution's Python blocks, dedented and joined ("" when it has none)
    not_run: str = ""  # why it is not run ("" when it runs)


def title_of(match: re.Match) -> tuple[str, str]:
    """(number, title) of a HEADER match: the bold title, else the start of the line after the bold number."""
    number, bold = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    if bold.strip():
        return number, f"**{bold.strip()}**"
    rest = match.group(5).strip()
    sentence = re.split(r"(?<=[.?!])\s+(?=[A-Z`])|(?<=:)\s", rest, maxsplit=1)[0]
    if len(sentence) > 70:
        sentence = sentence[:68].rsplit(" ", 1)[0]
        sentence += ("`" if sentence.count("`") % 2 else "") + "..."  # a code span cut open is closed
    return number, sentence


def solutions(notebook: dict) -> list[Solution]:
    """The worked solutions of a notebook's Exercises section (its markdown from an "Exercises" heading to the
    next "## " heading), in order, each with the number and title of the last exercise header before it."""
    text = "\n\n".join(cell_text(c) for c in notebook["cells"] if c["cell_type"] == "markdown")
    start = EXERCISES.search(text)
    if start is None:
        return []
    end = NEXT_SECTION.search(text, start.end())
    section = text[start.end():end.start() if end else len(text)]
    found = []
    for match in SOLUTION.finditer(section):
        headers = list(HEADER.finditer(section, 0, match.start()))
        number, title = title_of(headers[-1]) if headers else ("?", "")
        blocks, not_run = [], ""
        for fence in FENCE.finditer(match.group(1)):
            body = textwrap.dedent(fence.group(2))
            if len(fence.group(2).splitlines()[0]) - len(body.splitlines()[0]) > len(fence.group(1)):
                not_run = "an excerpt of a source file, not a notebook cell"
            blocks.append(body)
        code = "\n".join(blocks).strip()
        if not code:
            not_run = "no code"
        elif not not_run and HUB_MODEL.search(code):
            not_run = "sets `MODEL_NAME` to a Hub model (needs a GPU and a download)"
        elif not not_run and parameters_only(code):
            not_run = "sets a parameter; the exercise re-runs notebook cells by hand"
        found.append(Solution(number, title, code, not_run))
    return found


def parameters_only(code: str) -> bool:
    """True when the code only assigns upper-case names (a parameters-cell change)."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper()
                                                                  for t in s.targets) for s in body)


def code_cell(source: str, cell_id: str, may_raise: bool = True) -> dict:
    """A code cell to append; `may_raise`: its error is recorded and the run goes on (nbclient's tag)."""
    return {"cell_type": "code", "execution_count": None, "id": cell_id,
            "metadata": {"tags": ["raises-exception"] if may_raise else []}, "outputs": [], "source": source}


def seconds(cell: dict) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start, end = timing["iopub.execute_input"], timing["shell.execute_reply"]
    except KeyError:
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def error_line(cell: dict) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename')}: {value[0] if value else ''}".strip()
    return None


def probe_result(cell: dict) -> tuple[int, int | None]:
    text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    steps, exit_code = json.loads(text.strip().splitlines()[-1])
    return steps, exit_code


def measure(path: Path, skip: set[str], timeout: float) -> tuple[list[dict], float, float]:
    """Run the notebook with its solutions appended: one row per solution, the run's wall seconds (kernel start
    included) and the seconds of the notebook's own cells (their nbclient timing, summed)."""
    from sftkit.tutorial import Limits, run_notebook

    notebook = json.loads(path.read_text())
    found = solutions(notebook)
    rows = []
    with tempfile.TemporaryDirectory(prefix="exercise-minutes-") as tmp:
        tmp = Path(tmp)
        (tmp / "results").mkdir()
        for saved in REPO_RESULTS.glob("*.jsonl"):
            shutil.copy(saved, tmp / "results")
        copy = tmp / path.name
        cells = notebook["cells"]
        own = len(cells)
        cells.append(code_cell(PRELUDE, "exercise-minutes-prelude", may_raise=False))
        ran = []
        for i, s in enumerate(found):
            if s.not_run:
                continue
            if s.number in skip:
                s.not_run = "skipped (--skip: trains several models; over the time budget)"
                continue
            cells.append(code_cell(s.code, f"exercise-minutes-{i}"))
            cells.append(code_cell(PROBE, f"exercise-minutes-probe-{i}"))
            ran.append((s, len(cells) - 2))
        copy.write_text(json.dumps(notebook))
        env = {**LIGHT_ENV, "SFTKIT_RESULTS": str(tmp / "results"), "SFTKIT_RUNS": str(tmp / "runs"),
               "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
        wall = run_notebook(copy, Limits(notebook_timeout=timeout), env=env, clean=False)
        executed = json.loads(copy.read_text())["cells"]
    by_solution = {id(s): index for s, index in ran}
    for s in found:
        row = {"notebook": path.stem, "number": s.number, "title": s.title, "seconds": None, "trains": "",
               "note": s.not_run}
        if id(s) in by_solution:
            cell, probe = executed[by_solution[id(s)]], executed[by_solution[id(s)] + 1]
            steps, exit_code = probe_result(probe)
            row["seconds"] = seconds(cell)
            error = error_line(cell) or (f"a shell command exited with status {exit_code}" if exit_code else None)
            row["note"] = f"ERROR {error}" if error else ""
            subprocess = bool(SUBPROCESS_TRAIN.search(s.code))
            row["trains"] = (f"yes ({steps} optimizer steps" + (" and a `sftkit train` subprocess)" if subprocess else ")")
                             if steps else "yes (a `sftkit train` subprocess)" if subprocess else "no")
        elif s.not_run.startswith("skipped"):
            row["trains"] = "yes (not run)"
        rows.append(row)
    return rows, wall, sum(seconds(c) or 0.0 for c in executed[:own])


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


HEAD = ["| notebook | exercise | compute, light profile (s) | trains a model |", "|---|---|---|---|"]


def table_rows(rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        compute = "–" if r["seconds"] is None else "< 0.1" if r["seconds"] < 0.05 else f"{r['seconds']:.1f}"
        if r["note"]:
            compute = f"{compute} ({r['note']})" if r["seconds"] is not None else r["note"]
        exercise = f"{r['number']}. {r['title']}".replace("|", "\\|")
        lines.append(f"| {r['notebook']} | {exercise} | {compute} | {r['trains'] or '–'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: every notebook, 00-12)")
    parser.add_argument("--skip", default="", help="exercise numbers not to run, comma-separated (one notebook)")
    parser.add_argument("--output", help="append the table's rows to this markdown file (the header once)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one notebook may run (default 900)")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or [REPO_DIR / "notebooks" / f"{n}.ipynb" for n in NOTEBOOKS]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip and len(paths) != 1:
        parser.error("--skip names exercises of one notebook: give exactly one notebook")
    rows = []
    for path in paths:
        start = time.monotonic()
        found, wall, own = measure(path, skip, args.timeout)
        rows += found
        solved = sum(r["seconds"] or 0.0 for r in found)
        print(f"{path.stem}: {wall:.0f} s in all (kernel start included): the notebook's own cells {own:.0f} s, "
              f"the solutions {solved:.0f} s ({time.monotonic() - start:.0f} s with the copy)", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    footer = (f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores "
              f"({cpu_name()}, load {load:.1f} at the end), light profile, one notebook at a time.")
    print("\n".join(HEAD + table_rows(rows)) + "\n\n" + footer)
    if args.output:
        out = Path(args.output)
        new = not out.exists() or not out.read_text().strip()
        with out.open("a") as f:
            f.write("\n".join((HEAD if new else []) + table_rows(rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
