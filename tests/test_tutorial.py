"""`sftkit tutorial` finishes or fails clearly: floods complete, silent or dead kernels are named, files kept."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from sftkit.io import REPO_DIR, SftkitError
from sftkit.tutorial import KernelIdle, Limits, run_all, run_notebook, session_cpu_seconds

pytestmark = pytest.mark.slow  # kernels, subprocesses and notebooks: `make test` runs them, the quick loop does not

posix_only = pytest.mark.skipif(os.name != "posix", reason="SIGSTOP and process groups are POSIX")


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def test_flood_of_progress_and_widget_messages_completes(tmp_path, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # bars on, as `make tutorial` has them
    path = write_notebook(tmp_path / "flood.ipynb", [
        "from tqdm.auto import tqdm\nfor _ in tqdm(range(30000)): pass",  # the kernel's TQDM_MININTERVAL bounds it
        "from tqdm.auto import tqdm\nfor _ in tqdm(range(3000), mininterval=0, miniters=1): pass",  # unbounded
        # 500 updates, under ZMQ's default high-water mark of 1000 queued IOPub messages: with 5000 the
        # cell's own result was lost (seen with the CPUs busy): a PUB socket drops past its mark, and a
        # lost reply is what the idle-kernel watch (test below) catches.
        "import ipywidgets as w\ns = w.IntSlider(max=5000)\nfor i in range(500): s.value = i\ns",
        "from sftkit.train import progress\nfor _ in progress(range(3)): pass",  # a finished bar leaves nothing
        "print('after the flood')",
    ])
    seconds = run_notebook(path, Limits(cell_timeout=120, notebook_timeout=300), clean=False)  # the raw widget views
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[-1].outputs[0]["text"] == "after the flood\n"
    assert seconds < 300
    views = [[o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for o in c.outputs
              if "application/vnd.jupyter.widget-view+json" in o.get("data", {})] for c in nb.cells]
    assert nb.metadata["kernelspec"]["display_name"] == "Python 3 (ipykernel)"  # what JupyterLab writes
    assert len(views[2]) == 1 and views[3] == []  # the live slider stays; the finished sftkit bar is gone
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert views[2][0] in state


def test_many_interact_explorers_finish_and_keep_their_outputs(tmp_path):
    """The `make tutorial` hang, reproduced: 200 `interact` cells hung 5 runs in 5 (each within 60 cells) while
    nbclient's stand-in Output widget wrote its state back to the kernel during a pending reply. With
    `headless_client` they finish, and the saved widget state still holds what each explorer printed."""
    explorer = "w.interact(show, split=['test', 'wording'], i=w.IntSlider(0, 0, 49));"
    path = write_notebook(tmp_path / "explorers.ipynb",
                          ["import ipywidgets as w\ndef show(split, i):\n    print(f'{split} {i}\\n' * 3)"]
                          + [explorer] * 200)
    run_notebook(path, Limits(cell_timeout=60, notebook_timeout=300, idle_timeout=20), clean=False)
    nb = nbformat.read(path, as_version=4)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    printed = [m["state"]["outputs"] for m in state.values() if m["model_name"] == "OutputModel"]
    assert len(printed) == 200 and all(o == [{"name": "stdout", "output_type": "stream",
                                              "text": "test 0\ntest 0\ntest 0\n\n"}] for o in printed)


def test_a_run_saves_the_notebook_clean(tmp_path):
    """By default the saved notebook is what `sftkit.notebook_outputs.clean` leaves: the explorer is one line of
    text, the widget state and the execution timestamps are gone, and streams JupyterLab would merge are merged."""
    from sftkit import notebook_outputs

    path = write_notebook(tmp_path / "explorer.ipynb", [
        "import sys, time\nprint('one', flush=True); time.sleep(0.3); print('two', flush=True)",
        "import ipywidgets as w\ndef show(value):\n    print(value)\nw.interact(show, value=['first', 'second']);",
    ])
    run_notebook(path, Limits(cell_timeout=120, notebook_timeout=300))
    nb = nbformat.read(path, as_version=4)
    assert [o["text"] for o in nb.cells[0].outputs] == ["one\ntwo\n"]
    assert [o["data"] for o in nb.cells[1].outputs] == [{"text/plain": notebook_outputs.EXPLORER_LINES[None]}]
    assert "widgets" not in nb.metadata and not any("execution" in c.metadata for c in nb.cells)
    assert all(c.execution_count for c in nb.cells)
    assert nbformat.writes(notebook_outputs.clean(nbformat.read(path, as_version=4))) + "\n" == path.read_text()


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _comparable(nb, runs: str | None = None) -> list:
    """The cells of `nb` with every number in their outputs' text replaced by '#' (and the runs directory named as
    in the committed run); images only by their kind (they draw the numbers)."""
    def text(value):
        value = "".join(value) if isinstance(value, list) else value
        return _NUMBER.sub("#", value.replace(runs, "runs") if runs else value)

    cells = []
    for cell in nb.cells:
        outputs = []
        for o in cell.get("outputs", []):
            data = {k: ("<image>" if k.startswith("image/") else text(v)) for k, v in o.get("data", {}).items()}
            outputs.append({"type": o["output_type"], "name": o.get("name"), "text": text(o.get("text", "")), "data": data,
                            "count": o.get("execution_count")})
        cells.append({"type": cell.cell_type, "id": cell.get("id"), "source": cell.source, "metadata": cell.metadata,
                      "count": cell.get("execution_count"), "outputs": outputs})
    return cells


@pytest.mark.usefixtures("repository_untouched")
def test_rerunning_a_notebook_changes_only_numbers(tmp_path):
    """Issue 31: re-running notebook 12 (it reads results/, trains nothing; 20-60 s) with the same parameters saves
    the committed notebook again, numbers aside (the run time; any result saved since its last run). It runs from a
    copy in a temporary directory, reading the repository's results/ and writing its HTML page into the copy's
    runs/, so nothing is written into the repository."""
    committed = REPO_DIR / "notebooks" / "12_leaderboard.ipynb"
    path = Path(shutil.copy(committed, tmp_path / committed.name))
    runs = tmp_path / "runs"
    run_notebook(path, Limits(cell_timeout=300, notebook_timeout=600),
                 env={"SFTKIT_RESULTS": str(REPO_DIR / "results"), "SFTKIT_RUNS": str(runs)})
    assert (runs / "leaderboard.html").exists()
    before, after = nbformat.read(committed, as_version=4), nbformat.read(path, as_version=4)
    assert after.metadata["kernelspec"] == before.metadata["kernelspec"]
    for i, (old, new) in enumerate(zip(_comparable(before), _comparable(after, str(runs)), strict=True)):
        assert new == old, f"cell {i} differs beyond numbers: was {old['outputs']}, now {new['outputs']}"


@posix_only
@pytest.mark.parametrize("limits, expected", [
    (Limits(cell_timeout=8, notebook_timeout=300), "no reply from the kernel within 8 s"),
    (Limits(cell_timeout=300, notebook_timeout=300, heartbeat_timeout=3), "stopped answering"),
    (Limits(cell_timeout=300, notebook_timeout=20), "ran past its 20 s limit"),
])
def test_silent_kernel_fails_within_its_deadline_naming_notebook_and_cell(tmp_path, limits, expected):
    path = write_notebook(tmp_path / "silent.ipynb", [
        "print('fine')",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)  # the kernel goes silent",
        "print('never')",
    ])
    before = path.read_bytes()
    start = time.monotonic()
    with pytest.raises(SftkitError) as err:
        run_notebook(path, limits)
    assert time.monotonic() - start < min(limits.cell_timeout, limits.notebook_timeout, 60) + 45
    message = str(err.value)
    assert message.startswith(f"{path}: cell 1 ('import os, signal')") and expected in message
    assert "\n" not in message
    assert path.read_bytes() == before  # nothing written
    time.sleep(1)
    import psutil

    stopped = [p for p in psutil.process_iter(["cmdline", "status"])
               if p.info["status"] == psutil.STATUS_STOPPED and "ipykernel_launcher" in " ".join(p.info["cmdline"] or [])]
    assert not stopped, "a stopped kernel was left behind"


@pytest.mark.skipif(session_cpu_seconds(os.getpid()) is None, reason="needs /proc")
def test_idle_kernel_with_a_pending_cell_is_named_and_rerun_once(tmp_path, capsys):
    # A sleeping cell looks exactly like a lost reply: a pending cell and an idle kernel.
    path = write_notebook(tmp_path / "idle.ipynb", ["print('fine')", "import time\ntime.sleep(120)", "print('never')"])
    start = time.monotonic()
    with pytest.raises(KernelIdle, match=r"idle.ipynb: cell 1 \('import time'\): no reply while the kernel sat idle for 4 s"):
        run_notebook(path, Limits(cell_timeout=300, notebook_timeout=300, idle_timeout=4))
    assert time.monotonic() - start < 60
    with pytest.raises(KernelIdle):  # run_all re-runs it once, then gives up with the same line
        run_all([path], Limits(cell_timeout=300, notebook_timeout=300, idle_timeout=4))
    assert capsys.readouterr().out.count("running it again") == 1


def test_dead_kernel_and_failing_cell_are_named(tmp_path):
    dead = write_notebook(tmp_path / "dead.ipynb", ["import os\nos._exit(1)"])
    with pytest.raises(SftkitError, match=r"dead.ipynb: cell 0 \('import os'\): the kernel died"):
        run_notebook(dead, Limits(cell_timeout=60))
    failing = write_notebook(tmp_path / "failing.ipynb", ["x = 1", "1 / 0"])
    with pytest.raises(SftkitError, match=r"failing.ipynb: cell 1 \('1 / 0'\): ZeroDivisionError: division by zero$"):
        run_notebook(failing, Limits(cell_timeout=60))


def test_cli_runs_a_real_notebook_with_progress_bars_on(tmp_path):
    """04 (FrozenLake, ~30 s) headless with bars on, into a copy, results into a temp dir: the repo is untouched."""
    notebook = shutil.copy(REPO_DIR / "notebooks" / "04_ift_frozenlake.ipynb", tmp_path / "04_ift_frozenlake.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    env["SFTKIT_RESULTS"] = str(tmp_path / "results")
    proc = subprocess.run([sys.executable, "-m", "sftkit.cli", "tutorial", str(notebook)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "without encryption" not in proc.stderr
    assert (tmp_path / "results" / "04_ift_frozenlake.jsonl").exists()
    nb = nbformat.read(notebook, as_version=4)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


@pytest.mark.skipif(not (REPO_DIR / ".git").exists(), reason="needs a git checkout")
def test_a_test_run_of_a_notebook_leaves_the_checkout_unchanged():
    """nbval executing a notebook that saves results must not touch results/ (conftest redirects them)."""
    def status():
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO_DIR,
                              capture_output=True, text=True, check=True).stdout

    before = status()
    env = {k: v for k, v in os.environ.items() if k != "SFTKIT_RESULTS"}  # as a fresh `make test` starts
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "notebooks/04_ift_frozenlake.ipynb"], cwd=REPO_DIR, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert status() == before
