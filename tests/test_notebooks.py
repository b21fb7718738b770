"""Static checks of the committed notebooks: common parameter names, clean outputs, current module paths."""
import json
import re

import pytest

from sftkit.io import REPO_DIR

NOTEBOOKS = sorted((REPO_DIR / "notebooks").glob("[0-9]*.ipynb"))
# Notebooks that train or load no model: 12 only reads results/*.jsonl, so a DEVICE or MODEL_NAME parameter would
# do nothing; its parameter is where it reads from (RESULTS_DIR), which the other notebooks take from sftkit.io.
READERS = [p for p in NOTEBOOKS if p.name == "12_leaderboard.ipynb"]
# 04 trains an MLP policy, not a language model
LM_NOTEBOOKS = [p for p in NOTEBOOKS if "frozenlake" not in p.name and p not in READERS]


def cells(path):
    return json.loads(path.read_text())["cells"]


def parameters(path) -> list[str]:
    tagged = [c for c in cells(path) if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    return re.findall(r"^(\w+)\s*=", "".join(tagged[0]["source"]), re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameter_names_are_the_suites(path):
    names = parameters(path)
    if path in READERS:
        assert "RESULTS_DIR" in names and not {"DEVICE", "MODEL_NAME"} & set(names), \
            f"{path.name}: reads results only; its parameter is RESULTS_DIR"
        return
    assert "DEVICE" in names
    if path in LM_NOTEBOOKS:
        assert "MODEL_NAME" in names, f"{path.name}: the model parameter is called MODEL_NAME in every notebook"
    assert not {"MODEL", "MODEL_ID", "SEED_LIST", "N_STEPS"} & set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_carry_no_machine_paths_warnings_or_stale_module_names(path):
    text = json.dumps([c.get("outputs", []) for c in cells(path)])
    for bad in ("/work/", "/root/", "/home/", "site-packages", ".venv/", "FutureWarning", "DeprecationWarning",
                "Writing model shards", "Loading weights"):
        assert bad not in text, f"{path.name}: committed outputs contain {bad!r}"
    bars = [o for c in cells(path) for o in c.get("outputs", [])
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
            and re.search(r"\d+%\|.*\|", "".join(o["data"].get("text/plain", "")))]
    assert not bars, f"{path.name}: a progress bar widget was saved in the outputs"
    source = "".join("".join(c["source"]) for c in cells(path))
    for old in ("sftkit.preference", "sftkit.sftmix", "sftkit.ift ", "sftkit.frozenlake", "from sftkit.ift"):
        assert old not in source, f"{path.name}: names the old module path {old!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_what_ipykernel_installs(path):
    """JupyterLab rewrites any other kernelspec on opening, so the notebook would open already "modified"."""
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    expected = {"display_name": spec["display_name"], "language": spec["language"], "name": KERNEL_NAME}
    assert json.loads(path.read_text())["metadata"].get("kernelspec") == expected


def test_the_leaderboard_notebook_reads_and_never_trains():
    """12 reads results/*.jsonl only: no training or model loading in its code (nbval runs it in seconds)."""
    (path,) = READERS
    source = "".join("".join(c["source"]) for c in cells(path) if c["cell_type"] == "code")
    for trains in ("run_method", "baseline(", "load_model", "train(", "results.save", "results.update"):
        assert trains not in source, f"{path.name}: calls {trains}"
    assert "missing_notebooks" in source and "check_claims" in source
