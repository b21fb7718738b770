"""Is this machine ready, and how long will the notebooks take? `sftkit doctor` and notebook 00's first cell.

`check_environment()` prints (and returns) the versions that matter, CPU cores, the device sftkit will use,
free memory, where results go, the expected minutes per notebook (from the README's measured runtimes), and
one warning line for each thing that will not work or was never tested, and one when the machine is busy.
torch is imported only when it runs.
"""
from __future__ import annotations

import os
import platform
import re
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import __version__, io
from .io import REPO_DIR, SftkitError, results_dir, shown

# pyproject.toml's lower bounds (a test keeps them equal), except JupyterLab: on a JupyterHub the server may run
# from another environment than the kernel this check runs in.
MINIMUM = {"torch": "2.4", "transformers": "5.0", "peft": "0.17", "accelerate": "1.0", "matplotlib": "3.9",
           "gymnasium": "1.0", "ipywidgets": "8.1", "nbclient": "0.10", "tqdm": "4.66", "psutil": "5.9",
           "httpx": "0.27", "nltk": "3.8", "numpy": "1.26", "scipy": "1.11",
           "rouge-score": "0.1"}
PYTHON_MINIMUM = "3.10"
SHOWN = ("torch", "transformers", "peft")  # printed; the others are only checked
FREE_MEMORY_GB = 2.0  # a kernel holds ~0.4 GB once torch and the tiny model are loaded, up to ~0.4 GB more training


def version_tuple(text: str) -> tuple[int, ...]:
    """'2.13.0+cpu' -> (2, 13, 0); the leading numeric part of a version string."""
    match = re.match(r"\d+(\.\d+)*", text)
    return tuple(int(x) for x in match.group().split(".")) if match else ()


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def measured_runtimes(readme: str | os.PathLike = REPO_DIR / "README.md") -> tuple[dict[str, float], int | None]:
    """({notebook: minutes, "all": minutes}, CPU cores) from the README's runtimes table (written by `sftkit tutorial
    --update-readme`); ({}, None) when the README is not there (an installed package without the repository)."""
    try:
        text = Path(readme).read_text()
    except OSError:
        return {}, None
    block = re.search(r"<!-- runtimes:start -->(.*?)<!-- runtimes:end -->", text, re.S)
    if not block:
        return {}, None
    minutes = {name: float(m) for name, m in re.findall(r"^\| (\d\d_\w+) \| ([\d.]+) \|$", block.group(1), re.M)}
    total = re.search(r"^\| \*\*all\*\* \| \*\*([\d.]+)\*\* \|$", block.group(1), re.M)
    if minutes and total:
        minutes["all"] = float(total.group(1))
    cores = re.search(r"(\d+) CPU cores", block.group(1))
    return minutes, int(cores.group(1)) if cores else None


def expected_minutes(measured: dict[str, float], measured_cores: int | None, cores: int,
                     device: str) -> tuple[dict[str, float], str]:
    """Minutes per notebook to expect here, and how they were obtained. Fewer CPU cores than were measured:
    scaled up in proportion (the training is compute-bound). As many or more, or a GPU: the measured
    numbers as an upper estimate, because nothing else was measured."""
    if not measured or not measured_cores:
        return {}, "no measured runtimes found (README.md is not next to the package)"
    where = f"measured on {measured_cores} CPU cores by `sftkit tutorial`"
    if device == "cpu" and cores < measured_cores:
        scale = measured_cores / cores
        return ({k: v * scale for k, v in measured.items()},
                f"{where}, times {scale:.1f} for this machine's {cores} core{'s' * (cores > 1)}")
    if device == "cuda":
        return measured, (f"{where}; expect less on this GPU (notebook 01: 81 s of cell time on an H100, "
                          f"README 'Measured on a GPU'), except 04 which runs on the CPU")
    if device == "mps":
        return measured, f"{where}; nothing was measured on Apple's mps"
    if cores == measured_cores:
        return measured, f"{where}, as many as this machine has"
    return measured, f"{where}; this machine has {cores}: expect at most these (more cores were not measured)"


def cpu_cores() -> int:
    """CPU cores this process may use (its affinity, as containers and batch schedulers set it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def busy_warning(cores: int) -> str | None:
    """One line when the machine is busy: the 1-minute load average above `cores` (None where the platform has
    no load average, e.g. Windows)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    if load <= cores:
        return None
    return (f"this machine is busy: load {load:.1f} over the last minute on {cores} cores, so notebooks will take "
            f"longer than the minutes above; wait, or on a shared server set OMP_NUM_THREADS=1 for each kernel")


def free_memory_gb() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**30


def device_info() -> tuple[str, str | None, float | None]:
    """(device sftkit picks with DEVICE = None, GPU name, free GPU memory in GB)."""
    import torch

    from .model import pick_device

    device = pick_device(None)
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return device, torch.cuda.get_device_name(0), free / 2**30
    if device == "mps":
        return device, "Apple GPU", None
    return device, None, None


def results_place() -> tuple[str | None, str | None]:
    """(where results go, for printing; a warning or None), after checking a file can be created there."""
    try:
        directory = results_dir()
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sftkit-doctor-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except SftkitError as e:
        return None, f"no writable results directory: {e}"
    except OSError as e:
        return None, f"no writable results directory: {shown(directory)}: {e.strerror}; set SFTKIT_RESULTS to one"
    if os.environ.get("SFTKIT_RESULTS"):
        return f"{shown(directory)} (SFTKIT_RESULTS)", None
    if directory == io.REPO_RESULTS:
        return "results/ in this repository", None
    return f"{shown(directory)} (yours alone: this checkout is read-only or shared)", None


@dataclass
class Report:
    versions: dict[str, str | None]  # python, sftkit and SHOWN packages
    cores: int
    free_memory_gb: float
    device: str
    gpu: str | None
    gpu_free_gb: float | None
    results: str | None
    minutes: dict[str, float]
    minutes_note: str
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"sftkit {__version__} environment check",
                 "  versions: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in self.versions.items()),
                 f"  CPU cores: {self.cores}; free memory: {self.free_memory_gb:.1f} GB"]
        if self.gpu:
            free = f", {self.gpu_free_gb:.1f} GB free" if self.gpu_free_gb is not None else ""
            lines.append(f"  device: {self.device} ({self.gpu}{free})")
        else:
            lines.append(f"  device: {self.device} (no CUDA GPU or Apple mps found)")
        lines.append(f"  results go to: {self.results or 'nowhere writable (see the warning)'}")
        if self.minutes:
            lines.append("  expected minutes per notebook: " + ", ".join(f"{k} {v:.1f}" for k, v in self.minutes.items()))
        lines.append(f"    ({self.minutes_note})")
        lines += [f"  WARNING: {w}" for w in self.warnings] or ["  no warnings: ready"]
        return "\n".join(lines)


def version_warnings(versions: dict[str, str | None], python: str) -> list[str]:
    out = []
    if version_tuple(python) < version_tuple(PYTHON_MINIMUM):
        out.append(f"Python {python} is older than sftkit needs (>= {PYTHON_MINIMUM})")
    for name, minimum in MINIMUM.items():
        have = versions.get(name)
        if have is None:
            out.append(f"{name} is not installed: python -m pip install -r requirements.txt")
        elif version_tuple(have) < version_tuple(minimum):
            out.append(f"{name} {have} is older than sftkit needs (>= {minimum}): "
                       f"python -m pip install -U \"{name}>={minimum}\"")
    return out


def check_environment(show: bool = True) -> Report:
    """Check this machine and print the report (unless `show=False`); returns it (`Report.warnings`)."""
    python = platform.python_version()
    versions = {name: installed(name) for name in MINIMUM}
    warnings = version_warnings(versions, python)
    device, gpu, gpu_free = "unknown", None, None
    if versions["torch"] is not None:
        device, gpu, gpu_free = device_info()
    if device == "mps":
        warnings.append("Apple mps is picked when DEVICE = None, but sftkit was never run on a Mac (only that "
                        "choice is tested, mocked); if a cell fails there, set DEVICE = \"cpu\" in its parameters cell")
    free = free_memory_gb()
    if free < FREE_MEMORY_GB:
        warnings.append(f"only {free:.1f} GB of memory free: a notebook's kernel takes about 0.4 GB with torch and "
                        f"the tiny model loaded and up to 0.4 GB more while training; shut down other kernels")
    results, problem = results_place()
    if problem:
        warnings.append(problem)
    cores = cpu_cores()
    busy = busy_warning(cores)
    if busy:
        warnings.append(busy)
    minutes, note = expected_minutes(*measured_runtimes(), cores, device)
    report = Report(versions={"python": python, "sftkit": __version__, **{k: versions[k] for k in SHOWN}},
                    cores=cores, free_memory_gb=free, device=device, gpu=gpu, gpu_free_gb=gpu_free, results=results,
                    minutes=minutes, minutes_note=note, warnings=warnings)
    if show:
        print(report.text(), flush=True)
    return report
