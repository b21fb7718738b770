"""Settings for every test, notebooks included (their kernels inherit this environment).

Tests never write into the repository: results go to a temporary copy of results/ (notebooks run by nbval
save there, and later notebooks read the baseline an earlier one saved, as in a real run).
"""
import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a stray Hub call fails fast instead of hanging
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SFTKIT_LIGHT", "1")  # notebooks' light profile: each under 5 minutes on 2 cores (README)

if "SFTKIT_RESULTS" not in os.environ:
    _results = Path(tempfile.mkdtemp(prefix="sftkit-test-results-"))
    for path in (Path(__file__).parent / "results").glob("*.jsonl"):
        shutil.copy(path, _results)
    os.environ["SFTKIT_RESULTS"] = str(_results)
    atexit.register(shutil.rmtree, _results, True)

# notebooks/src/*.py are the notebooks' sources (jupytext percent scripts, sftkit.notebook_sources), not test modules:
# pytest collects the .ipynb files under notebooks/ (nbval) and never imports a script.
collect_ignore_glob = ["notebooks/src/*"]


def pytest_collection_modifyitems(items):
    """Every notebook cell (nbval) is `slow`: `pytest -m "not slow"` is the quick loop, `make test` runs all."""
    import pytest

    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
