"""A read-only or shared checkout (one checkout for a class on a JupyterHub): results and model outputs go
to a per-user directory, with one line saying where; nothing is written into the checkout."""
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sftkit import io, results

pytestmark = pytest.mark.slow  # kernels, subprocesses and notebooks: `make test` runs them, the quick loop does not


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A stand-in repository results/ holding one committed file, and a home of our own."""
    repo_results = tmp_path / "repo" / "results"
    repo_results.mkdir(parents=True)
    (repo_results / "01_sft.jsonl").write_text('{"notebook": "01_sft"}\n')
    monkeypatch.setattr(io, "REPO_RESULTS", repo_results)
    monkeypatch.setattr(io, "REPO_RUNS", tmp_path / "repo" / "runs")
    monkeypatch.delenv("SFTKIT_RESULTS", raising=False)
    monkeypatch.delenv("SFTKIT_RUNS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.setattr(io, "_announced", set())
    return repo_results


def test_a_writable_checkout_keeps_its_results_dir(checkout, capsys):
    assert io.results_dir() == checkout
    assert capsys.readouterr().out == ""


def test_a_read_only_checkout_sends_results_to_a_per_user_copy(checkout, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    before = sorted(p.name for p in checkout.iterdir())
    path = results.save("00_world", [results.metric_row("m", 1.0, "test", method="base", seed=0)])
    mine = tmp_path / "home" / ".local" / "share" / "sftkit" / "results"
    assert path == mine / "00_world.jsonl" and path.exists()
    assert (mine / "01_sft.jsonl").exists()  # seeded with the committed results, as a fresh clone has them
    assert sorted(p.name for p in checkout.iterdir()) == before  # nothing written into the checkout
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "is read-only for this user, so results go to" in out[0] and str(mine) in out[0]
    assert io.results_dir() == mine and capsys.readouterr().out == ""  # said once per process
    assert io.runs_dir() == mine.parent / "runs"


def test_shared_checkouts_owned_by_another_user_count_as_not_ours(tmp_path, monkeypatch):
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX ownership")
    owner = tmp_path.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1 if owner + 1 != 0 else owner + 2)
    assert io.not_writable(tmp_path / "results") == "belongs to another user (a shared checkout)"
    monkeypatch.setattr(os, "getuid", lambda: owner)
    assert io.not_writable(tmp_path / "results") is None
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert io.not_writable(tmp_path) == "is read-only for this user"


def test_no_writable_place_at_all_is_one_clear_line(checkout, monkeypatch, tmp_path):
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    blocker = tmp_path / "home" / ".local"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where a directory should be")
    with pytest.raises(io.SftkitError, match=r"cannot be created .*; set SFTKIT_RESULTS to a writable directory$"):
        io.results_dir()


def test_sftkit_results_overrides_everything(checkout, monkeypatch, tmp_path):
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    monkeypatch.setenv("SFTKIT_RESULTS", str(tmp_path / "elsewhere"))
    assert io.results_dir() == tmp_path / "elsewhere"


# Root may write anywhere, so for root the read-only view is simulated in every child process (the runner and
# the notebook's kernel): os.access denies writing under the copy. Any write that happened anyway would still
# show in the before/after snapshot the test compares.
DENY_WRITES = textwrap.dedent("""
    import os
    _access, _root = os.access, os.environ["SFTKIT_TEST_READ_ONLY"]

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and os.path.abspath(os.fspath(path)).startswith(_root):
            return False
        return _access(path, mode, *args, **kwargs)

    os.access = access
""")


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_notebook_00_runs_in_a_read_only_checkout_and_writes_its_results_elsewhere(tmp_path):
    """A read-only copy of the repository (its sftkit, data, results, README and notebook 00) runs notebook 00
    as a student on a shared server would, with no SFTKIT_RESULTS: the results land in ~/.local/share, the
    notebook says so in one line, and the copy is byte for byte unchanged."""
    repo = tmp_path / "checkout"
    shutil.copytree(io.REPO_DIR / "sftkit", repo / "sftkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(io.REPO_DIR / "data", repo / "data")
    shutil.copytree(io.REPO_DIR / "results", repo / "results")
    (repo / "notebooks").mkdir()
    shutil.copy(io.REPO_DIR / "notebooks" / "00_world.ipynb", repo / "notebooks")
    shutil.copy(io.REPO_DIR / "README.md", repo)
    home, out, hooks = tmp_path / "home", tmp_path / "out", tmp_path / "hooks"
    for d in (home, out, hooks):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SFTKIT_RESULTS", "SFTKIT_RUNS", "XDG_DATA_HOME")}
    env.update(HOME=str(home), PYTHONPATH=str(repo), PYTHONDONTWRITEBYTECODE="1")
    if os.geteuid() == 0:
        (hooks / "sitecustomize.py").write_text(DENY_WRITES)
        env.update(PYTHONPATH=f"{repo}{os.pathsep}{hooks}", SFTKIT_TEST_READ_ONLY=str(repo))
    for p in [repo, *repo.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = snapshot(repo)
    run = textwrap.dedent(f"""
        import sftkit.io
        from sftkit.tutorial import Limits, run_notebook
        assert sftkit.io.REPO_DIR == sftkit.io.Path({str(repo)!r}), sftkit.io.REPO_DIR  # the copy, not this checkout
        run_notebook({str(repo / "notebooks" / "00_world.ipynb")!r}, Limits(cell_timeout=300, notebook_timeout=420),
                     output={str(out / "00_world.ipynb")!r})
    """)
    try:
        proc = subprocess.run([sys.executable, "-c", run], cwd=out, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert snapshot(repo) == before  # nothing written into the checkout
    finally:
        for p in [repo, *repo.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    mine = home / ".local" / "share" / "sftkit" / "results"
    assert (mine / "00_world.jsonl").exists() and (mine / "01_sft.jsonl").exists()  # 01: the committed copy
    import nbformat

    nb = nbformat.read(out / "00_world.ipynb", as_version=4)
    said = [line for c in nb.cells if c.cell_type == "code" for o in c.outputs
            for line in o.get("text", "").splitlines() if line.startswith("sftkit: ")]
    assert said == ["sftkit: results/ is read-only for this user, so results go to ~/.local/share/sftkit/results "
                    "(yours alone; set SFTKIT_RESULTS to choose another directory)"]
