"""Training on `transformers.Trainer`: plain SFT here; loss-side methods subclass `NTPTrainer` and override
`loss` (or `compute_loss`), and log the parts of their loss with `record`.

Because it is the stock Trainer, `accelerate launch` / `torchrun` scale the same code to many GPUs.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from .data import IGNORE, pack_collate, pad_collate, pair_collate, tokenize_dataset
from .io import SftkitError, atomic_write_text, shown
from .losses import ntp_loss
from .model import device_of, pick_device, tied_to_loaded
from .profile import timed


@dataclass
class TrainConfig:
    """Hyper-parameters shared by every method (a method's own knobs live in its Trainer subclass)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 15
    scheduler: str = "cosine"
    max_length: int = 256
    seed: int = 0
    logging_steps: int = 10
    grad_accum: int = 1
    save_steps: int = 0  # 0: no checkpoints (notebooks); >0: checkpoint every N steps (CLI, resumable)
    bucket: int = 4  # batches drawn from shuffled groups of `bucket` batches sorted by length (1: plain random)
    packing: bool = False  # plain SFT only: each batch's examples packed several to a row (`sftkit.data.pack_collate`)
    extra: dict = field(default_factory=dict)  # method-specific settings, recorded with the results


def example_length(example: dict) -> int:
    """Tokens in a tokenized example: its `input_ids`, or the sum over `*_input_ids` (preference pairs)."""
    return sum(len(v) for k, v in example.items() if k.endswith("input_ids"))


def bucketed(order: list[int], lengths: list[int], batch_size: int, bucket: int) -> list[int]:
    """Sort each run of `bucket * batch_size` positions of `order` by length (stable).

    Batches cut from the result still mix skills but pad little. On the tiny world's train split,
    `bucket=4` cuts the mean padded batch length from 74 to 45 tokens (notebook 01 prints it) and the step
    time about in proportion, with test accuracy within the seed spread of random batches; sorting the
    whole data set (Trainer's `group_by_length`) made batches nearly single-skill and, in the one seed we
    tried, cost about 20 points of accuracy.
    """
    size = max(1, bucket) * batch_size
    return [i for s in range(0, len(order), size) for i in sorted(order[s:s + size], key=lambda i: lengths[i])]


def mean_padded_length(order: list[int], lengths: list[int], batch_size: int) -> float:
    """Mean padded length (the longest example) of the batches cut from `order`: what a step pays per row."""
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    return sum(max(lengths[i] for i in b) for b in batches) / len(batches)


def world_size() -> int:
    """Processes training together: WORLD_SIZE, set by `torchrun` and `accelerate launch` (1 without them)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in the one process that writes files and prints (RANK 0, or no launcher at all)."""
    return int(os.environ.get("RANK", "0")) == 0


def end_distributed(ok: bool = True) -> None:
    """Close the process group the Trainer opened under `torchrun`, after every rank got here when `ok`.

    A process that exits with the group still open can abort in the communication library's teardown
    ("terminate called without an active exception", SIGABRT) after its work is done and saved, and the
    launcher then reports the whole run as failed. No-op without a launcher.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if ok:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def full_batches(n: int, batch_size: int) -> int:
    """Examples in the whole batches of size `batch_size` that `n` examples fill."""
    return n - n % batch_size


class BucketSampler(torch.utils.data.Sampler):
    """A random permutation per pass (seeded by `seed` and the pass number), then `bucketed`.

    With `num_replicas` batches of `batch_size` rows to an optimizer step (processes times gradient-accumulation
    micro-batches, `NTPTrainer.micro_batches_per_step`), the order is the one a single process with batch
    `num_replicas * batch_size` draws: accelerate deals consecutive batches of `batch_size` out to the processes
    in turn and each process takes its next `grad_accum` of them, so step k of all processes together is step k
    of the single run. Each pass then stops at the last whole global batch (accelerate would fill a partial one
    up with examples seen earlier, and the Trainer would take a step of fewer micro-batches).
    """

    def __init__(self, lengths: list[int], batch_size: int, bucket: int = 4, seed: int = 0, num_replicas: int = 1):
        self.lengths, self.bucket, self.seed, self.epoch = lengths, bucket, seed, 0
        self.global_batch, self.num_replicas = batch_size * num_replicas, num_replicas

    def __len__(self) -> int:
        n = len(self.lengths)
        return full_batches(n, self.global_batch) if self.num_replicas > 1 else n

    def set_epoch(self, epoch: int) -> None:
        """Called by Trainer/accelerate before each pass, so a resumed run replays the same order."""
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        order = bucketed(torch.randperm(len(self.lengths), generator=gen).tolist(), self.lengths,
                         self.global_batch, self.bucket)
        return iter(order[:len(self)])


class NTPTrainer(Trainer):
    """Trainer whose loss is a readable function of (model outputs, batch); plain SFT by default.

    Batches come from `BucketSampler` (`bucket` groups of batches sorted by length; 1 = plain random).
    Subclasses call `record(name=value, ...)` from their loss; the recorded values are averaged into each
    log line (`trainer.state.log_history`), so every method logs the parts of its loss (under several
    processes, those of the main process's share of the batch).

    One optimizer step takes `grad_accum` micro-batches in each of the processes (`torchrun`, `accelerate
    launch`). Each micro-batch's loss is weighted by its share of the step's `loss_weight` (summed over all of
    them, `get_batch_samples`), so that what the processes accumulate and DDP averages, and what the Trainer
    logs, is the loss of the step's whole batch as one process with that batch computes it: a token mean over
    all its answer tokens, not a mean of the micro-batches' means (`tests/test_grad_accum.py`).
    """

    # The loss `compute_loss` returns is already scaled for gradient accumulation: the Trainer must not divide
    # it by the number of micro-batches (`loss_is_scaled_for_ga`, transformers >= 5.x; older releases decide
    # from `model_accepts_loss_kwargs`, which `__init__` sets to say the same).
    loss_is_scaled_for_ga = True

    def __init__(self, *args, bucket: int = 4, **kwargs):
        super().__init__(*args, **kwargs)
        self.bucket = bucket
        self._metrics: dict[str, list[float]] = defaultdict(list)
        self.model_accepts_loss_kwargs = True  # see `loss_is_scaled_for_ga`; the model never gets loss kwargs

    @property
    def micro_batches_per_step(self) -> int:
        """Batches of `per_device_train_batch_size` in one optimizer step, over all processes."""
        return self.args.world_size * self.args.gradient_accumulation_steps

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return BucketSampler([example_length(ex) for ex in dataset], self._train_batch_size, self.bucket,
                             seed=self.args.seed, num_replicas=self.micro_batches_per_step)

    def record(self, **values) -> None:
        """Remember scalar metrics of this step (tensors are detached); averaged into the next log line."""
        if self.model.training:
            for name, value in values.items():
                self._metrics[name].append(float(value.detach() if torch.is_tensor(value) else value))

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs:
            logs.update({k: statistics.fmean(v) for k, v in self._metrics.items()})
            self._metrics.clear()
        super().log(logs, *args, **kwargs)

    def loss(self, model, inputs: dict, outputs) -> torch.Tensor:
        return ntp_loss(outputs.logits, inputs["labels"])

    def forward_loss(self, model, inputs: dict) -> tuple[torch.Tensor, object]:
        """(loss, model outputs) of one batch: a forward pass, then `loss`. Methods with a forward of their own
        override this. A packed batch (`sftkit.data.pack_collate`) goes in with its position_ids and no
        attention_mask, so that each example attends to itself only."""
        if "position_ids" in inputs:
            outputs = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"], use_cache=False)
        else:
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        return self.loss(model, inputs, outputs), outputs

    def loss_weight(self, inputs: dict) -> torch.Tensor:
        """What the batch's loss is a mean over: its answer tokens (`ntp_loss` is a token mean). A loss that is
        a mean over examples returns their number."""
        return (inputs["labels"][:, 1:] != IGNORE).sum()

    def get_batch_samples(self, epoch_iterator, num_batches: int, device):
        """The micro-batches of one optimizer step (this process's) and the sum of `loss_weight` over those of
        all processes, which `compute_loss` receives as `num_items_in_batch`."""
        batches = []
        for _ in range(num_batches):
            try:
                batches.append(next(epoch_iterator))
            except StopIteration:
                break
        total = torch.tensor(sum(float(self.loss_weight(b)) for b in batches), dtype=torch.float64, device=device)
        return batches, self.accelerator.reduce(total, reduction="sum")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = self.forward_loss(model, inputs)
        if num_items_in_batch is not None and model.training:  # this micro-batch's share of the step's batch;
            # DDP averages the processes' gradients, hence the world size
            share = self.args.world_size * self.loss_weight(inputs).double() / num_items_in_batch.clamp(min=1e-12)
            loss = loss * share.float()
        return (loss, outputs) if return_outputs else loss

    def _issue_warnings_after_load(self, load_result) -> None:
        """Resuming from a checkpoint: a weight tied to a loaded one (a tied lm_head.weight, stored once) is
        not missing, so only the others are reported. (The Trainer's own check knows tied weights only from
        `_keys_to_ignore_on_save`, which Llama and GPT-2 leave empty.)"""
        tied = tied_to_loaded(self.model, load_result.missing_keys)
        missing = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))


class Probe(TrainerCallback):
    """Calls `fn(model) -> {name: float}` before training and every `every` steps (and at the end), and
    appends {"step", **values} to the trainer's log history: e.g. accuracy on a few dev prompts."""

    def __init__(self, fn, every: int):
        self.fn, self.every = fn, every

    def _run(self, state, model):
        state.log_history.append({"step": state.global_step, **self.fn(model)})

    def on_train_begin(self, args, state, control, model=None, **kw):
        self._run(state, model)

    def on_step_end(self, args, state, control, model=None, **kw):
        if (self.every and state.global_step % self.every == 0) or state.global_step == state.max_steps:
            self._run(state, model)


class PairTrainer(NTPTrainer):
    """A Trainer over preference pairs: wraps the single-sequence collator with `pair_collate` (chosen rows
    first, then rejected) and takes an optional `probe` (see `Probe`)."""

    def __init__(self, *args, data_collator=None, probe=None, probe_every: int = 10, **kwargs):
        if data_collator is None:
            raise ValueError("PairTrainer needs the single-sequence data_collator it wraps (sftkit.train passes one)")
        super().__init__(*args, data_collator=partial(pair_collate, collate=data_collator), **kwargs)
        if probe is not None:
            self.add_callback(Probe(probe, probe_every))

    def loss_weight(self, inputs: dict) -> torch.Tensor:
        """Pair losses are means over pairs (half the rows)."""
        return torch.tensor(inputs["labels"].size(0) / 2, device=inputs["labels"].device)


def release_freed_memory() -> None:
    """Return freed heap memory to the OS (glibc only; a no-op elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Meter(TrainerCallback):
    """Measures wall time and non-pad tokens per optimizer step and the peak memory while training on `device`
    ("cpu", "cuda" or "mps"; default `pick_device()`). Tokens are the Trainer's `num_input_tokens_seen` (the
    attention mask's sum over the step's batches, as `training_arguments` asks).

    Peak memory: `torch.cuda.max_memory_allocated` on CUDA; elsewhere the peak resident set size of the
    process above its size when training started, sampled every 5 ms by a background thread (on mps this
    may miss memory the Metal driver holds outside the process). Memory that earlier runs freed is first
    handed back to the OS (glibc `malloc_trim`), or a second run in the same process would reuse it unseen
    and look several times smaller.
    """

    def __init__(self, device: str | None = None):
        self.step_times: list[float] = []
        self.step_tokens: list[int] = []
        self.peak_mb = 0.0
        self.cuda = pick_device(device).startswith("cuda")
        self._stop = threading.Event()

    def on_train_begin(self, args, state, control, **kw):
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            import psutil

            release_freed_memory()
            proc = psutil.Process()
            base = proc.memory_info().rss

            def sample():
                while not self._stop.wait(0.005):
                    self.peak_mb = max(self.peak_mb, (proc.memory_info().rss - base) / 2**20)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()

    def on_step_begin(self, args, state, control, **kw):
        self._t0 = time.perf_counter()
        self._tokens0 = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kw):
        if self.cuda:
            torch.cuda.synchronize()
        self.step_times.append(time.perf_counter() - self._t0)
        self.step_tokens.append(state.num_input_tokens_seen - self._tokens0)

    def on_train_end(self, args, state, control, **kw):
        self._stop.set()
        if self.cuda:
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20

    @property
    def step_time(self) -> float:
        """Median seconds per optimizer step, skipping the first (warm-up) steps."""
        times = sorted(self.step_times[3:] or self.step_times)
        return times[len(times) // 2] if times else float("nan")

    @property
    def tokens_per_s(self) -> float:
        """Non-pad tokens per second of step time, over the steps `step_time` counts (the first three skipped)."""
        skip = 3 if len(self.step_times) > 3 else 0
        seconds = sum(self.step_times[skip:])
        return sum(self.step_tokens[skip:]) / seconds if seconds else float("nan")


def progress(iterable=None, quiet: bool = False, **kwargs):
    """A tqdm bar (notebook or terminal) that is quiet when `quiet` or TQDM_DISABLE=1, as in CI.

    tqdm's notebook bar ignores that variable, and each of its redraws is a widget message: thousands of
    them in one cell overflow the kernel's message queue, and nbval then times out waiting for the cell's
    output. So the flag is passed explicitly, and a visible bar redraws at most twice a second. Bars vanish
    when done (`leave=False` unless given), so a saved notebook keeps no finished bar.
    """
    from tqdm.auto import tqdm

    quiet = quiet or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    return tqdm(iterable, disable=quiet, mininterval=0.5, **{"leave": False, **kwargs})


class Progress(TrainerCallback):
    """One `progress` bar per run with the latest loss, in the main process only; replaces the Trainer's
    printing of every log dict."""

    def on_train_begin(self, args, state, control, **kw):
        self.bar = progress(total=state.max_steps, desc="training", leave=False, quiet=not state.is_world_process_zero)

    def on_step_end(self, args, state, control, **kw):
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}")

    def on_train_end(self, args, state, control, **kw):
        self.bar.close()


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[dict]  # Trainer log history: {"step", "loss", "learning_rate", ...}
    train_loss: float  # the Trainer's mean loss over the steps this call ran (0.0 when it ran none)
    step_time_s: float
    peak_mem_mb: float
    seconds: float
    config: dict
    steps_run: int  # optimizer steps taken by this call (fewer than config.steps after a resume)
    tokens_per_s: float = float("nan")  # non-pad tokens per second of step time (`Meter.tokens_per_s`)
    resumed_from: int = 0  # the checkpoint's step this call resumed from (0: a fresh start)

    @property
    def losses(self) -> tuple[list[int], list[float]]:
        rows = [h for h in self.history if "loss" in h]
        return [h["step"] for h in rows], [h["loss"] for h in rows]


CHECKPOINT_MARK = "sftkit-checkpoint.json"  # written once the Trainer has finished a checkpoint: step, settings
_NOT_SETTINGS = ("steps", "save_steps", "logging_steps")  # may change between a run and its resumption


def run_settings(config: TrainConfig, trainer_cls: type, trainer_kwargs: dict | None, dataset, model) -> dict:
    """What a checkpoint must share with the run that resumes it: the budget's other settings, the method and
    its knobs, the model and a digest of the tokenized data (`--steps` may grow: the schedule follows it)."""
    def plain(obj):
        return json.loads(json.dumps(obj, sort_keys=True, default=lambda o: type(o).__name__))

    data = hashlib.sha256(json.dumps([{k: list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v
                                       for k, v in dict(ex).items()} for ex in dataset], sort_keys=True,
                                     default=str).encode()).hexdigest()[:16]
    return plain({"config": {k: v for k, v in asdict(config).items() if k not in _NOT_SETTINGS},
                  "trainer": trainer_cls.__name__, "trainer_kwargs": trainer_kwargs or {},
                  "model": getattr(getattr(model, "config", None), "_name_or_path", type(model).__name__),
                  "data": data})


class CheckpointMark(TrainerCallback):
    """Marks each checkpoint complete (with the run's settings) once the Trainer has written all of it, so a
    half-written one (a crash while saving: Trainer writes checkpoints in place) is recognised and skipped."""

    def __init__(self, settings: dict):
        self.settings = settings

    def on_save(self, args, state, control, **kw):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            atomic_write_text(folder / CHECKPOINT_MARK, json.dumps({"step": state.global_step,
                                                                    "settings": self.settings}) + "\n")


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} -> {b!r}" if key != "data" else "data (other records)")
    return out


def resume_point(output_dir: str | Path, settings: dict) -> tuple[Path | None, int]:
    """The newest complete checkpoint in `output_dir` and its step, or (None, 0). Incomplete ones (no mark:
    a crash while saving, or an older sftkit) are removed with a line saying so; a complete one made with
    other settings is refused in one line (resuming it would silently continue another run)."""
    def step(p):
        try:
            return int(p.name.split("-")[-1])
        except ValueError:
            return -1

    for folder in sorted(Path(output_dir).glob("checkpoint-*"), key=step, reverse=True):
        try:
            mark = json.loads((folder / CHECKPOINT_MARK).read_text())
            complete = mark["step"] == step(folder)
        except (OSError, ValueError, KeyError, TypeError):
            complete = False
        if not complete:
            if is_main_process():
                print(f"skipping incomplete checkpoint {shown(folder)} (no completion mark: a crash while "
                      "saving); removed")
                shutil.rmtree(folder, ignore_errors=True)
            continue
        changed = _differences(mark["settings"], settings)
        if changed:
            raise SftkitError(f"{shown(output_dir)}: its checkpoints were made with other settings ("
                              f"{'; '.join(changed[:4])}): re-run with the same settings to resume, or delete "
                              f"{shown(output_dir)} to start afresh")
        return folder, step(folder)
    return None, 0


def training_arguments(config: TrainConfig, output_dir: str, device: str | None = None) -> TrainingArguments:
    """Trainer arguments for `config` on `device` (the model's device type, default `pick_device()`): bf16
    mixed precision on CUDA only; `use_cpu` on the CPU, so a CPU model is not moved to a GPU that happens to
    be there; on mps the Trainer keeps the model on Apple's GPU."""
    device = pick_device(device)
    cuda = device.startswith("cuda")
    return TrainingArguments(
        output_dir=output_dir, max_steps=config.steps, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.lr,
        weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
        lr_scheduler_type=config.scheduler, logging_steps=config.logging_steps, seed=config.seed,
        data_seed=config.seed, save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500, save_total_limit=2, report_to="none", bf16=cuda,
        ddp_find_unused_parameters=False,  # every trainable weight gets a gradient each step (LoRA included)
        use_cpu=device == "cpu", remove_unused_columns=False, dataloader_pin_memory=False,
        include_num_input_tokens_seen="non_padding",  # `Meter.tokens_per_s`
        disable_tqdm=True,  # `Progress` shows the bar instead
    )


@timed("train")
def train(model, tokenizer, records: list[dict], config: TrainConfig | None = None,
          trainer_cls: type[NTPTrainer] = NTPTrainer, output_dir: str | None = None,
          dataset: list[dict] | None = None, trainer_kwargs: dict | None = None,
          callbacks: list[TrainerCallback] | None = None) -> TrainResult:
    """Fine-tune `model` on conversational `records` with `trainer_cls` (plain SFT by default).

    `dataset` (already tokenized) overrides `records`; `trainer_kwargs` go to the trainer's constructor
    (method-specific settings); `callbacks` are added to the trainer's (e.g. a `Probe`). With `output_dir` and
    `config.save_steps`, training resumes from the newest checkpoint there. Returns the trained model with its
    loss history, step time and peak memory.
    """
    config = config or TrainConfig()
    if config.packing and trainer_cls is not NTPTrainer:
        raise SftkitError(f"packing is for plain SFT only (NTPTrainer), not {trainer_cls.__name__}: its loss reads "
                          "rows as examples")
    torch.manual_seed(config.seed)
    dataset = dataset if dataset is not None else tokenize_dataset(tokenizer, records, config.max_length)
    device = device_of(model)
    meter = Meter(device)
    callbacks = [meter, Progress(), *(callbacks or [])]
    checkpoint, resumed_from = None, 0
    if config.save_steps and output_dir:
        settings = run_settings(config, trainer_cls, trainer_kwargs, dataset, model)
        checkpoint, resumed_from = resume_point(output_dir, settings)  # before any training
        callbacks.append(CheckpointMark(settings))
    with tempfile.TemporaryDirectory() as scratch:
        out = output_dir or scratch
        trainer = trainer_cls(model=model, args=training_arguments(config, out, device), train_dataset=dataset,
                              data_collator=partial(pack_collate if config.packing else pad_collate,
                                                    pad_token_id=tokenizer.pad_token_id),
                              callbacks=callbacks, bucket=config.bucket, **(trainer_kwargs or {}))
        trainer.remove_callback(PrinterCallback)
        if checkpoint is not None and is_main_process():
            print(f"resumed from step {resumed_from} ({shown(checkpoint)})")
        start = time.time()
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
        seconds = time.time() - start
    model.eval()
    train_loss = output.training_loss  # its last steps (after the last log line) are this process's alone:
    if trainer.args.world_size > 1:  # average them like the logged losses
        train_loss = trainer.accelerator.reduce(torch.tensor(train_loss, device=trainer.args.device), "mean").item()
    return TrainResult(model=trainer.model, history=trainer.state.log_history, train_loss=train_loss,
                       step_time_s=meter.step_time, peak_mem_mb=meter.peak_mb, seconds=seconds,
                       config=asdict(config), steps_run=len(meter.step_times), tokens_per_s=meter.tokens_per_s,
                       resumed_from=resumed_from)
