"""Losses as plain functions of logits and labels. Shapes: B = batch, T = sequence, V = vocabulary."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import IGNORE


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token negative log-likelihood of the next token.

    logits [B, T, V] and labels [B, T] (IGNORE where no loss) are aligned as the model sees them: the
    logits at t predict the label at t + 1. Returns (nll [B, T-1], mask [B, T-1] as float), nll = 0 where
    masked.
    """
    logits, targets = logits[:, :-1], labels[:, 1:]
    mask = targets != IGNORE
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                          ignore_index=IGNORE, reduction="none").view_as(targets)
    return nll, mask.float()


def reduce_loss(nll: torch.Tensor, mask: torch.Tensor, reduction: str = "token_mean") -> torch.Tensor:
    """Reduce per-token losses [B, T] under a mask [B, T].

    token_mean: sum over every answer token of the batch / their count (what HF models return);
    sequence_mean: mean over each sequence's answer tokens, then mean over sequences; sum: total.
    """
    if reduction == "token_mean":
        return (nll * mask).sum() / mask.sum().clamp(min=1)
    if reduction == "sequence_mean":
        return ((nll * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()
    if reduction == "sum":
        return (nll * mask).sum()
    raise ValueError(f"unknown reduction {reduction!r}: use token_mean, sequence_mean or sum")


def ntp_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "token_mean") -> torch.Tensor:
    """Next-token prediction (plain SFT) loss on answer tokens: logits [B, T, V], labels [B, T] -> scalar."""
    return reduce_loss(*token_nll(logits, labels), reduction)


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Log-probability of each sequence's answer tokens, summed (or averaged): [B, T, V], [B, T] -> [B]."""
    nll, mask = token_nll(logits, labels)
    total = -(nll * mask).sum(1)
    return total / mask.sum(1).clamp(min=1) if average else total


def dpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor,
             ref_rejected_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """DPO sigmoid loss per pair (Rafailov et al., 2023): all inputs [B] summed response log-probs -> [B].

    loss_i = -log sigmoid(beta * [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))]).
    Take `.mean()` for the batch loss.
    """
    margin = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * margin)


def rpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor,
             ref_rejected_logps: torch.Tensor, chosen_lengths: torch.Tensor, beta: float = 0.1,
             eta: float = 0.005, reduction: str = "sum") -> torch.Tensor:
    """RPO = DPO + an SFT term on the chosen response (Liu et al., arXiv 2405.16436): inputs [B] -> scalar.

    The two variants (`reduction`) of the official code (`chosen_lengths` [B] = number of chosen response tokens):
      sum:  mean_i [DPO_i - beta * eta * log pi(y_w,i)]                (paper: eta = 0.005)
      mean: mean_i DPO_i + eta * mean_i [-log pi(y_w,i) / |y_w,i|]      (README: eta = 0.2, beta = 0.5)
    Both reduce to DPO at eta = 0.
    """
    dpo = dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
    if reduction == "sum":
        return (dpo - beta * eta * chosen_logps).mean()
    if reduction == "mean":
        return dpo.mean() + eta * (-chosen_logps / chosen_lengths.clamp(min=1)).mean()
    raise ValueError(f"unknown RPO reduction {reduction!r}: use 'sum' or 'mean'")
