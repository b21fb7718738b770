"""RPO (Liu et al., "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an
Adversarial Regularizer", arXiv 2405.16436): DPO plus an SFT term on the chosen response,
`sftkit.losses.rpo_loss`. A loss-side method over preference pairs. Notebook: 05_dpo_rpo.

The official code has two variants (`reduction`): "sum" (the paper's runs: eta 0.005) and "mean" (its README: eta 0.2,
beta 0.5); both reduce to DPO at eta = 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import tokenize_pairs
from ..losses import rpo_loss
from .base import MethodConfig, MethodSpec, Paper, knob
from .dpo import DPOTrainer

PAPER = Paper("Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial "
              "Regularizer", "2405.16436", "https://github.com/YSLIU627/Regularized-Preference-Optimization",
              "05_dpo_rpo")
DEFAULT_ETA = {"sum": 0.005, "mean": 0.2}


class RPOTrainer(DPOTrainer):
    """DPO + eta * SFT on the chosen response; `reduction` "sum" or "mean" (eta None: its default)."""

    def __init__(self, *args, eta: float | None = None, reduction: str = "sum", **kwargs):
        if reduction not in DEFAULT_ETA:
            raise ValueError(f"unknown RPO reduction {reduction!r}: use 'sum' or 'mean'")
        super().__init__(*args, **kwargs)
        self.reduction = reduction
        self.eta = DEFAULT_ETA[reduction] if eta is None else eta

    def preference_loss(self, chosen, rejected, ref_chosen, ref_rejected, chosen_lengths) -> torch.Tensor:
        return rpo_loss(chosen, rejected, ref_chosen, ref_rejected, chosen_lengths, self.beta, self.eta,
                        reduction=self.reduction)


@dataclass
class Config(MethodConfig):
    VARIANT = ("reduction", "beta", "eta")

    reduction: str = knob("sum", "the official code's two variants of the SFT term: sum or mean "
                                 "(see sftkit.losses.rpo_loss)", choices=("sum", "mean"))
    beta: float = knob(0.1, "strength of the pull towards the reference")
    eta: float | None = knob(None, "weight of the SFT term (None: 0.005 for sum, 0.2 for mean)")

    def __post_init__(self):
        if self.eta is None and self.reduction in DEFAULT_ETA:
            self.eta = DEFAULT_ETA[self.reduction]


SPEC = MethodSpec("rpo", "loss", PAPER, Config, data="preference", trainer=RPOTrainer, tokenize=tokenize_pairs)
