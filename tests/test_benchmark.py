"""benchmarks/speed.py's pieces, one or two steps each (the benchmark itself is run by hand, not by the tests)."""
import importlib.util
from pathlib import Path

import pytest

from sftkit.data import load_world
from sftkit.world import world_pairs

pytestmark = pytest.mark.usefixtures("repository_untouched")


@pytest.fixture(scope="module")
def speed():
    path = Path(__file__).parent.parent / "benchmarks" / "speed.py"
    spec = importlib.util.spec_from_file_location("speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")  # TRL 1.16 on transformers 5.2x
def test_every_arm_runs_and_is_measured(speed):
    records = load_world("train")[:64]
    pairs = world_pairs(records)
    arms = {"sftkit": [speed.sftkit_sft(records, steps=2)[0]],
            "sftkit packed": [speed.sftkit_sft(records, steps=2, bucket=1, packing=True)[0]],
            "trl": [speed.trl_sft(records, steps=2, tuned=True)],
            "sftkit dpo": [speed.sftkit_dpo(pairs, steps=2)],
            "trl dpo": [speed.trl_dpo(pairs, steps=2, tuned=True)]}
    for runs in arms.values():
        assert runs[0]["ms_per_step"] > 0 and runs[0]["tokens_per_s"] > 0
    text = speed.table("SFT", arms, "trl", params=1000, peak=speed.matmul_gflops(n=64, seconds=1))
    assert text.count("\n") == 6 and "| trl | " in text and "1.00x" in text
