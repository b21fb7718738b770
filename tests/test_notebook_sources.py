"""Every notebook's source is its percent script in notebooks/src/ (sftkit.notebook_sources): script and .ipynb agree
cell for cell, rebuilding a notebook from its script keeps its outputs, and pytest never collects a script."""
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from sftkit import notebook_sources as ns
from sftkit.io import REPO_DIR

NOTEBOOKS = ns.notebooks()
SCRIPTS = sorted(ns.SOURCES_DIR.glob("*.py"))


def test_every_notebook_has_a_script_and_every_script_a_notebook():
    assert len(NOTEBOOKS) == 13
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SCRIPTS], \
        "notebooks/ and notebooks/src/ must hold the same names (make notebook-sources / make notebooks)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_script_and_notebook_agree_cell_for_cell(path):
    lines = ns.differences(path)
    if lines:
        more = f" (and {len(lines) - 1} more; python -m sftkit.notebook_sources check lists them)" if len(lines) > 1 else ""
        pytest.fail(lines[0] + more + ". Edit the script, then `make notebooks`", pytrace=False)


def _copy(path, tmp_path):
    notebook, script = tmp_path / path.name, tmp_path / "src" / f"{path.stem}.py"
    script.parent.mkdir(exist_ok=True)
    shutil.copy(path, notebook)
    shutil.copy(ns.source_of(path), script)
    return notebook, script


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_rebuilding_a_notebook_from_its_script_changes_no_byte(path, tmp_path):
    """`make notebooks` on a clean checkout is a no-op: outputs, ids, execution metadata and widget state kept."""
    notebook, script = _copy(path, tmp_path)
    assert not ns.build(script, notebook), f"{path.name}: rebuilding from {script.name} rewrote the notebook"
    assert notebook.read_bytes() == path.read_bytes()
    assert not ns.export(notebook, script), f"{path.name}: exporting rewrote {script.name}"


def test_an_edited_script_rebuilds_its_notebook_keeping_every_output(tmp_path):
    path = REPO_DIR / "notebooks" / "01_sft.ipynb"
    notebook, script = _copy(path, tmp_path)
    before = nbformat.read(notebook, as_version=4)
    text = script.read_text()
    title = before.cells[0].source.splitlines()[0]
    assert text.count(f"# {title}\n") == 1
    text = text.replace(f"# {title}\n", f"# {title} (edited)\n")
    text = text.replace("# %% tags=[\"parameters\"]", "# %%\nprint('a new cell')\n\n# %% tags=[\"parameters\"]", 1)
    script.write_text(text)

    line = ns.differences(notebook, script)[0]  # the first disagreement, named in one line
    assert line.startswith("01_sft.ipynb cell 0 (markdown, ") and "line 1 of the cell" in line and "(edited)" in line, line

    assert ns.build(script, notebook)
    after = nbformat.read(notebook, as_version=4)
    assert ns.differences(notebook, script) == []
    assert after.cells[0].source.startswith(f"{title} (edited)")
    assert len(after.cells) == len(before.cells) + 1
    new = [c for c in after.cells if c.source == "print('a new cell')"]
    assert len(new) == 1 and new[0].outputs == [] and new[0].get("id")
    kept = [c for c in after.cells if c is not new[0]]
    assert [c.get("outputs") for c in kept] == [c.get("outputs") for c in before.cells]
    assert [c.id for c in kept] == [c.id for c in before.cells]
    assert after.metadata == before.metadata
    nbformat.validate(after)


def test_a_new_script_builds_a_notebook_with_the_one_kernelspec(tmp_path):
    """The kernelspec tests/test_notebooks.py checks (what ipykernel installs), whatever the script says."""
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    script, notebook = tmp_path / "src" / "13_new.py", tmp_path / "13_new.ipynb"
    script.parent.mkdir()
    script.write_text('# %% [markdown]\n# # 13 · New\n\n# %% tags=["parameters"]\nDEVICE = None\n\n# %%\nprint(DEVICE)\n')
    assert ns.build(script, notebook)
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    spec = get_kernel_dict()
    assert nb.metadata["kernelspec"] == {"display_name": spec["display_name"], "language": spec["language"], "name": KERNEL_NAME}
    cells = [(c.cell_type, c.metadata.get("tags", [])) for c in nb.cells]
    assert cells == [("markdown", []), ("code", ["parameters"]), ("code", [])]
    assert "jupytext" not in nb.metadata


def test_jupytext_toml_pairs_the_notebooks_with_the_scripts():
    """`jupytext --sync` and JupyterLab use jupytext.toml: the same pairing and format as sftkit.notebook_sources."""
    from jupytext.config import load_jupytext_configuration_file

    config = load_jupytext_configuration_file(str(REPO_DIR / "jupytext.toml"))
    assert config.notebook_metadata_filter == ns.FORMAT["notebook_metadata_filter"]
    formats = config.formats if isinstance(config.formats, str) else ",".join(config.formats)
    assert sorted(formats.split(",")) == ["notebooks///ipynb", "notebooks/src///py:percent"], config.formats


def test_pytest_collects_the_notebooks_and_no_script():
    """testpaths include notebooks/: nbval collects the .ipynb files; the scripts are never test modules."""
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks"], cwd=REPO_DIR,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    files = {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}
    assert files == {f"notebooks/{p.name}" for p in NOTEBOOKS}, sorted(files)


def test_the_scripts_hold_every_cell_tag_and_nbval_marker():
    """What the retired builders (notebooks/build/) carried: one parameters cell per notebook, nbval markers as written."""
    for path in NOTEBOOKS:
        text = ns.source_of(path).read_text()
        assert text.count('# %% tags=["parameters"]') == 1, path.name
        cells = json.loads(path.read_text())["cells"]
        markers = sum("".join(c["source"]).count("# NBVAL_") for c in cells)
        assert text.count("# NBVAL_") == markers, path.name
