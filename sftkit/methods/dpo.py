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
from ..logprobs import frozen_copy, is_peft, reference_logprobs
from ..losses import dpo_loss, sequence_logprob
from ..train import PairTrainer
from .base import MethodConfig, Paper, knob

PAPER = Paper("Direct Preference Optimization: Your Language Model is Secretly a Reward Model", "2305.18290",
              "https://github.com/eric-mitchell/direct-preference-optimization", "05_dpo_rpo")
SHAPE, DATA = "loss", "preference"
tokenize = tokenize_pairs


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
        ref_chosen, ref_rejected = reference_logprobs(model, self.ref_model, inputs).chunk(2)
        lengths = (inputs["labels"][:, 1:] != IGNORE).sum(1).chunk(2)[0]
        loss = self.preference_loss(chosen, rejected, ref_chosen, ref_rejected, lengths)
        chosen_reward = self.beta * (chosen - ref_chosen).detach()
        rejected_reward = self.beta * (rejected - ref_rejected).detach()
        self.record(chosen_logp=chosen.mean(), rejected_logp=rejected.mean(),
                    chosen_reward=chosen_reward.mean(), rejected_reward=rejected_reward.mean(),
                    margin=(chosen_reward - rejected_reward).mean(),
                    reward_accuracy=(chosen_reward > rejected_reward).float().mean())
        return loss


@dataclass
class Config(MethodConfig):
    VARIANT = ("beta",)

    beta: float = knob(0.1, "strength of the pull towards the reference (DPO paper: 0.1)")


Trainer = DPOTrainer
