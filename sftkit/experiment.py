"""The one run recipe and the comparison protocol: same data, same budget, several seeds, untouched test splits.

`train_method` is the recipe every loss-side training goes through (the CLI's `sftkit train`, `run_method`,
the reference-curve test): fresh model (optionally LoRA) -> the method's tokenization -> its Trainer -> the
tokenizer to evaluate and save with; `train_online_method` is its online twin (fresh model with the method's
adapter -> the reward by name -> the method's loop), which `sftkit train ppo|superhf` runs. `run_method` runs
`train_method` once per seed and evaluates each model;
`BASELINE` is the plain-SFT configuration every later notebook compares against. The results' `variant`
comes from the method's Config (`variant_name`), never typed by hand; verdicts use `sftkit.stats.compare`
(through `sftkit.results.compare_rows`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch

from .data import IGNORE, load_world, pad_collate, tokenize_dataset
from .evaluate import evaluate
from .logprobs import eval_mode, sequence_logprobs
from .methods import get
from .methods.base import Arm, MethodConfig, MethodSpec
from .model import DEFAULT_MODEL, load_model, pick_device
from .results import accuracies, rows_from_eval
from .train import TrainConfig, TrainResult, train
from .world import EVAL_SPLITS
from .world import check as exact_match

BASELINE = TrainConfig(steps=300, batch_size=32, lr=1e-3, warmup_steps=15, scheduler="cosine")


@dataclass
class Run:
    """What `run_method` measured: schema rows, per-example predictions and training results per seed."""

    rows: list[dict] = field(default_factory=list)
    predictions: dict[int, list[dict]] = field(default_factory=dict)
    training: dict[int, TrainResult] = field(default_factory=dict)


def run_arms(arms: dict[str, Arm], seeds=(0, 1, 2), model_name: str = DEFAULT_MODEL, config: TrainConfig = BASELINE,
             device: str | None = None, keep_models=(), predictions=(), log: Callable[[str], None] | None = print,
             **kwargs) -> dict[str, Run]:
    """`run_method` for each arm of an ablation, on the same seeds and (but for an arm's own `steps`) the same
    budget: {label: Run}. Arms named in `keep_models` keep their models; arms named in `predictions` generate
    every wrong answer (the others are scored only). `log` gets one line per arm (label, test mean, seconds)."""
    runs = {}
    for label, arm in arms.items():
        start = time.time()
        runs[label] = run_method(arm.method, seeds, model_name, replace(config, steps=arm.steps or config.steps),
                                 method_config=arm.knobs, train_records=arm.data, note=arm.note, device=device,
                                 keep_models=label in keep_models, predictions=label in predictions, **kwargs)
        if log:
            test = accuracies(runs[label].rows, "test")
            log(f"{label:34s} test {100 * sum(test) / max(len(test), 1):5.1f}% (mean of {len(test)} seed(s), "
                f"{arm.steps or config.steps} steps, {time.time() - start:.0f} s)")
    return runs


def fit_probe(tokenizer, train_records: list[dict], dev_records: list[dict], max_length: int = 256):
    """A `sftkit.train.Probe` function that shows over-fitting: model -> {"train_nll", "dev_nll", "dev_em"}, the
    mean answer-token NLL on the records trained on and on held-out `dev_records`, and greedy exact match on
    `dev_records` (one teacher-forced pass). The gap between the two NLLs opening while dev stalls is over-fitting."""
    sets = {name: tokenize_dataset(tokenizer, records, max_length)
            for name, records in (("train", train_records), ("dev", dev_records))}

    def probe(model) -> dict[str, float]:
        values = {f"{name}_nll": answer_nll(model, data, tokenizer.pad_token_id) for name, data in sets.items()}
        with eval_mode(model):  # evaluate leaves the model in eval mode; training goes on after the probe
            rows = evaluate(model, tokenizer, dev_records, predictions=False)
        return {**values, "dev_em": sum(r["correct"] for r in rows) / max(len(rows), 1)}
    return probe


@torch.no_grad()
def answer_nll(model, dataset: list[dict], pad_token_id: int, batch_size: int = 128) -> float:
    """Mean NLL per answer token of tokenized `dataset` under `model` (a token mean over all its answers), from
    `sftkit.logprobs.sequence_logprobs` (each answer's summed log-prob)."""
    total, count = 0.0, 0
    with eval_mode(model):
        for start in range(0, len(dataset), batch_size):
            batch = {k: v.to(model.device) for k, v in pad_collate(dataset[start:start + batch_size], pad_token_id).items()}
            total -= float(sequence_logprobs(model, batch).sum())
            count += int((batch["labels"][:, 1:] != IGNORE).sum())
    return total / max(count, 1)


def variant_name(method_config: MethodConfig, lora: dict | None = None, note: str = "") -> str:
    """The results `variant`: the Config's variant fields, "lora-r<r>" for LoRA ("full" when neither), and
    an optional note for an ablation, e.g. "mu=0 (balanced batches only)"."""
    parts = [p for p in (method_config.variant(), f"lora-r{lora.get('r', 8)}" if lora else "") if p]
    text = ",".join(parts) or "full"
    return f"{text} ({note})" if note else text


def train_method(spec: MethodSpec, records: list[dict], config: TrainConfig, model_name: str = DEFAULT_MODEL,
                 method_config: MethodConfig | None = None, lora: dict | None = None, device: str | None = None,
                 output_dir: str | None = None, trainer_kwargs: dict | None = None,
                 callbacks: list | None = None) -> tuple[TrainResult, object]:
    """Train a fresh copy of `model_name` with loss-side method `spec` on `records` under `config`: the run
    recipe. The seed (`config.seed`) fixes the LoRA adapter's initial weights and the data order; `output_dir`
    keeps resumable checkpoints; `trainer_kwargs` adds data-like arguments to the method's knobs (e.g. SFTMix's
    `confident` split); `callbacks` go to the Trainer (e.g. a `sftkit.train.Probe` of `fit_probe`). Returns (the
    training result, the tokenizer to evaluate and save with)."""
    if spec.shape != "loss":
        raise ValueError(f"train_method trains loss-side methods; {spec.name} is {spec.shape}-side")
    method_config = method_config or spec.config()
    torch.manual_seed(config.seed)
    model, tokenizer = load_model(model_name, device=device, lora=lora)
    tokenize = spec.tokenize or tokenize_dataset  # a method's own (dpo, rpo: pairs; crlft: sources)
    result = train(model, tokenizer, records, config, trainer_cls=spec.trainer, output_dir=output_dir,
                   dataset=tokenize(tokenizer, records, config.max_length),
                   trainer_kwargs={**method_config.trainer_kwargs(), **(trainer_kwargs or {})}, callbacks=callbacks)
    return result, spec.inference_tokenizer(tokenizer, method_config)  # e.g. crlft: prompts carry the expert condition


def train_online_method(spec: MethodSpec, prompts: list[dict], online, model_name: str = DEFAULT_MODEL,
                        method_config: MethodConfig | None = None, reward: str | None = None, lora: dict | None = None,
                        device: str | None = None):
    """The run recipe for an online method: a fresh copy of `model_name` with the method's LoRA adapter (`lora`
    overrides it), the reward `reward` by name (`spec.reward_function`; default the method's own), then the
    method's loop for `online.steps` steps (`online`: a `sftkit.online.OnlineConfig`; its seed fixes the adapter's
    initial weights and the loop's sampling). Returns (the loop: `model`, `history`, ..., the tokenizer)."""
    if spec.shape != "online":
        raise ValueError(f"train_online_method runs online methods; {spec.name} is {spec.shape}-side")
    reward_fn = spec.reward_function(reward or spec.reward, device=device)
    torch.manual_seed(online.seed)  # the fresh adapter's initial weights (and dropout) follow the seed
    model, tokenizer = load_model(model_name, device=device, lora=lora or spec.lora)
    return spec.run(model, tokenizer, prompts, online, method_config or spec.config(), reward_fn), tokenizer


def run_method(method: str, seeds=(0, 1, 2), model_name: str = DEFAULT_MODEL, config: TrainConfig = BASELINE,
               method_config: MethodConfig | None = None,
               train_records: list[dict] | Callable[[int], list[dict]] | None = None,
               lora: dict | None = None, note: str = "", eval_splits=EVAL_SPLITS, trainer_kwargs=None,
               device: str | None = None, keep_models: bool = False, eval_records: list[dict] | None = None,
               max_new_tokens: int = 48, check=exact_match, predictions: bool = True,
               callbacks: Callable[[int], list] | None = None) -> Run:
    """Train registered `method` from `model_name` once per seed and evaluate on `eval_splits` (test, hard).

    `method_config` defaults to the method's `Config()` (the paper's defaults); `trainer_kwargs` adds
    arguments that are data rather than knobs (e.g. SFTMix's `confident` split). `train_records` defaults
    to the tiny world's train split (preference methods need pairs); a function `seed -> records` draws each
    seed's own data, so the spread over seeds includes the data draw, not only the batch order. `eval_records`
    (records with "split", "skill" and a gold "answer") replace the world's `eval_splits`, e.g. a data-side method's own test;
    answers are cut at `max_new_tokens` and judged by `check(record, prediction)` (default: the world's exact
    match, `sftkit.world.check`). Models are freed after evaluation unless `keep_models` (then
    `run.training[seed].model` holds each one). `predictions=False` scores without generating the answers that
    exact match proves wrong (`sftkit.evaluate.evaluate`: their prediction is None), for arms nobody reads.
    `callbacks(seed)` gives each seed's extra Trainer callbacks (e.g. a `Probe` whose values land in
    `run.training[seed].history`).
    """
    spec = get(method)
    method_config = method_config or spec.config()
    variant = variant_name(method_config, lora, note)
    train_records = train_records if train_records is not None else load_world("train")
    draw = train_records if callable(train_records) else lambda seed: train_records
    eval_records = eval_records if eval_records is not None else [r for s in eval_splits for r in load_world(s)]
    run = Run()
    for seed in seeds:
        result, tokenizer = train_method(spec, draw(seed), replace(config, seed=seed), model_name, method_config,
                                         lora, device, trainer_kwargs=trainer_kwargs,
                                         callbacks=callbacks(seed) if callbacks else None)
        preds = evaluate(result.model, tokenizer, eval_records, max_new_tokens, check=check, predictions=predictions)
        run.rows += rows_from_eval(preds, method=method, variant=variant, model=str(model_name), seed=seed,
                                   steps=config.steps, train_config=train_settings(config),
                                   step_time_s=result.step_time_s,
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


def train_settings(config: TrainConfig) -> dict:
    """The settings that define a training run, for matching saved results: everything in `config` but the
    seed (runs differ by seed), logging and checkpointing."""
    return {k: v for k, v in asdict(config).items() if k not in ("seed", "logging_steps", "save_steps")}


DEFAULT_SETTINGS = train_settings(TrainConfig())


def same_settings(saved, wanted: dict) -> bool:
    """Whether a saved row's `train_config` is `wanted` (`train_settings` of a config). A setting the saved
    row lacks matches when `wanted` has it at `TrainConfig`'s default: a field added to `TrainConfig` later
    (`packing`, say) defaults to what every run did before it existed."""
    if not isinstance(saved, dict) or not set(saved) <= set(wanted):
        return False
    return all(saved.get(key, DEFAULT_SETTINGS[key]) == value for key, value in wanted.items())


def saved_rows(notebook: str, method: str, variant: str, seeds, config: TrainConfig = BASELINE,
               model_name: str = DEFAULT_MODEL, device: str | None = None, results_dir=None) -> list[dict] | None:
    """The rows of `method` / `variant` that `notebook` saved in the results directory for every one of `seeds`
    with exactly `config`'s training settings (lr, batch size, steps, bucket, max_length, ..., see
    `train_settings`), on the same model and device type; None when any seed is missing."""
    from pathlib import Path

    from .io import results_dir as default_results_dir
    from .results import load

    directory = Path(results_dir or default_results_dir())
    if not (directory / f"{notebook}.jsonl").exists():
        return None
    wanted = train_settings(config)
    rows = [r for r in load(directory) if r["notebook"] == notebook and r["method"] == method
            and r["variant"] == variant and r["model"] == str(model_name) and same_settings(r.get("train_config"), wanted)
            and r.get("device") == pick_device(device) and r["seed"] in set(seeds)]
    return rows if {r["seed"] for r in rows} >= set(seeds) else None


def baseline(seeds=(0, 1, 2), model_name: str = DEFAULT_MODEL, config: TrainConfig = BASELINE,
             notebook: str = "01_sft", rerun: bool = False, device: str | None = None,
             results_dir=None) -> list[dict]:
    """Schema rows of the plain-SFT baseline (full fine-tuning with `config`, default `BASELINE`) for `seeds`.

    Reuses what `notebook` saved in the results directory only when every training setting matches exactly
    (`saved_rows`) for all these seeds; otherwise (or with `rerun=True`) trains it now and says so. Either way
    the rows are real measurements of this configuration.
    """
    rows = None if rerun else saved_rows(notebook, "sft", "full", seeds, config, model_name, device, results_dir)
    if rows is not None:
        print(f"SFT baseline: reusing seeds {sorted(set(seeds))} saved by {notebook} with the same settings")
        return rows
    print(f"SFT baseline: no saved run of {notebook} matches these settings; training it now")
    return run_method("sft", seeds, model_name, config=config, device=device).rows


def run_or_reuse(notebook: str, method: str, variant: str, train_records: list[dict], seeds=(0, 1, 2),
                 config: TrainConfig = BASELINE, rerun: bool = False, model_name: str = DEFAULT_MODEL,
                 device: str | None = None, results_dir=None, **kwargs) -> list[dict]:
    """Rows of plain SFT on `train_records` (e.g. a data-side method's data), labelled `method` / `variant`, for
    `seeds`: each seed that `notebook` saved with exactly these settings (`saved_rows`) is reused, the others are
    trained now (`run_method("sft", ...)`; `kwargs` go there: eval_records, max_new_tokens, check), and one line
    says which. Save them with `results.update` (not `results.save`, which replaces the file and so would drop
    the saved runs still to be reused) before the next call, so that an interrupted run resumes."""
    reused = {s: None if rerun else saved_rows(notebook, method, variant, (s,), config, model_name, device, results_dir)
              for s in seeds}
    todo = tuple(s for s in seeds if reused[s] is None)
    print(f"{method} {variant}: " + (f"reusing seeds {[s for s in seeds if s not in todo]} saved by {notebook}; "
                                     if len(todo) < len(seeds) else "") + (f"training seeds {list(todo)}" if todo else "done"))
    rows = [r for s in seeds if s not in todo for r in reused[s]]
    if todo:
        run = run_method("sft", todo, model_name, config=config, train_records=train_records, device=device, **kwargs)
        rows += [{**r, "method": method, "variant": variant, "notebook": notebook} for r in run.rows]
    return rows
