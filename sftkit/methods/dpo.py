"""DPO (Rafailov et al., arXiv 2305.18290): preference optimization against a frozen reference, with the
sigmoid loss `sftkit.losses.dpo_loss`. A loss-side method over preference pairs. Notebook: 05_dpo_rpo.

Pairs are `sftkit.data` preference records (tiny-world pairs: `sftkit.world.world_pairs`); a batch holds the
chosen sequences first and the rejected ones second ([2B, T], `sftkit.data.pair_collate`), so one forward
pass scores both.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import IGNORE, tokenize_pairs
from ..logprobs import eval_mode, frozen_copy, is_peft, reference_logprobs, sequence_logprobs
from ..losses import dpo_loss, sequence_logprob
from ..train import PairTrainer
from .base import MethodConfig, MethodSpec, Paper, knob

PAPER = Paper("Direct Preference Optimization: Your Language Model is Secretly a Reward Model", "2305.18290",
              "https://github.com/eric-mitchell/direct-preference-optimization", "05_dpo_rpo")


def implicit_reward_stats(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor,
                          ref_rejected: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    """Batch means of what DPO logs, from summed log-probs [B] of policy and reference: chosen_logp,
    rejected_logp, the implicit rewards beta * (log pi - log ref) (chosen_reward, rejected_reward), their
    margin, the margin without beta (logratio_margin: comparable across betas) and reward_accuracy (share of
    pairs whose chosen reward is the larger)."""
    logratio = (chosen - ref_chosen) - (rejected - ref_rejected)
    return {"chosen_logp": chosen.mean(), "rejected_logp": rejected.mean(),
            "chosen_reward": beta * (chosen - ref_chosen).mean(), "rejected_reward": beta * (rejected - ref_rejected).mean(),
            "margin": beta * logratio.mean(), "logratio_margin": logratio.mean(),
            "reward_accuracy": (logratio > 0).float().mean()}


class DPOTrainer(PairTrainer):
    """DPO with the sigmoid loss.

    The reference is `ref_model` if given; else, for a LoRA model, the same model with its adapter
    disabled; else a frozen copy of the model as training starts. Logged per step: the policy's summed
    log-probs of chosen and rejected responses, the implicit rewards beta * (log pi - log ref), their
    margin and how often the chosen reward is the larger.
    """

    def __init__(self, *args, beta: float = 0.1, ref_model=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.beta = beta
        self.ref_model = ref_model if ref_model is not None or is_peft(self.model) else frozen_copy(self.model)

    def preference_loss(self, chosen, rejected, ref_chosen, ref_rejected, chosen_lengths) -> torch.Tensor:
        return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, self.beta).mean()

    def loss(self, model, inputs: dict, outputs) -> torch.Tensor:
        chosen, rejected = sequence_logprob(outputs.logits, inputs["labels"]).chunk(2)
        ref_chosen, ref_rejected = reference_logprobs(self.accelerator.unwrap_model(model), self.ref_model,
                                                      inputs).chunk(2)
        lengths = (inputs["labels"][:, 1:] != IGNORE).sum(1).chunk(2)[0]
        loss = self.preference_loss(chosen, rejected, ref_chosen, ref_rejected, lengths)
        self.record(**implicit_reward_stats(chosen.detach(), rejected.detach(), ref_chosen, ref_rejected, self.beta))
        return loss


@torch.no_grad()
def pair_logprob_stats(model, batch: dict, ref_logps: torch.Tensor, beta: float = 0.1) -> dict[str, float]:
    """Chosen / rejected summed log-probs and implicit rewards of `model` on one FIXED pair batch.

    `batch` is a `sftkit.data.pair_collate` batch (chosen rows first, then rejected; [2B, T]) and `ref_logps`
    [2B] the reference's summed log-probs of the same rows. The model runs in eval mode (restored after).
    Returns the batch means of `implicit_reward_stats` as floats. On a fixed held-out batch these curves
    do not move with the length of whatever training batch came last, unlike the per-step training log.
    """
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    with eval_mode(model):
        chosen, rejected = sequence_logprobs(model, batch).float().chunk(2)
    ref_chosen, ref_rejected = ref_logps.to(device).float().chunk(2)
    stats = implicit_reward_stats(chosen, rejected, ref_chosen, ref_rejected, beta)
    return {k: float(v) for k, v in stats.items()}


def heldout_pair_probe(ref_model, batch: dict, beta: float = 0.1, prefix: str = "heldout_"):
    """A `sftkit.train.Probe` function for a fixed held-out pair batch: `fn(model) -> {prefix + stat: value}`
    with the stats of `pair_logprob_stats`. The reference's log-probs are computed once, here, from
    `ref_model` (e.g. the SFT model every run starts from); pass `probe=fn, probe_every=k` to a `PairTrainer`."""
    device = next(ref_model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
    with torch.no_grad(), eval_mode(ref_model):
        ref_logps = sequence_logprobs(ref_model, batch).float()

    def probe(model) -> dict[str, float]:
        return {prefix + k: v for k, v in pair_logprob_stats(model, batch, ref_logps, beta).items()}

    return probe


@dataclass
class Config(MethodConfig):
    VARIANT = ("beta",)

    beta: float = knob(0.1, "strength of the pull towards the reference (DPO paper: 0.1)")


SPEC = MethodSpec("dpo", "loss", PAPER, Config, data="preference", trainer=DPOTrainer, tokenize=tokenize_pairs)
