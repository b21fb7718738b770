"""Static checks of the committed notebooks: common parameter names, clean outputs, current module paths."""
import json
import re

import pytest

from sftkit.io import REPO_DIR

NOTEBOOKS = sorted((REPO_DIR / "notebooks").glob("[0-9]*.ipynb"))
LM_NOTEBOOKS = [p for p in NOTEBOOKS if "frozenlake" not in p.name]  # 04 trains an MLP policy, not a language model


def cells(path):
    return json.loads(path.read_text())["cells"]


def parameters(path) -> list[str]:
    tagged = [c for c in cells(path) if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    return re.findall(r"^(\w+)\s*=", "".join(tagged[0]["source"]), re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameter_names_are_the_suites(path):
    names = parameters(path)
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
