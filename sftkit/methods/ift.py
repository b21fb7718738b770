"""Intuitive Fine-Tuning, IFT (Hua et al., "Intuitive Fine-Tuning: Towards Simplifying Alignment into a
Single Process", arXiv 2405.11870), following the official code (TsinghuaC3I/Intuitive-Fine-Tuning).

Per batch, two forward passes of the same causal LM, both fed through `inputs_embeds` from a frozen copy
E of the input-embedding table (re-copied from the model after every optimizer step):

1. no grad, on the true sequence: greedy one-step-ahead guesses yhat_t = argmax p(. | y_<t) on answer
   positions (prompt and padding keep the true token);
2. with grad, on fused embeddings e_t = (1 - lambda) E(y_t) + lambda E(yhat_t) ("temporal residual
   connection"); targets stay the true tokens;
3. each answer token's loss is re-weighted by "relation propagation": the discounted sum of the losses
   that follow it, rescaled so a sequence's weights sum to its number of answer tokens.

With lambda = 0 and gamma = 0 the loss is exactly per-sequence-mean SFT. Shapes: B = batch, T = sequence,
V = vocabulary, H = hidden size. A loss-side method. Notebook: 03_ift (and the FrozenLake lab, 04).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..data import IGNORE
from ..losses import reduce_loss, token_nll
from ..train import NTPTrainer
from .base import MethodConfig, MethodSpec, Paper, knob


def one_step_guesses(logits: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The model's greedy guess of each answer token from the true prefix: [B, T, V], [B, T], [B, T] -> [B, T].

    Position t gets argmax(logits[t - 1]) where labels[t] is an answer token, the true token elsewhere.
    """
    guesses = torch.cat([input_ids[:, :1], logits[:, :-1].argmax(-1)], dim=1)
    return torch.where(labels == IGNORE, input_ids, guesses)


def fuse_embeddings(embedding: torch.Tensor, input_ids: torch.Tensor, guess_ids: torch.Tensor,
                    lam: float) -> torch.Tensor:
    """Temporal residual connection: (1 - lam) E(y) + lam E(yhat); table [V, H], ids [B, T] -> [B, T, H]."""
    return (1 - lam) * F.embedding(input_ids, embedding) + lam * F.embedding(guess_ids, embedding)


def discounted_cumsum(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """Right-to-left discounted cumulative sum, y_t = sum_{i >= t} gamma^(i - t) x_i: [B, T] -> [B, T]."""
    t = torch.arange(x.size(-1), device=x.device, dtype=x.dtype)
    power = t[None, :] - t[:, None]  # [T, T]: i - t
    discount = torch.where(power >= 0, gamma ** power.clamp(min=0), torch.zeros_like(power))
    return x @ discount.T


def relation_weights(nll: torch.Tensor, mask: torch.Tensor, gamma: float = 0.95) -> torch.Tensor:
    """Relation-propagation weights of each answer token: nll [B, T], mask [B, T] -> weights [B, T].

    R_t = sum_{i >= t} gamma^(i - t) l_i / N over a sequence's N answer tokens; w_t = N R_t / sum_s R_s,
    0 off the mask, so each sequence's weights sum to N. Not detached, as in the official code.
    gamma = 0 switches propagation off (all weights 1), as the official code does.
    """
    if gamma == 0:
        return mask.clone()
    n = mask.sum(-1, keepdim=True).clamp(min=1)
    r = discounted_cumsum(nll * mask / n, gamma) * mask
    return r * n / r.sum(-1, keepdim=True).clamp(min=torch.finfo(r.dtype).tiny)


def fix_end_weight(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`weights` [B, T] with each sequence's last answer position (the end token) set to 1: the check of whether
    relation propagation, which gives the end token the smallest weight (nothing follows it), is what costs
    exact match on long answers. Rows without an answer token are unchanged."""
    t = torch.arange(mask.size(-1), device=mask.device)
    last = torch.where(mask > 0, t, -1).max(-1).values  # [B]
    end = (t[None, :] == last[:, None]) & (last[:, None] >= 0)
    return torch.where(end, torch.ones_like(weights), weights)


def lambda_at(step: int, lam: float = 0.2, schedule: str = "fixed", min_lambda: float = 0.0,
              warmup_steps: int = 0, noise: float = 0.0, noise_std: float = 0.5) -> float:
    """The fusion weight lambda at an optimizer step, clipped to [0, 1].

    fixed: lam; linear: from min_lambda up to lam over warmup_steps, then lam (the official `linear_warmup`);
    noisy: lam * (1 + noise_std * noise) with noise ~ N(0, 1) drawn once per step by the caller.
    """
    if schedule == "fixed":
        value = lam
    elif schedule == "linear":
        value = min_lambda + (lam - min_lambda) * min(1.0, step / max(1, warmup_steps))
    elif schedule == "noisy":
        value = lam * (1 + noise_std * noise)
    else:
        raise ValueError(f"unknown lambda schedule {schedule!r}: use fixed, linear or noisy")
    return min(1.0, max(0.0, value))


def ift_loss(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
             embedding: torch.Tensor, lam: float = 0.2, gamma: float = 0.95,
             end_weight: str = "propagated") -> tuple[torch.Tensor, dict]:
    """The IFT loss of a batch for any causal LM that accepts `inputs_embeds`.

    input_ids, attention_mask, labels [B, T]; `embedding` [V, H] is the frozen copy of the input table.
    `end_weight="one"` fixes each answer's last token weight at 1 (`fix_end_weight`; not in the paper).
    Returns (scalar loss, details) with details = {"guesses" [B, T], "nll" [B, T-1] (pass 2, detached),
    "weights" [B, T-1] (detached), "mask" [B, T-1], "sft_loss" (pass 1, per-sequence mean)}.
    """
    true_embeds = F.embedding(input_ids, embedding)
    with torch.no_grad():
        first = model(inputs_embeds=true_embeds, attention_mask=attention_mask).logits
        guesses = one_step_guesses(first, input_ids, labels)
        sft_loss = reduce_loss(*token_nll(first, labels), "sequence_mean")
    fused = fuse_embeddings(embedding, input_ids, guesses, lam)
    logits = model(inputs_embeds=fused, attention_mask=attention_mask).logits
    nll, mask = token_nll(logits, labels)
    weights = relation_weights(nll, mask, gamma)
    if end_weight == "one":
        weights = fix_end_weight(weights, mask)
    elif end_weight != "propagated":
        raise ValueError(f"unknown end_weight {end_weight!r}: use 'propagated' or 'one'")
    loss = reduce_loss(nll * weights, mask, "sequence_mean")
    return loss, {"guesses": guesses, "nll": nll.detach(), "weights": weights.detach(), "mask": mask,
                  "sft_loss": sft_loss}


class RefreshFrozenEmbeddings(TrainerCallback):
    """Re-copies the model's input embeddings into the trainer's frozen copy at the start of training
    (also after resuming a checkpoint) and after every optimizer step."""

    def __init__(self, trainer: IFTTrainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kw):
        self.trainer.refresh_embedding()

    def on_step_end(self, args, state, control, **kw):
        self.trainer.refresh_embedding()


def input_table_unused(model) -> bool:
    """IFT feeds the model embeddings looked up in a frozen copy, so the model's own input table gets a gradient
    only through an output layer tied to it: a trainable, untied table is unused (DDP must be told)."""
    table = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    return table.requires_grad and (output is None or output.weight is not table)


class IFTTrainer(NTPTrainer):
    """`NTPTrainer` with the IFT loss. Knobs (pass through `trainer_kwargs`): lam (0.2), gamma (0.95),
    lambda_schedule ("fixed" | "linear" | "noisy"), min_lambda (0.0, linear), noise_std (0.5, noisy), end_weight
    ("propagated" | "one")."""

    def __init__(self, *args, lam: float = 0.2, gamma: float = 0.95, lambda_schedule: str = "fixed",
                 min_lambda: float = 0.0, noise_std: float = 0.5, end_weight: str = "propagated", **kwargs):
        if kwargs.get("model") is not None and kwargs.get("args") is not None and input_table_unused(kwargs["model"]):
            kwargs["args"].ddp_find_unused_parameters = True
        super().__init__(*args, **kwargs)
        lambda_at(0, lam, lambda_schedule)  # fail early on an unknown schedule
        self.lam, self.gamma, self.lambda_schedule = lam, gamma, lambda_schedule
        self.min_lambda, self.noise_std, self.end_weight = min_lambda, noise_std, end_weight
        self.embedding: torch.Tensor | None = None
        self.add_callback(RefreshFrozenEmbeddings(self))

    def refresh_embedding(self) -> None:
        weight = self.model.get_input_embeddings().weight.detach()
        if self.embedding is None or self.embedding.shape != weight.shape or self.embedding.device != weight.device:
            self.embedding = weight.clone()
        else:
            self.embedding.copy_(weight)

    def current_lambda(self) -> float:
        step = self.state.global_step
        noise = 0.0
        if self.lambda_schedule == "noisy":  # one N(0, 1) draw per optimizer step, reproducible from the seed
            noise = torch.randn(1, generator=torch.Generator().manual_seed(self.args.seed * 1_000_003 + step)).item()
        return lambda_at(step, self.lam, self.lambda_schedule, self.min_lambda, self.args.warmup_steps, noise,
                         self.noise_std)

    def forward_loss(self, model, inputs: dict):
        if self.embedding is None:
            self.refresh_embedding()
        lam = self.current_lambda()
        loss, parts = ift_loss(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"],
                               self.embedding, lam, self.gamma, self.end_weight)
        self.record(sft_loss=parts["sft_loss"], lam=lam,
                    guess_accuracy=((parts["guesses"][:, 1:] == inputs["input_ids"][:, 1:]).float()
                                    * parts["mask"]).sum() / parts["mask"].sum().clamp(min=1))
        return loss, None

    def loss_weight(self, inputs: dict) -> torch.Tensor:
        """The IFT loss is a mean over sequences."""
        return torch.tensor(float(inputs["labels"].size(0)), device=inputs["labels"].device)


PAPER = Paper("Intuitive Fine-Tuning: Towards Simplifying Alignment into a Single Process", "2405.11870",
              "https://github.com/TsinghuaC3I/Intuitive-Fine-Tuning", "03_ift")


@dataclass
class Config(MethodConfig):
    VARIANT = ("lam", "gamma", "lambda_schedule")
    LABELS = {"lam": "lambda", "lambda_schedule": "schedule"}

    lam: float = knob(0.2, "weight of the model's own guess in the fused embedding (official: 0.2)")
    gamma: float = knob(0.95, "discount of the relation-propagation weights (official: 0.95)")
    lambda_schedule: str = knob("fixed", "fixed | linear | noisy", choices=("fixed", "linear", "noisy"))
    min_lambda: float = knob(0.0, "linear schedule: lambda at the start")
    noise_std: float = knob(0.5, "noisy schedule: std of the per-step noise")
    end_weight: str = knob("propagated", "weight of each answer's last (end) token: propagated (the paper) or one "
                                         "(fixed at 1, notebook 03's check)", choices=("propagated", "one"))

    def variant(self, note: str = "") -> str:
        """The base variant, plus "end=one" only when the end token's weight is fixed (so earlier results keep
        their names)."""
        text = super().variant()
        text += ",end=one" if self.end_weight == "one" else ""
        return f"{text} ({note})" if note else text


SPEC = MethodSpec("ift", "loss", PAPER, Config, trainer=IFTTrainer)
