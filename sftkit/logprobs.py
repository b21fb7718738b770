"""Running a model for scores rather than training: an eval-mode context, sequence log-probabilities under
the policy, and under a frozen reference (a copy, or the same LoRA model with its adapter disabled)."""
from __future__ import annotations

import contextlib
import copy

import torch

from .losses import sequence_logprob


@contextlib.contextmanager
def eval_mode(model):
    """Put `model` in eval mode for the body and restore its training mode afterwards, even on error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def sequence_logprobs(model, batch: dict, average: bool = False) -> torch.Tensor:
    """Summed (or averaged) log-prob of each sequence's labelled tokens: batch [N, T] -> [N]."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return sequence_logprob(logits, batch["labels"], average)


def is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def frozen_copy(model):
    """A frozen reference: a copy of `model` in eval mode with no gradients."""
    ref = copy.deepcopy(model).eval()
    ref.requires_grad_(False)
    return ref


@torch.no_grad()
def reference_logprobs(model, ref_model, batch: dict, average: bool = False) -> torch.Tensor:
    """Log-probs [N] under the reference: `ref_model`, or, when it is None, `model` (a PEFT model) with its
    LoRA adapter disabled, i.e. the frozen base weights (no second copy in memory)."""
    if ref_model is not None:
        return sequence_logprobs(ref_model, batch, average)
    if not is_peft(model):
        raise ValueError("ref_model=None needs a PEFT (LoRA) model whose adapter can be disabled")
    with eval_mode(model), model.disable_adapter():
        return sequence_logprobs(model, batch, average)
