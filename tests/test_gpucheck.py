"""The GPU check (`sftkit doctor --gpu`): the same code path, small on the CPU (`--device cpu --tiny`)."""
import json

import pytest
import torch

from sftkit.cli import main
from sftkit.methods import NAMES, get

pytestmark = pytest.mark.usefixtures("repository_untouched")


def test_every_method_generation_and_lora_pass_and_are_measured(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["doctor", "--gpu", "--device", "cpu", "--tiny", "--steps", "4", "--batch-size", "8",
                 "--output", str(out)]) == 0
    said = capsys.readouterr().out
    result = json.loads(out.read_text())
    lines = {line["name"]: line for line in result["lines"]}
    data_side = {n for n in NAMES if get(n).shape == "data"}
    assert list(lines) == [*(f"{n} (generate)" if n in data_side else n for n in NAMES), "sft --lora-r 8", "eval"]
    assert result["failed"] == [] and all(line["passed"] for line in lines.values())
    trained = [line for name, line in lines.items() if not name.endswith("(generate)") and name != "eval"]
    assert all(line["step_ms"] > 0 and line["tokens_per_s"] > 0 and line["peak_mb"] is not None for line in trained)
    assert lines["eval"]["tokens_per_s"] > 0
    assert result["device"] == "cpu" and result["dtype"] == "float32" and result["steps"] == 4
    assert all(f"  {name}" in said for name in lines) and f"{len(lines)} of {len(lines)} passed; wrote {out}" in said


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_the_check_says_so_in_one_line(tmp_path, capsys):
    assert main(["doctor", "--gpu", "--output", str(tmp_path / "check.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sftkit: error: no CUDA GPU found") and "--device cpu --tiny" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "check.json").exists()


def test_the_readmes_path_count_is_the_checks():
    """The README's sample output ("N of N passed") and its "N paths" are what the check runs: one path per
    registered method, sft with LoRA, and eval (it said 12 when there were 13)."""
    import re

    from sftkit.io import REPO_DIR

    readme = (REPO_DIR / "README.md").read_text()
    paths = len(NAMES) + 2
    assert re.findall(r"(\d+) of (\d+) passed", readme) == [(str(paths), str(paths))]
    assert f"{paths} paths (one per registered" in readme
