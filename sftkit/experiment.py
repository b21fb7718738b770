"""One comparison protocol for every notebook: same data, same budget, several seeds, untouched test splits.

`run_method` trains a fresh copy of the base model per seed with a given Trainer class and evaluates it;
`BASELINE` is the plain-SFT configuration every later notebook compares against.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .data import load_world
from .evaluate import evaluate
from .model import DEFAULT_MODEL, load_model, pick_device
from .results import rows_from_eval
from .train import NTPTrainer, TrainConfig, TrainResult, train

BASELINE = TrainConfig(steps=300, batch_size=32, lr=1e-3, warmup_steps=15, scheduler="cosine")
EVAL_SPLITS = ("test", "hard")


@dataclass
class Run:
    """What `run_method` measured: schema rows, per-example predictions and training results per seed."""

    rows: list[dict] = field(default_factory=list)
    predictions: dict[int, list[dict]] = field(default_factory=dict)
    training: dict[int, TrainResult] = field(default_factory=dict)


def run_method(method: str, seeds=(0, 1, 2), model_name: str = DEFAULT_MODEL, config: TrainConfig = BASELINE,
               trainer_cls=NTPTrainer, train_records: list[dict] | None = None, lora: dict | None = None,
               variant: str = "", eval_splits=EVAL_SPLITS, trainer_kwargs=None, device: str | None = None,
               keep_models: bool = False) -> Run:
    """Train from `model_name` once per seed and evaluate on `eval_splits` (default: test and hard).

    `train_records` defaults to the tiny world's train split. Models are freed after evaluation unless
    `keep_models` (then `run.training[seed].model` holds each one).
    """
    train_records = train_records if train_records is not None else load_world("train")
    eval_records = [r for s in eval_splits for r in load_world(s)]
    run = Run()
    for seed in seeds:
        torch.manual_seed(seed)
        model, tokenizer = load_model(model_name, device=device, lora=lora)
        result = train(model, tokenizer, train_records, replace(config, seed=seed), trainer_cls=trainer_cls,
                       trainer_kwargs=trainer_kwargs)
        preds = evaluate(result.model, tokenizer, eval_records)
        run.rows += rows_from_eval(preds, method=method, variant=variant, model=str(model_name), seed=seed,
                                   steps=config.steps, step_time_s=result.step_time_s,
                                   peak_mem_mb=result.peak_mem_mb, train_seconds=result.seconds,
                                   device=pick_device(device))
        run.predictions[seed] = preds
        if not keep_models:
            result.model = None
        run.training[seed] = result
    return run


def run_base(model_name: str = DEFAULT_MODEL, eval_splits=EVAL_SPLITS, device: str | None = None) -> Run:
    """Evaluate the untrained base model (zero-shot): the 'before' of every comparison."""
    model, tokenizer = load_model(model_name, device=device)
    preds = evaluate(model, tokenizer, [r for s in eval_splits for r in load_world(s)])
    return Run(rows=rows_from_eval(preds, method="base", variant="zero-shot", model=str(model_name), seed=0,
                                   steps=0, device=pick_device(device)), predictions={0: preds})


def baseline(seeds=(0, 1, 2), model_name: str = DEFAULT_MODEL, notebook: str = "01_sft", rerun: bool = False,
             device: str | None = None) -> list[dict]:
    """Schema rows of the plain-SFT baseline (`BASELINE`, full fine-tuning) for these seeds.

    Reuses what notebook 01 saved in results/ when it was measured with the same model, steps and
    seeds; otherwise (or with `rerun=True`) trains it now. Either way the rows are real
    measurements of the same configuration.
    """
    from .io import RESULTS_DIR
    from .results import load

    if not rerun and (RESULTS_DIR / f"{notebook}.jsonl").exists():
        rows = [r for r in load() if r["notebook"] == notebook and r["method"] == "sft"
                and r["variant"] == "full" and r["model"] == str(model_name) and r["steps"] == BASELINE.steps]
        if {r["seed"] for r in rows} >= set(seeds):
            return [r for r in rows if r["seed"] in seeds]
    return run_method("sft", seeds, model_name, variant="full", device=device).rows
