"""Plain supervised fine-tuning: next-token prediction on the answer tokens. Notebook: 01_sft.

The baseline every other method is compared with (same data, budget and seeds). Its loss is
`sftkit.losses.ntp_loss`, its trainer `sftkit.train.NTPTrainer`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..train import NTPTrainer
from .base import MethodConfig, MethodSpec, Paper

PAPER = Paper("Finetuned Language Models Are Zero-Shot Learners (instruction tuning); Training language models "
              "to follow instructions with human feedback (SFT stage)", "2109.01652; 2203.02155",
              "https://github.com/google-research/FLAN", "01_sft")


@dataclass
class Config(MethodConfig):
    """Plain SFT has no knobs of its own: the budget (steps, batch, lr) is `TrainConfig`."""


SPEC = MethodSpec("sft", "loss", PAPER, Config, trainer=NTPTrainer)
