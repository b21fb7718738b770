"""The online loop that SuperHF and PPO share: sample prompts -> generate -> score -> update.

    for step in range(config.steps):
        prompts  = next P records (a seeded permutation per pass)
        rollout  = S sampled answers per prompt (one batched `generate` call), tokenized with answer labels
        rewards  = reward_fn(records, answers)           # [P*S]: a learned reward model or the gold checker
        metrics  = self.update(rollout)                  # the method: best-of-N NLL + KL (SuperHF), PPO, ...

`OnlineLoop` owns the loop, the optimizer, sampling, scoring, the frozen prior (a LoRA model with its adapter
disabled, or a frozen copy) and the metric history; a method subclasses it and writes `update`. Rewards are
pluggable: `gold_reward` scores with the tiny world's checker (an oracle), `sftkit.reward.reward_fn` wraps a
learned reward model. Shapes: P prompts per step, S samples per prompt, N = P * S, T tokens.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from .data import pad_collate, prompt_messages, tokenize_conversation
from .evaluate import sample_answers
from .io import SftkitError
from .logprobs import eval_mode, frozen_copy, is_peft
from .losses import token_nll
from .train import Meter, progress
from .world import check

RewardFn = Callable[[list[dict], list[str]], torch.Tensor]  # (records [N], answers [N]) -> rewards [N]


def gold_reward(records: list[dict], answers: list[str]) -> torch.Tensor:
    """1.0 where the tiny world's checker accepts the answer, else 0.0: [N]. The oracle a learned reward
    model only approximates."""
    return torch.tensor([float(check(r, a)) for r, a in zip(records, answers)])


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
    """A reward by name: one of `builtin` (a method's own, e.g. ppo's "judgement"), "gold" (the tiny world's
    checker), "rm:PATH" (a reward model saved with `save_pretrained`, see `sftkit.reward`), or
    "package.module:function" taking (records [N], answers [N]) and returning a tensor [N]."""
    builtin = {"gold": gold_reward, **(builtin or {})}
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


class OnlineLoop:
    """Base of online methods. Subclasses implement `update(rollout) -> {metric: float}` (one or more
    optimizer steps on `self.model` with `self.optimizer`); `prior_logprobs(batch)` gives the frozen
    prior's token log-probs for KL terms."""

    def __init__(self, model, tokenizer, prompts: list[dict], reward_fn: RewardFn,
                 config: OnlineConfig | None = None, ref_model=None):
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

    def run(self, steps: int | None = None) -> list[dict]:
        """Run `steps` iterations (default config.steps); returns the history, one dict per step (with its
        wall time in "seconds"); `peak_mem_mb` holds the run's peak memory."""
        meter = Meter(str(self.device))
        meter.on_train_begin(None, None, None)
        try:
            for _ in progress(range(steps or self.config.steps), desc="online steps", leave=False):
                step = len(self.history)
                start = time.perf_counter()
                rollout = self.rollout(self.next_prompts(), step)
                self.model.train()
                metrics = self.update(rollout)
                self.history.append({"step": step + 1, "reward": rollout.rewards.mean().item(),
                                     "seconds": time.perf_counter() - start, **metrics})
        finally:
            meter.on_train_end(None, None, None)
            self.peak_mem_mb = max(self.peak_mem_mb, meter.peak_mb)
        return self.history

    def state(self) -> dict:
        return {"config": asdict(self.config), "history": self.history}
