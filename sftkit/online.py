"""The online loop that SuperHF and PPO share: sample prompts -> generate -> score -> update.

    for step in range(config.steps):
        prompts  = next P records (a seeded permutation per pass)
        rollout  = S sampled answers per prompt (one batched `generate` call), tokenized with answer labels
        rewards  = reward_fn(records, answers)           # [P*S]: a learned reward model or the gold checker
        metrics  = self.update(rollout)                  # the method: best-of-N NLL + KL (SuperHF), PPO, ...

`OnlineLoop` owns the loop, the optimizer, sampling, scoring, the frozen prior (a LoRA model with its adapter
disabled, or a frozen copy) and the metric history; a method subclasses it and writes `update`. Rewards are
pluggable: `gold_reward` scores with the tiny world's checker (an oracle), `sftkit.reward.reward_fn` wraps a
learned reward model. With `config.checkpoint_dir` the loop saves a checkpoint there every `config.save_every`
steps and a fresh loop resumes from the newest one; step seeds depend only on the step, so a resumed run
repeats an uninterrupted one. Shapes: P prompts per step, S samples per prompt, N = P * S, T tokens.
"""
from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .data import pad_collate, prompt_messages, tokenize_conversation
from .evaluate import sample_answers
from .io import SftkitError, atomic_dir, shown
from .logprobs import eval_mode, frozen_copy, is_peft
from .losses import token_nll
from .profile import timed
from .train import Meter, progress, world_size
from .world import check
from .world.judgements import judgement_reward as judgement_for

RewardFn = Callable[[list[dict], list[str]], torch.Tensor]  # (records [N], answers [N]) -> rewards [N]


def gold_reward(records: list[dict], answers: list[str]) -> torch.Tensor:
    """1.0 where the tiny world's checker accepts the answer, else 0.0: [N]. The oracle a learned reward
    model only approximates."""
    return torch.tensor([float(check(r, a)) for r, a in zip(records, answers)])


def judgement_reward(records: list[dict], answers: list[str]) -> torch.Tensor:
    """The PPO paper's reward for each (judgement record, reply): +1 right, -1 wrong, -3 unreadable
    (`sftkit.world.judgements.judgement_reward`): [N]."""
    return torch.tensor([judgement_for(r, a) for r, a in zip(records, answers)])


REWARDS: dict[str, RewardFn] = {"gold": gold_reward, "judgement": judgement_reward}  # by name, for every online method


def checked_rewards(reward_fn: RewardFn, records: list[dict], answers: list[str]) -> torch.Tensor:
    """`reward_fn(records, answers)` as a float tensor [N], or one clear error: a reward function that raises,
    returns the wrong number of scores, or scores a reply NaN/infinite is named with the prompt it failed
    on (never a silent skip, never a NaN loss three steps later)."""
    name = getattr(reward_fn, "__name__", type(reward_fn).__name__)

    def prompt_of(i: int) -> str:
        r = records[i]
        return f"record {r.get('id', i)!r} (prompt {prompt_messages(r)[-1]['content'][:80]!r})"

    try:
        rewards = torch.as_tensor(reward_fn(records, answers), dtype=torch.float32).reshape(-1).cpu()
    except Exception as e:
        # find the record it fails on: one at a time (a reward function is per reply)
        for i in range(len(records)):
            try:
                reward_fn(records[i:i + 1], answers[i:i + 1])
            except Exception as one:
                raise SftkitError(f"reward function {name} failed on {prompt_of(i)}: {type(one).__name__}: {one}") from None
        raise SftkitError(f"reward function {name} failed on a batch of {len(records)}: {type(e).__name__}: {e}") from None
    if len(rewards) != len(records):
        raise SftkitError(f"reward function {name} returned {len(rewards)} scores for {len(records)} replies")
    bad = (~torch.isfinite(rewards)).nonzero().flatten().tolist()
    if bad:
        raise SftkitError(f"reward function {name} scored the reply {answers[bad[0]]!r} to {prompt_of(bad[0])} "
                          f"{rewards[bad[0]].item()} ({len(bad)} of {len(records)} not finite)")
    return rewards


def load_reward(name: str, builtin: dict[str, RewardFn] | None = None, device: str | None = None) -> RewardFn:
    """A reward by name: one of `REWARDS` (the registry every online method shares: "gold", the tiny world's
    checker, and "judgement", the PPO paper's +1 / -1 / -3), one of `builtin` (a method's own extra, e.g. ppo's
    "selfdebug"), "rm:PATH" (a reward model saved with `save_pretrained`, see `sftkit.reward`), or
    "package.module:function" taking (records [N], answers [N]) and returning a tensor [N]."""
    builtin = {**REWARDS, **(builtin or {})}
    if name in builtin:
        return builtin[name]
    if name.startswith("rm:"):
        from .reward import load_reward_model, reward_fn

        path = name[3:]
        try:
            model, tokenizer = load_reward_model(path, device=device)
        except (OSError, ValueError) as e:
            raise SftkitError(f"reward model {path!r}: {str(e).splitlines()[0]}") from None
        return reward_fn(model, tokenizer)
    if ":" not in name:
        raise SftkitError(f"unknown reward {name!r}: use {', '.join(builtin)}, rm:PATH or package.module:function")
    import importlib

    module, _, attr = name.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise SftkitError(f"reward {name!r}: {e}") from None


@dataclass
class OnlineConfig:
    """The loop's budget and sampling (a method's own knobs live in its Config)."""

    steps: int = 20  # outer iterations (rollout + update)
    prompts_per_step: int = 8  # P
    samples_per_prompt: int = 4  # S
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 48
    max_length: int = 256
    lr: float = 1e-4
    seed: int = 0
    checkpoint_dir: str | None = None  # resume from the newest checkpoint here (None: no checkpoints)
    save_every: int = 0  # with checkpoint_dir: save a checkpoint there every N steps (0: never)


RESUMABLE = ("steps", "checkpoint_dir", "save_every")  # config fields a resumed run may change
CHECKPOINT_FILE = "loop.pt"


@dataclass
class Rollout:
    """One step's samples: `records[i]` was answered `answers[i]` (each prompt repeated S times, grouped)."""

    records: list[dict]  # [N]
    answers: list[str]  # [N]
    batch: dict  # input_ids / labels / attention_mask [N, T]; labels only on the answer tokens
    rewards: torch.Tensor  # [N]
    samples_per_prompt: int

    def grouped(self, values: torch.Tensor) -> torch.Tensor:
        """[N] -> [P, S]: one row per prompt."""
        return values.view(-1, self.samples_per_prompt)


def answer_batch(tokenizer, records: list[dict], answers: list[str], device) -> dict:
    """Prompt + answer conversations tokenized with labels on the answer: a padded batch [N, T] on `device`."""
    rows = [tokenize_conversation(tokenizer, prompt_messages(r) + [{"role": "assistant", "content": a}])
            for r, a in zip(records, answers)]
    return {k: v.to(device) for k, v in pad_collate(rows, tokenizer.pad_token_id).items()}


def token_logprobs(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of each next token and the answer mask: ([N, T-1], [N, T-1])."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    nll, mask = token_nll(logits, batch["labels"])
    return -nll, mask


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest `step-NNNNNN` checkpoint `OnlineLoop.run` saved in `directory` (None: none yet)."""
    found = sorted(Path(directory).glob("step-*"))
    return found[-1] if found else None


def mismatch(saved: dict, current: dict) -> str | None:
    """The first setting where a checkpoint's `saved` settings and this run's differ, as one phrase (None: they
    agree); a dict-valued setting (the trainable parameters' shapes) names its first differing key."""
    for key in {**saved, **current}:
        a, b = saved.get(key), current.get(key)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                return f"{key} {mismatch(a, b)}"
            return f"{key}: the checkpoint has {a!r}, this run {b!r}"
    return None


class OnlineLoop:
    """Base of online methods. Subclasses implement `update(rollout) -> {metric: float}` (one or more
    optimizer steps on `self.model` with `self.optimizer`); `prior_logprobs(batch)` gives the frozen
    prior's token log-probs for KL terms."""

    def __init__(self, model, tokenizer, prompts: list[dict], reward_fn: RewardFn,
                 config: OnlineConfig | None = None, ref_model=None):
        if world_size() > 1:  # each process would run the whole loop on its own (no DDP here) and write the same files
            raise SftkitError(f"{type(self).__name__} is an online method and trains in one process only (WORLD_SIZE="
                              f"{world_size()}): run it without torchrun or accelerate launch")
        self.model, self.tokenizer, self.prompts, self.reward_fn = model, tokenizer, prompts, reward_fn
        self.config = config or OnlineConfig()
        self.ref_model = ref_model if ref_model is not None or is_peft(model) else frozen_copy(model)
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.config.lr)
        self.history: list[dict] = []
        self.peak_mem_mb = 0.0  # peak memory of the last `run` (`sftkit.train.Meter`)
        self._order: list[int] = []
        self._rng = random.Random(self.config.seed)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def next_prompts(self) -> list[dict]:
        """The next P prompts of a seeded permutation (a new permutation each pass)."""
        out = []
        while len(out) < self.config.prompts_per_step:
            if not self._order:
                self._order = list(range(len(self.prompts)))
                self._rng.shuffle(self._order)
            out.append(self.prompts[self._order.pop()])
        return out

    def rollout(self, prompts: list[dict], step: int) -> Rollout:
        c = self.config
        samples = sample_answers(self.model, self.tokenizer, prompts, n=c.samples_per_prompt,
                                 temperature=c.temperature, top_p=c.top_p, seed=c.seed * 100_003 + step,
                                 max_new_tokens=c.max_new_tokens)
        records = [r for r in prompts for _ in range(c.samples_per_prompt)]
        answers = [a for group in samples for a in group]
        rewards = checked_rewards(self.reward_fn, records, answers)
        return Rollout(records, answers, answer_batch(self.tokenizer, records, answers, self.device), rewards,
                       c.samples_per_prompt)

    @torch.no_grad()
    def prior_logprobs(self, batch: dict) -> torch.Tensor:
        """Token log-probs [N, T-1] under the prior: the reference copy, or this LoRA model without its adapter."""
        if self.ref_model is not None:
            return token_logprobs(self.ref_model, batch)[0]
        with eval_mode(self.model), self.model.disable_adapter():
            return token_logprobs(self.model, batch)[0]

    def update(self, rollout: Rollout) -> dict:
        raise NotImplementedError("an online method implements update(rollout)")

    @timed("train")
    def run(self, steps: int | None = None) -> list[dict]:
        """Run `steps` iterations (default config.steps); returns the history, one dict per step (with its
        wall time in "seconds" and its rollout's non-pad tokens, prompts and replies, in "tokens");
        `peak_mem_mb` holds the run's peak memory. With `config.checkpoint_dir`, a fresh loop first resumes
        from the newest checkpoint there (its steps count towards `steps`), and every `config.save_every`
        steps a checkpoint `step-NNNNNN` replaces the older ones."""
        c = self.config
        end = len(self.history) + (steps or c.steps)
        if c.checkpoint_dir and not self.history and (latest := latest_checkpoint(c.checkpoint_dir)):
            self.load_checkpoint(latest)
            print(f"resuming from {shown(latest)}: step {len(self.history)} of {end}", flush=True)
        meter = Meter(str(self.device))
        meter.on_train_begin(None, None, None)
        try:
            for step in progress(range(len(self.history), end), desc="online steps", leave=False):
                start = time.perf_counter()
                rollout = self.rollout(self.next_prompts(), step)
                self.model.train()
                metrics = self.update(rollout)
                self.history.append({"step": step + 1, "reward": rollout.rewards.mean().item(),
                                     "seconds": time.perf_counter() - start,
                                     "tokens": int(rollout.batch["attention_mask"].sum()), **metrics})
                if c.checkpoint_dir and c.save_every and (step + 1) % c.save_every == 0:
                    saved = Path(c.checkpoint_dir) / f"step-{step + 1:06d}"
                    self.save_checkpoint(saved)
                    for old in Path(c.checkpoint_dir).glob("step-*"):
                        if old != saved:
                            shutil.rmtree(old, ignore_errors=True)
        finally:
            meter.on_train_end(None, None, None)
            self.peak_mem_mb = max(self.peak_mem_mb, meter.peak_mb)
        return self.history

    def state(self) -> dict:
        return {"config": asdict(self.config), "history": self.history}

    # ------------------------------------------------------------------------------------------------
    # Checkpoints: what a fresh loop needs to continue this one exactly

    def settings(self) -> dict:
        """What a checkpoint must share with the loop that loads it: the method, the model, the config (but
        its budget and checkpointing), the number of prompts and the trainable parameters' shapes."""
        config = {k: v for k, v in asdict(self.config).items() if k not in RESUMABLE}
        return {"method": type(self).__name__, "model": getattr(self.model.config, "_name_or_path", None), **config,
                "prompts": len(self.prompts),
                "trainable parameters": {n: list(p.shape) for n, p in self.model.named_parameters() if p.requires_grad}}

    def extra_state(self) -> dict:
        """A method's own state for checkpoints (tensors, numbers, lists, dicts); `load_extra_state` restores it."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def save_checkpoint(self, path: str | Path) -> None:
        """Save the directory `path` (replaced in one rename: a kill mid-save leaves no half checkpoint):
        the trainable parameters (a LoRA model's adapter; all of them for full fine-tuning), the optimizer,
        the history, the prompt order, the Python and torch random states and `extra_state()`."""
        cuda = self.device.type == "cuda"
        state = {"settings": self.settings(), "optimizer": self.optimizer.state_dict(), "history": self.history,
                 "trainable": {n: p.detach().cpu() for n, p in self.model.named_parameters() if p.requires_grad},
                 "order": self._order, "rng": self._rng.getstate(), "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state(self.device) if cuda else None, "extra": self.extra_state()}
        with atomic_dir(path) as tmp:
            torch.save(state, tmp / CHECKPOINT_FILE)

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from the checkpoint `save_checkpoint` wrote to `path`; a checkpoint of another run (other
        `settings()`) or an unreadable one is one `SftkitError` line naming `path` and what differs."""
        try:
            state = torch.load(Path(path) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        except Exception as e:  # missing, truncated, or not a checkpoint at all
            why = str(e).partition("\n")[0]
            raise SftkitError(f"{path}: not a readable checkpoint ({type(e).__name__}: {why})") from None
        diff = mismatch(state["settings"], self.settings())
        if diff:
            raise SftkitError(f"{path}: a checkpoint of another run ({diff}); rerun with its settings, or delete "
                              f"it to start afresh")
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                if p.requires_grad:
                    p.copy_(state["trainable"][n])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history, self._order = state["history"], state["order"]
        self._rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.load_extra_state(state["extra"])
