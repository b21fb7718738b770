"""`sftkit tutorial`: execute notebooks headless, in order, and never hang.

Each notebook runs in a child process (nbclient + its own kernel, in a process group of their own). The
parent watches the clock: a cell that runs past `cell_timeout` or a notebook past `notebook_timeout` gets the
whole group killed and one line naming the notebook and the cell. A kernel that dies or stops answering its
heartbeat is named the same way. The notebook file is replaced only after a complete run (atomic write), and
saved as `sftkit.notebook_outputs.clean` leaves it: explorers as one line of text (no widget views or state that
need a kernel), no execution timestamps, streams merged as JupyterLab saves them.

The hang this module was written against, and its cause: a cell with an ipywidgets explorer (`interact`)
sometimes never finished (the kernel idle, the client waiting for a reply that had arrived). nbclient stands
in for the browser's Output widget and, on every output it captures, sends the widget's new state back to
the kernel on the shell socket, while the same client is awaiting the cell's reply on that socket through a
separate poller. ZeroMQ signals a socket's file descriptor edge-triggered: the send processes the socket's
pending events, the reply's edge is consumed, and the poller is never woken (pyzmq re-arms its own receive
futures after a send, but not a poller's). A notebook of 200 `interact` cells hung 5 runs in 5, each within
its first 60 cells; with `headless_client` (the stand-in Output widget records its outputs for the saved
notebook but never writes back to a kernel that does not need them) it finished 5 in 5.
`tests/test_tutorial.py` keeps that notebook as the regression test. nbval runs its own client without the
stand-in, so `make test` never met this.

Why a separate process and our own clock all the same: nbclient's waits are bounded only per message, and a
client stuck in its event loop cannot time itself out. A parent that only reads a clock can. The parent also
watches the CPU time of the kernel's session (the kernel and any process it started): a cell pending for
`idle_timeout` seconds while that session uses no CPU is reported as "idle", and `run_all` then re-runs the
notebook once. A cell that legitimately waits without computing for that long (a sleep, a network call)
would be reported the same way; none here does.

Messages per cell are bounded at the source as well: the kernel gets `TQDM_MININTERVAL` (every tqdm bar,
transformers' included, redraws at most twice a second), sftkit's own bars pass the same bound
explicitly (`train.progress`), and the kernel talks over IPC sockets instead of TCP where it can (no
"running over TCP without encryption" warning per notebook, and nothing listening on a port).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import re
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .io import SftkitError, atomic_write_text
from .notebook_outputs import WIDGET_STATE, WIDGET_VIEW

KERNEL_ENV = {"TQDM_MININTERVAL": "0.5"}  # bounds every tqdm bar in the kernel, whoever draws it


@dataclass
class Limits:
    cell_timeout: float = 1200.0  # seconds one cell may run
    notebook_timeout: float = 2700.0  # seconds one notebook may run, kernel start included
    heartbeat_timeout: float = 60.0  # seconds without a kernel heartbeat before it counts as silent
    idle_timeout: float = 240.0  # seconds a cell may be pending while the kernel's session uses no CPU


class KernelIdle(SftkitError):
    """A cell was pending while the kernel sat idle: a lost message, not a slow cell (worth one re-run)."""


def session_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) of every process in the session of `pid` (Linux /proc); None elsewhere
    or when `pid` is gone. jupyter_client starts each kernel in a session of its own."""
    if pid is None or not os.path.isdir("/proc"):
        return None
    def fields(p):
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 0

    try:
        sid = int(fields(pid)[3])
    except (OSError, ValueError, IndexError):
        return None
    ticks = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                f = fields(entry)
                if int(f[3]) == sid:
                    ticks += int(f[11]) + int(f[12])
            except (OSError, ValueError, IndexError):
                continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _cell_label(nb, index: int | None) -> str:
    if index is None:
        return "before its first cell"
    first = next((line for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index} ({first[:60]!r})"



def drop_closed_widgets(nb, closed: set[str]) -> None:
    """Remove outputs that show a widget the kernel closed (a finished progress bar), and its saved state:
    in a saved notebook they would render as 'model not found' boxes."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("data", {}).get(WIDGET_VIEW, {}).get("model_id") not in closed]
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    if state:
        for model_id in closed & set(state):
            del state[model_id]


def headless_client(nb, **kwargs):
    """An nbclient `NotebookClient` for running without a browser: its stand-in for the ipywidgets Output
    widget (which `interact` draws into) records outputs into the notebook's widget state as usual but does
    not send them back to the kernel. That send, made on the shell socket while the client awaits the cell's
    reply there, can swallow the reply's wake-up and hang the run (see the module docstring)."""
    from nbclient import NotebookClient
    from nbclient.output_widget import OutputWidget

    class RecordingOutputWidget(OutputWidget):
        def sync_state(self) -> None:  # the kernel never reads these outputs back in a headless run
            pass

    client = NotebookClient(nb, **kwargs)
    client.widget_registry["@jupyter-widgets/output"] = {"OutputModel": RecordingOutputWidget}
    return client


def _kernel_pid(km) -> int | None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


def _child(path: str, out_path: str, events, hb_timeout: float, env: dict | None = None, clean: bool = True) -> None:
    """Run in a fresh process group: execute `path`, write the result to `out_path`, report progress. The kernel
    inherits this process's environment, with `KERNEL_ENV` and `env` added. With `clean`, the result is cleaned
    by `sftkit.notebook_outputs.clean` before it is written."""
    if hasattr(os, "setsid"):
        os.setsid()
    import asyncio

    import nbformat
    from jupyter_client.manager import AsyncKernelManager

    os.environ.update({**KERNEL_ENV, **(env or {})})
    nb = nbformat.read(path, as_version=4)
    km = AsyncKernelManager(kernel_name="python3")
    ipc_dir = None
    if os.name == "posix":
        ipc_dir = tempfile.mkdtemp(prefix="sftkit-kernel-")
        km.transport, km.ip = "ipc", os.path.join(ipc_dir, "k")

    client = headless_client(nb, km=km, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}},
                            on_notebook_start=lambda notebook: events.put(("kernel", _kernel_pid(km))),
                            on_cell_execute=lambda cell, cell_index: events.put(("cell", cell_index)))

    closed: set[str] = set()  # widgets the kernel closed (finished progress bars with leave=False)
    process_message = client.process_message

    def track_closed(msg, cell, cell_index):
        if msg["msg_type"] == "comm_close":
            closed.add(msg["content"]["comm_id"])
        return process_message(msg, cell, cell_index)

    client.process_message = track_closed

    async def watch_heartbeat():
        silent_since = None
        while True:
            await asyncio.sleep(1.0)
            kc = client.kc
            if kc is None or not kc.channels_running:
                continue
            beating = kc.hb_channel.is_beating()
            silent_since = None if beating else (silent_since or time.monotonic())
            if silent_since and time.monotonic() - silent_since > hb_timeout:
                events.put(("silent", None))
                return

    async def run():
        watcher = asyncio.ensure_future(watch_heartbeat())
        try:
            await client.async_execute()
        finally:
            watcher.cancel()
            if km.has_kernel:  # nbclient leaves a kernel manager it was given running; stop it cleanly
                await km.shutdown_kernel(now=False)

    try:
        asyncio.run(run())
    except Exception as e:  # reported to the parent as one line; the parent names notebook and cell
        from nbclient.exceptions import CellExecutionError, DeadKernelError

        if isinstance(e, CellExecutionError):
            lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in str(e).splitlines() if ln.strip()]
            events.put(("error", lines[-1] if lines else type(e).__name__))
        elif isinstance(e, DeadKernelError):
            events.put(("dead", None))
        else:
            events.put(("error", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
        return
    finally:
        if ipc_dir:
            import shutil

            shutil.rmtree(ipc_dir, ignore_errors=True)
    drop_closed_widgets(nb, closed)
    if clean:
        from .notebook_outputs import clean as clean_outputs

        clean_outputs(nb)
    spec = km.kernel_spec  # the metadata JupyterLab writes, so an opened notebook is not "modified" at once
    if spec is not None:
        nb.metadata["kernelspec"] = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    nbformat.write(nb, out_path)
    events.put(("done", None))


def _kill(proc, kernel_pid: int | None) -> None:
    """Kill the runner's process group and the kernel's (jupyter_client starts kernels in a session of
    their own, so a stopped or busy kernel would outlive its client and hold our output pipe open)."""
    for pid in (kernel_pid, proc.pid):
        if pid is None:
            continue
        try:
            if hasattr(os, "killpg"):
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    proc.join(5)


def run_notebook(path: str | os.PathLike, limits: Limits | None = None, output: str | os.PathLike | None = None,
                 log=print, env: dict[str, str] | None = None, clean: bool = True) -> float:
    """Execute the notebook at `path`; write it (with outputs) to `output` (default: in place, atomically).
    `env`: environment variables for its kernel (on top of this process's and `KERNEL_ENV`). `clean`: save it
    as `sftkit.notebook_outputs.clean` leaves it (explorers as one line of text, no widget state, no execution
    timestamps, streams merged as JupyterLab saves them); False keeps the run's raw widget views and state.

    Returns the wall time in seconds. Raises `SftkitError` with one line naming the notebook and the cell
    when a cell fails, runs past its limit, or the kernel dies or goes silent; the file is then untouched.
    """
    import nbformat

    limits = limits or Limits()
    path = Path(path)
    nb = nbformat.read(path, as_version=4)  # for naming cells in errors
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        out_tmp = os.path.join(tmp, path.name)
        proc = ctx.Process(target=_child, args=(str(path), out_tmp, events, limits.heartbeat_timeout, env, clean),
                           daemon=False)
        start = time.monotonic()
        proc.start()
        cell, cell_start, outcome, kernel_pid = None, start, None, None
        busy_at, cpu = start, None  # when the kernel's session last used CPU, and how much it had used
        try:
            while outcome is None:
                try:
                    kind, value = events.get(timeout=0.5)
                except queue.Empty:
                    now = time.monotonic()
                    used = session_cpu_seconds(kernel_pid)
                    if used is not None and (cpu is None or used - cpu > 0.05):
                        busy_at, cpu = now, used
                    if now - start > limits.notebook_timeout:
                        outcome = f"the notebook ran past its {limits.notebook_timeout:.0f} s limit"
                    elif cell is not None and now - cell_start > limits.cell_timeout:
                        outcome = f"no reply from the kernel within {limits.cell_timeout:.0f} s"
                    elif cell is not None and used is not None and now - max(busy_at, cell_start) > limits.idle_timeout:
                        outcome = "idle"
                    elif not proc.is_alive():
                        outcome = "the runner process exited unexpectedly"
                    continue
                if kind == "kernel":
                    kernel_pid = value
                elif kind == "cell":
                    cell, cell_start = value, time.monotonic()
                elif kind == "done":
                    outcome = "done"
                elif kind == "silent":
                    outcome = f"the kernel stopped answering (no heartbeat for {limits.heartbeat_timeout:.0f} s)"
                elif kind == "dead":
                    outcome = "the kernel died"
                else:
                    outcome = value
        except KeyboardInterrupt:
            outcome = "interrupted"
        if outcome == "idle":
            _kill(proc, kernel_pid)
            raise KernelIdle(f"{path}: {_cell_label(nb, cell)}: no reply while the kernel sat idle for "
                             f"{limits.idle_timeout:.0f} s (a lost message)")
        if outcome != "done":
            _kill(proc, kernel_pid)
            raise SftkitError(f"{path}: {_cell_label(nb, cell)}: {outcome}")
        proc.join(30)
        if proc.is_alive():
            _kill(proc, kernel_pid)
        text = Path(out_tmp).read_text()
    atomic_write_text(output or path, text)
    return time.monotonic() - start


def run_all(paths: list[Path], limits: Limits | None = None,
            profile_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Run notebooks in order, printing one line each; stops at the first failure (raised as `SftkitError`).
    Returns {notebook name: minutes}. A notebook whose kernel sat idle with a cell pending (`KernelIdle`) is
    re-run once from the start; its minutes count both runs. With `profile_dir`, each kernel writes its
    `sftkit.profile` to `profile_dir/<notebook stem>.json` when it exits (`SFTKIT_PROFILE`)."""
    minutes = {}
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        env = {"SFTKIT_PROFILE": str(Path(profile_dir).resolve() / f"{path.stem}.json")} if profile_dir else None
        lost = time.monotonic()
        try:
            seconds = run_notebook(path, limits, env=env)
        except KernelIdle as e:
            print(f"  {e}; running it again", flush=True)
            lost = time.monotonic() - lost
            seconds = run_notebook(path, limits, env=env) + lost
        minutes[path.name] = seconds / 60
        print(f"  {path.name}: {seconds / 60:.1f} min", flush=True)
    print(f"all {len(paths)} notebooks: {sum(minutes.values()):.1f} min", flush=True)
    return minutes


def runtimes_table(minutes: dict[str, float], when: str) -> str:
    """Markdown table of measured wall-clock minutes per notebook (for the README)."""
    bars = "off" if os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes") else "on"
    lines = ["| notebook | minutes |", "|---|---|"]
    lines += [f"| {name.removesuffix('.ipynb')} | {m:.1f} |" for name, m in minutes.items()]
    lines.append(f"| **all** | **{sum(minutes.values()):.1f}** |")
    return "\n".join(lines) + (f"\n\nMeasured by `sftkit tutorial` on {when}, {os.cpu_count()} CPU cores, "
                               f"progress bars {bars}, one notebook at a time.")
