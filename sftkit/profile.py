"""Where a notebook's wall time goes: seconds per category, and the table of them in docs/profile.md.

Categories: "train" (`train.train`, an online loop's `run`, sftmix's dynamics run, FrozenLake's
`train_policy`), "generate" (`evaluate.generate`: evaluation's leftovers, online rollouts, a transformers
teacher's replies, sampled data), "evaluate" (`evaluate.evaluate`, FrozenLake's `evaluate_policy`), "sandbox"
(`sandbox.run_program`, `run_many`) and "teacher" (`Teacher.complete`). A notebook's "other" is its wall time
minus all of these: imports, data, plots, widgets, kernel start.

Nesting: the innermost open section wins, so no second counts twice. Time goes to the section entered most
recently and still open: `generate` called from `evaluate` counts as "generate" and "evaluate" keeps the rest
(its teacher-forced pass); a probe that evaluates during training counts as "evaluate"; a transformers
teacher's decoding counts as "generate" and "teacher" keeps its cache. Across threads the same rule runs over
all open sections together (the most recently entered one, whichever thread holds it), so the categories
never add up to more than the wall time (`run_many`'s two workers do not count twice).

Off unless started: with no profile running, a marked call costs one global lookup and one extra call.
`start()` begins one in this process. A process that imports this module with `SFTKIT_PROFILE=PATH` in its
environment starts one at once and, when it exits, writes it to PATH as JSON, atomically (`sftkit tutorial
--profile` sets it for each notebook's kernel; `SFTKIT_PROFILE=p.json sftkit train ...` works as well). The
variable is then removed from the environment, so processes it starts (sandboxed programs, say) never write
over it; their time counts in whichever section started them.

`profile_doc` (pure) renders the table and merges a partial run into the rows already there.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path

from .io import REPO_DIR, atomic_write_text

CATEGORIES = ("train", "generate", "evaluate", "sandbox", "teacher")
COLUMNS = ("total", *CATEGORIES, "other")  # minutes, as docs/profile.md shows them
PATH_ENV = "SFTKIT_PROFILE"
DOC = REPO_DIR / "docs" / "profile.md"  # what `sftkit tutorial --profile` writes
MARKER = "profile"  # docs/profile.md holds the table between <!-- profile:start --> and <!-- profile:end -->


class Profile:
    """Wall seconds per category in one process (innermost open section wins; see the module docstring)."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.started = clock()
        self.seconds = dict.fromkeys(CATEGORIES, 0.0)
        self._open: list[list[str]] = []  # open sections in the order they were entered, across threads
        self._since = self.started  # when the current section last became current
        self._lock = threading.Lock()

    def _settle(self, now: float) -> None:
        """Charge the time since the last change to the section that was current."""
        if self._open:
            category = self._open[-1][0]
            self.seconds[category] = self.seconds.get(category, 0.0) + now - self._since
        self._since = now

    @contextlib.contextmanager
    def section(self, category: str):
        token = [category]  # a new list each time: removed by identity, wherever it sits now
        with self._lock:
            self._settle(self.clock())
            self._open.append(token)
        try:
            yield
        finally:
            with self._lock:
                self._settle(self.clock())
                for i in range(len(self._open) - 1, -1, -1):
                    if self._open[i] is token:
                        del self._open[i]
                        break

    def report(self) -> dict:
        """{"seconds": {category: s}, "wall_s": seconds since the start}, open sections counted up to now."""
        with self._lock:
            now = self.clock()
            self._settle(now)
            return {"seconds": dict(self.seconds), "wall_s": now - self.started}


_active: Profile | None = None
_OFF = contextlib.nullcontext()  # reusable: what `section` returns while no profile runs


def start(clock=time.perf_counter) -> Profile:
    """Begin profiling this process (a running profile is replaced); returns the new one."""
    global _active
    _active = Profile(clock)
    return _active


def stop() -> Profile | None:
    """End profiling; returns the profile that ran (None if none did)."""
    global _active
    profile, _active = _active, None
    return profile


def active() -> Profile | None:
    return _active


def section(category: str):
    """`with section("train"): ...` counts the block's wall time as `category` while a profile runs."""
    profile = _active
    return _OFF if profile is None else profile.section(category)


def timed(category: str):
    """Decorator: every call of the function is a `section(category)`."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            profile = _active
            if profile is None:
                return fn(*args, **kwargs)
            with profile.section(category):
                return fn(*args, **kwargs)
        return wrapper
    return decorate


def kernel_device() -> str | None:
    """The device sftkit picks here, when torch is already loaded (None otherwise: nothing is imported for it)."""
    if "torch" not in sys.modules:
        return None
    from .model import pick_device

    return pick_device(None)


def write(profile: Profile, path: str | os.PathLike) -> None:
    """The profile's report, with this process's device, as JSON at `path` (atomically)."""
    atomic_write_text(path, json.dumps({**profile.report(), "device": kernel_device()}) + "\n")


def _write_at_exit(profile: Profile, path: str, pid: int) -> None:
    if os.getpid() != pid:  # a forked child exiting through atexit: the parent writes
        return
    try:
        write(profile, path)
    except Exception as e:  # at exit, one line rather than a traceback
        print(f"sftkit.profile: could not write {path}: {e}", file=sys.stderr)


def start_from_env(environ=os.environ, register=atexit.register) -> Profile | None:
    """With `SFTKIT_PROFILE=PATH` in `environ`: start profiling, remove the variable (children of this
    process do not inherit it) and have the profile written to PATH at exit. Runs when this module is imported."""
    path = environ.pop(PATH_ENV, None)
    if not path:
        return None
    profile = start()
    register(_write_at_exit, profile, path, os.getpid())
    return profile


def read(path: str | os.PathLike) -> dict:
    """A profile written by `write` ({} when the file is missing or unreadable: a notebook that never imported
    an instrumented module, or whose kernel was killed, has all its time in "other")."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ----------------------------------------------------------------------------------------------------
# docs/profile.md


def notebook_row(total_s: float, kernel: dict) -> dict[str, float]:
    """Minutes per column for one notebook: `total_s` (its wall time as the runner measured it, kernel start
    included) and each category from its kernel's profile (`read`); "other" is the rest (never below 0)."""
    seconds = kernel.get("seconds", {}) if kernel else {}
    row = {"total": total_s / 60}
    row.update({c: float(seconds.get(c, 0.0)) / 60 for c in CATEGORIES})
    row["other"] = max(0.0, row["total"] - sum(row[c] for c in CATEGORIES))
    return row


def machine_line(cores: int, devices) -> str:
    """E.g. "2 CPU cores, device cpu" (devices: what the kernels reported; None entries are left out)."""
    found = sorted({d for d in devices if d})
    return f"{cores} CPU cores, device {'/'.join(found) if found else 'unknown'}"


NO_ROWS = "No measured rows yet: run `sftkit tutorial --profile` (every notebook) to fill this table."


def parse_rows(block: str) -> dict[str, dict]:
    """The notebook rows of a table rendered by `render_table` ({} for anything else): {name: {column: minutes,
    "measured": text}}. The "all" row is left out (it is recomputed)."""
    rows = {}
    header = ["notebook", *COLUMNS, "measured"]
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) != len(header) or cells[0] in ("notebook", "**all**"):
            continue
        try:
            values = {c: float(v) for c, v in zip(COLUMNS, cells[1:-1])}
        except ValueError:
            continue  # the |---| line, or a cell edited by hand
        rows[cells[0]] = {**values, "measured": cells[-1]}
    return rows


def render_table(rows: dict[str, dict], note: str) -> str:
    """Markdown: one row per notebook (sorted by name) in minutes, an "all" row of the sums, then `note`."""
    lines = ["| notebook | " + " | ".join(COLUMNS) + " | measured |", "|---" * (len(COLUMNS) + 2) + "|"]
    for name in sorted(rows):
        row = rows[name]
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.1f}" for c in COLUMNS) + f" | {row['measured']} |")
    sums = " | ".join(f"**{sum(r[c] for r in rows.values()):.1f}**" for c in COLUMNS)
    lines.append(f"| **all** | {sums} | |")
    return "\n".join(lines) + "\n\n" + note


DOC_HEADER = """# Where the notebooks' time goes

Minutes per notebook, by what the time was spent on, so that the next speed step starts from data. Written by
`sftkit tutorial --profile` (a run of every notebook replaces the table; a run of some notebooks, e.g.
`sftkit tutorial --profile notebooks/07_ppo.ipynb`, replaces only their rows), from each notebook's kernel
(`sftkit.profile`): **train** (training runs and online loops), **generate** (autoregressive decoding:
evaluation's generated answers, online rollouts, sampled data, a local teacher's replies), **evaluate** (the
rest of evaluation, e.g. its teacher-forced pass), **sandbox** (programs run by `sftkit.sandbox`), **teacher**
(teacher requests apart from their decoding), **other** (the notebook's wall time, kernel start included,
minus all of these: imports, data, plots, widgets). A call inside another counts once, for the innermost
(`generate` inside `evaluate` is generate; an evaluation during training is evaluate). Each row says when and
where it was measured.

"""


def profile_doc(old: str | None, new_rows: dict[str, dict], complete: bool, when: str, machine: str) -> str:
    """The text of docs/profile.md after a profiled run. `old`: its current text (None: no file yet; its text
    outside the table is kept). `new_rows`: {notebook name: `notebook_row`} from this run, each stamped with
    `when` and `machine`. `complete`: the run covered every notebook, so its rows replace the table; otherwise
    they replace only their own rows and the others stay."""
    start, end = f"<!-- {MARKER}:start -->", f"<!-- {MARKER}:end -->"
    if not old or start not in old or end not in old:
        old = f"{DOC_HEADER}{start}\n{NO_ROWS}\n{end}\n"
    before, rest = old.split(start, 1)
    block, after = rest.split(end, 1)
    stamped = {name: {**row, "measured": f"{when}, {machine}"} for name, row in new_rows.items()}
    rows = stamped if complete else {**parse_rows(block), **stamped}
    names = ", ".join(n.removesuffix(".ipynb") for n in sorted(new_rows))
    note = (f"Last run: {when}, every notebook ({machine}), one notebook at a time." if complete else
            f"Last run: {when}, {names} ({machine}); the other rows are from earlier runs.")
    table = render_table(rows, note) if rows else NO_ROWS
    return f"{before}{start}\n{table}\n{end}{after}"


def write_doc(path: str | os.PathLike, new_rows: dict[str, dict], complete: bool, when: str, machine: str) -> None:
    """`profile_doc` applied to the file at `path`, written atomically."""
    path = Path(path)
    old = path.read_text() if path.exists() else None
    atomic_write_text(path, profile_doc(old, new_rows, complete, when, machine))


start_from_env()
