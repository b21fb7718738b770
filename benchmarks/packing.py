"""Packing vs length bucketing, sftkit SFT only: the four settings alternated, 3 repetitions of 30 steps, the
fp32 matmul peak measured before and after (README "Speed", packing). About 3 minutes on 2 cores:

    PYTHONPATH=. .venv/bin/python benchmarks/packing.py
"""
import importlib.util
import os
import warnings
from pathlib import Path

import torch
import transformers

from sftkit.data import load_world
from sftkit.model import count_parameters, load_model

ARMS = {"sftkit (bucket 4)": dict(bucket=4), "sftkit, packing": dict(bucket=4, packing=True),
        "sftkit, no bucketing (--bucket 1)": dict(bucket=1), "sftkit, packing, no bucketing": dict(bucket=1, packing=True)}


def main(steps: int = 30, reps: int = 3) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    spec = importlib.util.spec_from_file_location("speed", Path(__file__).parent / "speed.py")
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    records = load_world("train")
    params = count_parameters(load_model("tiny", device="cpu")[0])
    peaks = [speed.matmul_gflops()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; peak before {peaks[0]:.0f} GFLOP/s", flush=True)
    runs = {name: [] for name in ARMS}
    for rep in range(reps):
        for name, settings in ARMS.items():
            runs[name].append(speed.sftkit_sft(records, steps, **settings)[0])
            last = runs[name][-1]
            print(f"rep {rep + 1} {name}: {last['ms_per_step']:.0f} ms/step, {last['tokens_per_s']:,.0f} tokens/s", flush=True)
    peaks.append(speed.matmul_gflops())
    print(f"peak after {peaks[1]:.0f} GFLOP/s", flush=True)
    print(speed.table(f"SFT (batch 32, {steps} steps)", runs, "sftkit (bucket 4)", params, max(peaks)))


if __name__ == "__main__":
    main()
