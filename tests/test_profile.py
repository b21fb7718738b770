"""sftkit.profile: seconds per category (innermost section wins), the kernel's JSON at exit, docs/profile.md."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from sftkit import profile
from sftkit.io import REPO_DIR


class Clock:
    """A clock that reads `now`, moved by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Ticker:
    """A clock that moves one second each time it is read."""

    def __init__(self):
        self.now = -1.0

    def __call__(self):
        self.now += 1
        return self.now


@pytest.fixture(autouse=True)
def no_profile_left_running():
    yield
    profile.stop()


def test_innermost_section_wins_and_no_second_counts_twice():
    clock = Clock()
    p = profile.Profile(clock)
    evaluating = p.section("evaluate")
    clock.now = 1
    evaluating.__enter__()
    clock.now = 3
    with p.section("generate"):  # generate inside evaluate: 3..7 is generate, not evaluate
        clock.now = 7
    clock.now = 8
    evaluating.__exit__(None, None, None)
    clock.now = 10
    with p.section("train"):
        clock.now = 12
        with p.section("evaluate"):  # a probe during training
            clock.now = 13
        clock.now = 20
    clock.now = 25
    report = p.report()
    # evaluate 1..3, 7..8 and 12..13; generate 3..7; train 10..12 and 13..20
    assert report["seconds"] == {"train": 9.0, "generate": 4.0, "evaluate": 4.0, "sandbox": 0.0, "teacher": 0.0}
    assert report["wall_s"] == 25.0


def test_a_section_open_at_report_time_counts_up_to_now():
    clock = Clock()
    p = profile.Profile(clock)
    with p.section("sandbox"):
        clock.now = 4
        assert p.report()["seconds"]["sandbox"] == 4.0
        clock.now = 6
    assert p.report()["seconds"]["sandbox"] == 6.0


def test_overlapping_sections_of_two_threads_count_the_wall_time_once():
    """Thread A opens at 0, thread B at 1, A closes at 2 (not the last one opened), B at 5: 5 seconds, not 7."""
    clock = Clock()
    p = profile.Profile(clock)
    a, b = p.section("sandbox"), p.section("teacher")
    a.__enter__()
    clock.now = 1
    b.__enter__()
    clock.now = 2
    a.__exit__(None, None, None)
    clock.now = 5
    b.__exit__(None, None, None)
    seconds = p.report()["seconds"]
    assert (seconds["sandbox"], seconds["teacher"]) == (1.0, 4.0)


def test_real_threads_never_add_up_to_more_than_the_wall_time():
    p = profile.start()

    def work():
        with profile.section("sandbox"):
            time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = p.report()
    assert 0.05 <= report["seconds"]["sandbox"] <= report["wall_s"]


def test_off_by_default_and_decorated_functions_are_unchanged():
    assert profile.active() is None
    assert profile.section("train") is profile.section("generate")  # one shared no-op

    @profile.timed("train")
    def f(x, y=1):
        """Doc."""
        return x + y

    assert f(1, y=2) == 3 and f.__name__ == "f" and f.__doc__ == "Doc."
    p = profile.start(Ticker())
    assert f(1) == 2
    assert p.report()["seconds"]["train"] == 1.0
    assert profile.stop() is p and profile.active() is None


def test_the_entry_points_are_instrumented(random_models):
    """evaluate -> generate on a real model: with a clock that ticks once per reading, evaluate holds the ticks
    before and after generate (2), generate its own (1)."""
    from sftkit.data import load_world
    from sftkit.evaluate import evaluate
    from sftkit.labs import frozenlake
    from sftkit.methods.sftmix import record_dynamics
    from sftkit.model import load_model
    from sftkit.online import OnlineLoop
    from sftkit.sandbox import run_many, run_program
    from sftkit.teachers import Teacher
    from sftkit.train import train

    for fn in (train, OnlineLoop.run, record_dynamics, frozenlake.train_policy, frozenlake.evaluate_policy, run_program,
               run_many, Teacher.complete):
        assert hasattr(fn, "__wrapped__"), fn.__qualname__
    model, tok = load_model(random_models["llama"])
    p = profile.start(Ticker())
    evaluate(model, tok, load_world("test")[:2], max_new_tokens=3, generate_all=True)
    seconds = p.report()["seconds"]
    assert (seconds["evaluate"], seconds["generate"]) == (2.0, 1.0)


def test_start_from_env_takes_the_variable_and_writes_at_exit(tmp_path):
    registered = []
    environ = {"SFTKIT_PROFILE": str(tmp_path / "nb.json"), "OTHER": "1"}
    p = profile.start_from_env(environ, register=lambda fn, *args: registered.append((fn, args)))
    assert p is profile.active() and environ == {"OTHER": "1"}  # children do not inherit it
    with profile.section("teacher"):
        pass
    (fn, args), = registered
    fn(*args)
    data = profile.read(tmp_path / "nb.json")
    assert set(data) == {"seconds", "wall_s", "device"} and data["seconds"]["teacher"] >= 0
    assert profile.start_from_env({}, register=lambda *a: pytest.fail("registered")) is None
    assert profile.read(tmp_path / "missing.json") == {}


def test_a_process_with_sftkit_profile_writes_its_json_at_exit(tmp_path):
    out = tmp_path / "kernel.json"
    code = ("import os, time\nfrom sftkit import profile\nwith profile.section('train'):\n    time.sleep(0.05)\n"
            "print(os.environ.get('SFTKIT_PROFILE'))")
    env = {**os.environ, "SFTKIT_PROFILE": str(out),
           "PYTHONPATH": os.pathsep.join([str(REPO_DIR), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"  # taken out of the environment
    data = json.loads(out.read_text())
    assert data["seconds"]["train"] >= 0.05 and data["wall_s"] >= data["seconds"]["train"]
    assert data["device"] is None  # torch was never imported, and nothing imported it for this


def test_notebook_row_other_is_the_rest():
    row = profile.notebook_row(600, {"seconds": {"train": 240, "generate": 60, "evaluate": 30}})
    assert row == {"total": 10.0, "train": 4.0, "generate": 1.0, "evaluate": 0.5, "sandbox": 0.0, "teacher": 0.0,
                   "other": 4.5}
    assert profile.notebook_row(60, {})["other"] == 1.0  # no kernel profile: all of it is other
    assert profile.notebook_row(60, {"seconds": {"train": 61}})["other"] == 0.0
    assert profile.machine_line(2, ["cpu", None, "cpu"]) == "2 CPU cores, device cpu"
    assert profile.machine_line(4, [None]) == "4 CPU cores, device unknown"


def row(total, train=0.0, other=None):
    r = dict.fromkeys(profile.COLUMNS, 0.0)
    r.update(total=total, train=train, other=total - train if other is None else other)
    return r


def test_doc_starts_with_no_rows_and_a_complete_run_fills_it():
    empty = profile.profile_doc(None, {}, True, "2026-12-01", "2 CPU cores, device cpu")
    assert empty.startswith("# Where the notebooks' time goes") and profile.NO_ROWS in empty
    assert profile.parse_rows(empty) == {}
    doc = profile.profile_doc(empty, {"01_sft": row(4.8, 3.0), "00_world": row(0.5)}, True, "2026-12-01",
                              "2 CPU cores, device cpu")
    assert profile.NO_ROWS not in doc and doc.startswith(empty.split("<!--")[0])  # the header is kept
    table = doc.split("<!-- profile:start -->\n")[1].split("\n<!-- profile:end -->")[0]
    assert table.splitlines()[:5] == [
        "| notebook | total | train | generate | evaluate | sandbox | teacher | other | measured |",
        "|---|---|---|---|---|---|---|---|---|",
        "| 00_world | 0.5 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.5 | 2026-12-01, 2 CPU cores, device cpu |",
        "| 01_sft | 4.8 | 3.0 | 0.0 | 0.0 | 0.0 | 0.0 | 1.8 | 2026-12-01, 2 CPU cores, device cpu |",
        "| **all** | **5.3** | **3.0** | **0.0** | **0.0** | **0.0** | **0.0** | **2.3** | |",
    ]
    assert table.endswith("Last run: 2026-12-01, every notebook (2 CPU cores, device cpu), one notebook at a time.")
    parsed = profile.parse_rows(doc)
    assert parsed["01_sft"] == {**row(4.8, 3.0, other=1.8), "measured": "2026-12-01, 2 CPU cores, device cpu"}
    assert set(parsed) == {"00_world", "01_sft"}


def test_a_partial_run_replaces_only_its_rows_and_a_complete_run_all_of_them():
    first = profile.profile_doc(None, {"01_sft": row(4.8, 3.0), "02_sftmix": row(11.0, 8.0)}, True, "2026-12-01",
                                "2 CPU cores, device cpu")
    partial = profile.profile_doc(first, {"02_sftmix": row(9.0, 6.0)}, False, "2026-12-05", "2 CPU cores, device cpu")
    rows = profile.parse_rows(partial)
    assert rows["01_sft"]["measured"].startswith("2026-12-01") and rows["01_sft"]["total"] == 4.8
    assert rows["02_sftmix"]["measured"].startswith("2026-12-05") and rows["02_sftmix"]["train"] == 6.0
    assert "| **all** | **13.8** | **9.0** |" in partial
    assert "Last run: 2026-12-05, 02_sftmix (2 CPU cores, device cpu); the other rows are from earlier runs." in partial
    complete = profile.profile_doc(partial, {"02_sftmix": row(9.5, 6.0)}, True, "2026-12-06", "4 CPU cores, device cuda")
    assert set(profile.parse_rows(complete)) == {"02_sftmix"}
    text_around = "# My header\n\nkept\n\n<!-- profile:start -->\nold\n<!-- profile:end -->\nafter\n"
    kept = profile.profile_doc(text_around, {"01_sft": row(1.0)}, False, "2026-12-07", "2 CPU cores, device cpu")
    assert kept.startswith("# My header\n\nkept\n\n<!-- profile:start -->\n| notebook |") and kept.endswith("-->\nafter\n")


def test_the_committed_doc_has_the_markers_and_keeps_its_header():
    text = (REPO_DIR / "docs" / "profile.md").read_text()
    assert "sftkit tutorial --profile" in text
    updated = profile.profile_doc(text, {"01_sft": row(1.0)}, False, "2026-12-07", "2 CPU cores, device cpu")
    assert updated.split("<!-- profile:start -->")[0] == text.split("<!-- profile:start -->")[0]


def test_cli_tutorial_profile_flag(capsys, tmp_path, monkeypatch):
    from sftkit import cli, tutorial

    with pytest.raises(SystemExit):
        cli.main(["tutorial", "--help"])
    assert "--profile" in capsys.readouterr().out
    args = cli.build_parser().parse_args(["tutorial", "--profile", "a.ipynb"])
    assert args.profile and args.notebooks == ["a.ipynb"]
    assert not cli.build_parser().parse_args(["tutorial"]).profile

    # the wiring, without kernels: a stand-in run_all writes what a kernel would
    for name in ("01_a", "02_b"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")

    def fake_run_all(paths, limits=None, profile_dir=None):
        Path(profile_dir, "01_a.json").write_text(json.dumps({"seconds": {"train": 30.0}, "wall_s": 50, "device": "cpu"}))
        return {p.name: 1.0 for p in paths}

    doc = tmp_path / "docs" / "profile.md"
    monkeypatch.setattr(tutorial, "run_all", fake_run_all)
    monkeypatch.setattr(profile, "DOC", doc)
    monkeypatch.setattr("sftkit.results.write_leaderboard", lambda **kw: "leaderboard")
    assert cli.main(["tutorial", "--profile", str(tmp_path / "01_a.ipynb"), str(tmp_path / "02_b.ipynb")]) == 0
    rows = profile.parse_rows(doc.read_text())
    assert rows["01_a"]["train"] == 0.5 and rows["01_a"]["other"] == 0.5 and rows["02_b"]["other"] == 1.0
    assert rows["01_a"]["measured"].endswith("CPU cores, device cpu")


@pytest.mark.slow
def test_a_kernel_run_by_the_tutorial_runner_writes_its_profile(tmp_path, monkeypatch):
    """The ipykernel runs its atexit handlers when nbclient shuts it down: the profile arrives."""
    from sftkit.tutorial import Limits, run_all

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_DIR), os.environ.get("PYTHONPATH", "")]))  # this sftkit

    path = tmp_path / "timed.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\nfrom sftkit import profile\n"
                                          "with profile.section('sandbox'):\n    time.sleep(0.2)")]
    nbformat.write(nb, path)
    run_all([path], Limits(cell_timeout=120, notebook_timeout=300), profile_dir=tmp_path / "profiles")
    data = profile.read(tmp_path / "profiles" / "timed.json")
    assert data["seconds"]["sandbox"] >= 0.2
