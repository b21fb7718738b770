"""`sftkit doctor` / `check_environment()`: what it reports, and a warning for each thing that will not work."""
import os
import re
import subprocess
import sys

from sftkit import doctor, io
from sftkit.io import REPO_DIR

README_BLOCK = """<!-- runtimes:start -->
| notebook | minutes |
|---|---|
| 00_world | 0.4 |
| 01_sft | 5.5 |
| **all** | **5.9** |

Measured by `sftkit tutorial` on 2026-11-26, 2 CPU cores, progress bars on, one notebook at a time.
<!-- runtimes:end -->
"""


def test_minimums_are_pyprojects_lower_bounds():
    text = (REPO_DIR / "pyproject.toml").read_text()
    deps = dict(re.findall(r'^\s+"([\w-]+)(?:\[[\w-]+\])?>=([\d.]+)",$', text.split("[project.optional-dependencies]")[0], re.M))
    assert deps.pop("jupyterlab") and deps == doctor.MINIMUM  # JupyterLab may live outside the kernel's environment
    assert f'requires-python = ">={doctor.PYTHON_MINIMUM}"' in text


def test_expected_minutes_scale_only_where_it_is_honest(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n" + README_BLOCK)
    measured, cores = doctor.measured_runtimes(readme)
    assert measured == {"00_world": 0.4, "01_sft": 5.5, "all": 5.9} and cores == 2
    one_core, note = doctor.expected_minutes(measured, cores, 1, "cpu")
    assert one_core == {"00_world": 0.8, "01_sft": 11.0, "all": 11.8} and "times 2.0 for this machine's 1 core" in note
    same, note = doctor.expected_minutes(measured, cores, 8, "cpu")
    assert same == measured and "this machine has 8: expect at most these" in note
    assert doctor.expected_minutes(measured, cores, 2, "cpu")[1].endswith("as many as this machine has")
    assert "nothing was measured on Apple's mps" in doctor.expected_minutes(measured, cores, 8, "mps")[1]
    assert doctor.expected_minutes(*doctor.measured_runtimes(tmp_path / "missing.md"), 2, "cpu") == (
        {}, "no measured runtimes found (README.md is not next to the package)")


def test_the_repositorys_readme_has_measured_runtimes():
    measured, cores = doctor.measured_runtimes()
    assert cores and set(measured) == {p.stem for p in (REPO_DIR / "notebooks").glob("[0-9]*.ipynb")} | {"all"}


def test_a_healthy_machine_reports_without_warnings(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SFTKIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(doctor, "free_memory_gb", lambda: 16.0)
    monkeypatch.setattr(doctor, "device_info", lambda: ("cuda", "NVIDIA H100 80GB HBM3", 79.0))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5), raising=False)
    report = doctor.check_environment()
    out = capsys.readouterr().out
    assert report.warnings == [] and out.rstrip().endswith("no warnings: ready")
    assert out == report.text() + "\n"
    for expected in ("versions: python ", "torch ", "transformers ", "peft ", "CPU cores: ", "free memory: 16.0 GB",
                     "device: cuda (NVIDIA H100 80GB HBM3, 79.0 GB free)", "results go to: ", "(SFTKIT_RESULTS)",
                     "expected minutes per notebook: 00_world ", "expect less on this GPU"):
        assert expected in out, expected


def test_old_torch_missing_package_low_memory_mps_and_no_results_dir_each_warn(monkeypatch, tmp_path):
    real = doctor.installed
    monkeypatch.setattr(doctor, "installed", lambda name: {"torch": "2.1.0+cpu", "peft": None}.get(name, real(name)))
    monkeypatch.setattr(doctor, "free_memory_gb", lambda: 0.5)
    monkeypatch.setattr(doctor, "device_info", lambda: ("mps", "Apple GPU", None))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5), raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SFTKIT_RESULTS", str(blocker / "results"))
    report = doctor.check_environment(show=False)
    text = "\n".join(report.warnings)
    assert 'torch 2.1.0+cpu is older than sftkit needs (>= 2.4): python -m pip install -U "torch>=2.4"' in text
    assert "peft is not installed: python -m pip install -r requirements.txt" in text
    assert "only 0.5 GB of memory free" in text
    assert 'never run on a Mac' in text and 'DEVICE = "cpu"' in text
    assert "no writable results directory: " in text and report.results is None
    assert len(report.warnings) == 5 and all("\n" not in w for w in report.warnings)
    assert "WARNING: " in report.text() and "device: mps (Apple GPU)" in report.text()


def test_a_busy_machine_warns_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("SFTKIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(doctor, "free_memory_gb", lambda: 16.0)
    monkeypatch.setattr(doctor, "cpu_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (10.0, 6.0, 3.0), raising=False)
    report = doctor.check_environment(show=False)
    busy = [w for w in report.warnings if "busy" in w]
    assert busy == [busy[0]] and "\n" not in busy[0] and "load 10.0 over the last minute on 2 cores" in busy[0]
    assert "OMP_NUM_THREADS=1" in busy[0] and "WARNING: this machine is busy" in report.text()
    for load in (2.0, 1.2):  # at or below the core count: no warning
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, 9.0, 9.0), raising=False)
        assert doctor.busy_warning(2) is None
    def no_load():
        raise OSError("no load average")
    monkeypatch.setattr(os, "getloadavg", no_load, raising=False)  # e.g. a platform without one
    assert doctor.busy_warning(2) is None


def test_a_read_only_checkout_says_where_results_go(monkeypatch, tmp_path):
    monkeypatch.delenv("SFTKIT_RESULTS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    monkeypatch.setattr(io, "_announced", set())
    place, problem = doctor.results_place()
    mine = io.shown(tmp_path / "share" / "sftkit" / "results")
    assert problem is None and place == f"{mine} (yours alone: this checkout is read-only or shared)"


def test_sftkit_doctor_command():
    out = subprocess.run([sys.executable, "-m", "sftkit", "doctor"], capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1) and out.stdout.startswith("sftkit ") and "environment check" in out.stdout
    assert (out.returncode == 1) == ("WARNING" in out.stdout)
