"""A reward model: a causal LM with a scalar head, trained Bradley-Terry on preference pairs.

`load_reward_model` turns any causal LM checkpoint into a sequence classifier with one output
(`AutoModelForSequenceClassification`, num_labels=1): the backbone's last hidden state at the last
non-pad token, through a fresh linear head, is the reward of the whole conversation.
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from .data import pad_collate, pair_conversations, prompt_messages, tokenize_conversation, tokenize_pairs
from .logprobs import eval_mode
from .model import DEFAULT_MODEL, default_dtype, load_model, pick_device, quiet_local_loading, quiet_progress, resolve_model_path
from .train import PairTrainer, TrainConfig, TrainResult, train


def bradley_terry_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry negative log-likelihood that chosen beats rejected: [B], [B] -> [B].

    P(chosen > rejected) = sigmoid(r_chosen - r_rejected); loss_i = -log sigmoid(r_chosen,i - r_rejected,i).
    """
    return -F.logsigmoid(chosen_rewards - rejected_rewards)


def load_reward_model(name: str = DEFAULT_MODEL, device: str | None = None, dtype=None, seed: int = 0):
    """(reward model, tokenizer): the causal LM `name` with a freshly initialised scalar head."""
    import transformers
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_model(name, tokenizer_only=True)
    device = pick_device(device)
    dtype = dtype or default_dtype(device)
    torch.manual_seed(seed)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "score.weight newly initialized" is expected here
    path = resolve_model_path(name)
    try:
        with quiet_local_loading(path):
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype)
    finally:
        transformers.logging.set_verbosity(verbosity)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device), tokenizer


def reward_model_from(model, tokenizer, device: str | None = None, seed: int = 0):
    """(reward model, tokenizer) initialised from an in-memory causal LM (e.g. the SFT model): its body and a
    freshly initialised scalar head, like `load_reward_model` on a saved copy (saved quietly to a temp dir)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with quiet_progress():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        return load_reward_model(tmp, device=device, seed=seed)


class RewardTrainer(PairTrainer):
    """Bradley-Terry training of a scalar reward on pair batches (chosen first); logs pair accuracy."""

    def loss(self, model, inputs: dict, outputs) -> torch.Tensor:
        chosen, rejected = outputs.logits.squeeze(-1).float().chunk(2)
        self.record(reward_accuracy=(chosen > rejected).float().mean(), margin=(chosen - rejected).mean())
        return bradley_terry_loss(chosen, rejected).mean()


def train_reward_model(model, tokenizer, pairs: list[dict], config: TrainConfig | None = None) -> TrainResult:
    """Train a reward model on preference records (see `sftkit.data`) with the Bradley-Terry loss."""
    config = config or TrainConfig()
    return train(model, tokenizer, pairs, config, trainer_cls=RewardTrainer,
                 dataset=tokenize_pairs(tokenizer, pairs, config.max_length))


@torch.no_grad()
def reward_scores(model, tokenizer, conversations: list[list[dict]], batch_size: int = 128) -> torch.Tensor:
    """Reward of each full conversation (ending with the assistant's answer): -> [N] on the CPU."""
    device = next(model.parameters()).device
    scores = []
    with eval_mode(model):
        for start in range(0, len(conversations), batch_size):
            rows = [tokenize_conversation(tokenizer, c) for c in conversations[start:start + batch_size]]
            batch = pad_collate(rows, tokenizer.pad_token_id)
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            scores.append(logits.squeeze(-1).float().cpu())
    return torch.cat(scores)


def score_answers(model, tokenizer, records: list[dict], answers: list[str], batch_size: int = 128) -> torch.Tensor:
    """Reward of `answers[i]` as the reply to `records[i]`'s prompt: -> [N]."""
    return reward_scores(model, tokenizer, [prompt_messages(r) + [{"role": "assistant", "content": a}]
                                            for r, a in zip(records, answers)], batch_size)


def pair_accuracy(model, tokenizer, pairs: list[dict], batch_size: int = 128) -> float:
    """Fraction of preference records whose chosen response gets the higher reward."""
    chosen, rejected = pair_rewards(model, tokenizer, pairs, batch_size)
    return (chosen > rejected).float().mean().item()


def pair_rewards(model, tokenizer, pairs: list[dict], batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """The reward model's scores of each preference record's chosen and rejected sides: ([N], [N])."""
    sides = [pair_conversations(p) for p in pairs]
    return (reward_scores(model, tokenizer, [c for c, _ in sides], batch_size),
            reward_scores(model, tokenizer, [r for _, r in sides], batch_size))


def relabel(model, tokenizer, pairs: list[dict], batch_size: int = 128) -> tuple[list[dict], list[bool]]:
    """The same answer pairs, labelled by a reward model instead: in each returned pair "chosen" is the side the
    model scores higher (a tie keeps the given order). Also returns, per pair, whether the model agreed with the
    given labels, so `mean(agree)` is its accuracy on these pairs when they came labelled by the gold checker."""
    chosen, rejected = pair_rewards(model, tokenizer, pairs, batch_size)
    agree = (chosen >= rejected).tolist()
    out = [dict(p) if keep else {**p, "chosen": p["rejected"], "rejected": p["chosen"]} for p, keep in zip(pairs, agree)]
    return out, agree


def noisy_pairs(pairs: list[dict], n: int, noise: float, seed: int = 0) -> list[dict]:
    """`n` of `pairs` drawn at random, a fraction `noise` of them with chosen and rejected swapped (labellers
    who disagree with the gold checker): the training data of a deliberately imperfect proxy reward model."""
    rng = random.Random(seed)
    drawn = [dict(p) for p in rng.sample(pairs, min(n, len(pairs)))]
    for p in rng.sample(drawn, int(noise * len(drawn))):
        p["chosen"], p["rejected"] = p["rejected"], p["chosen"]
    return drawn


def reward_fn(model, tokenizer, batch_size: int = 128):
    """A learned reward model as the online loop's reward (`sftkit.online.RewardFn`): (records, answers) -> [N]."""
    return lambda records, answers: score_answers(model, tokenizer, records, answers, batch_size)
