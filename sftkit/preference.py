"""Preference optimization: the pair format, pair tokenization and collation, sequence log-probs under a
frozen reference, sampling several answers per prompt, tiny-world pairs, and the DPO / RPO trainers.

A preference record (Hugging Face's preference format, conversational or plain)::

    {"prompt": [{"role": "user", "content": "Reverse the word kofa."}],
     "chosen": [{"role": "assistant", "content": "afok"}],
     "rejected": [{"role": "assistant", "content": "kofa"}]}

Plain strings are accepted too ({"prompt": "...", "chosen": "...", "rejected": "..."}): they are read as one
user turn and one assistant turn and rendered with the model's chat template like everything else here.
Only the final assistant turn (the response) carries log-probabilities.

A pair batch holds the chosen sequences in its first half and the rejected ones in its second half
([2B, T]), so one forward pass scores both.
"""
from __future__ import annotations

import copy
import random
import statistics
import warnings
from collections import defaultdict
from functools import partial
from pathlib import Path

import torch
from transformers import TrainerCallback

from .data import IGNORE, ROLES, pad_collate, prompt_messages, tokenize_conversation
from .evaluate import generate
from .io import SftkitError, read_jsonl
from .losses import dpo_loss, rpo_loss, sequence_logprob
from .train import NTPTrainer
from .world import LAND, check

# ----------------------------------------------------------------------------------------------------
# The pair format


def _messages(value, field: str, roles: tuple[str, ...], plain_role: str) -> list[dict]:
    """A field as a list of turns; a plain string becomes one turn of role `plain_role`."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"field {field!r} is empty")
        return [{"role": plain_role, "content": value}]
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {field!r} must be a string or a non-empty list of {{role, content}} turns")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in roles or not isinstance(m.get("content"), str):
            raise ValueError(f"{field}[{i}] must be {{'role': one of {roles}, 'content': str}}")
    return value


def pair_conversations(record: dict) -> tuple[list[dict], list[dict]]:
    """(prompt + chosen, prompt + rejected) as full conversations; ValueError names the field at fault."""
    for field in ("prompt", "chosen", "rejected"):
        if field not in record:
            raise ValueError(f"field {field!r} is missing (a preference record has prompt, chosen, rejected)")
    prompt = _messages(record["prompt"], "prompt", ROLES, "user")
    if prompt[-1]["role"] == "assistant":
        raise ValueError("field 'prompt' must end with a user (or system) turn, not an assistant turn")
    chosen = _messages(record["chosen"], "chosen", ("assistant",), "assistant")
    rejected = _messages(record["rejected"], "rejected", ("assistant",), "assistant")
    if isinstance(record["chosen"], str) != isinstance(record["rejected"], str):
        raise ValueError("fields 'chosen' and 'rejected' must both be strings or both be lists of turns")
    if chosen == rejected:
        raise ValueError("fields 'chosen' and 'rejected' are identical (no preference to learn)")
    return prompt + chosen, prompt + rejected


def load_preferences(path: str | Path) -> list[dict]:
    """Load a preference JSONL file, checking every record (errors name the file, line and field)."""
    return read_jsonl(path, pair_conversations)


# ----------------------------------------------------------------------------------------------------
# Tokenization and collation


def final_turn_labels(labels: list[int]) -> list[int]:
    """Keep only the last run of labelled tokens (the response), so earlier assistant turns of a
    conversational prompt count as context, not as the response being scored."""
    end = len(labels)
    while end and labels[end - 1] == IGNORE:
        end -= 1
    start = end
    while start and labels[start - 1] != IGNORE:
        start -= 1
    return [IGNORE] * start + labels[start:]


def tokenize_pairs(tokenizer, records: list[dict], max_length: int = 256) -> list[dict]:
    """Tokenize preference records: {"chosen_input_ids", "chosen_labels", "rejected_input_ids",
    "rejected_labels", "index"}, labels on the response tokens only. Pairs with a side longer than
    `max_length` are dropped (the count is reported)."""
    out, dropped = [], 0
    for index, record in enumerate(records):
        try:
            sides = pair_conversations(record)
        except ValueError as e:
            raise SftkitError(f"preference record {index}: {e}") from None
        ex = {"index": index}
        for name, messages in zip(("chosen", "rejected"), sides):
            enc = tokenize_conversation(tokenizer, messages)
            ex[f"{name}_input_ids"], ex[f"{name}_labels"] = enc["input_ids"], final_turn_labels(enc["labels"])
        if max(len(ex["chosen_input_ids"]), len(ex["rejected_input_ids"])) > max_length:
            dropped += 1
            continue
        out.append(ex)
    if dropped:
        warnings.warn(f"{dropped} of {len(records)} pairs longer than max_length={max_length} were dropped",
                      stacklevel=2)
    if not out:
        raise SftkitError(f"no preference pair fits max_length={max_length}")
    return out


def pair_collate(batch: list[dict], collate) -> dict[str, torch.Tensor]:
    """Collate B tokenized pairs into one batch of 2B sequences, chosen first, with any single-sequence
    collator `collate` (e.g. `partial(pad_collate, pad_token_id=...)`): input_ids / labels /
    attention_mask [2B, T], index [B]."""
    rows = [{"input_ids": ex[f"{side}_input_ids"], "labels": ex[f"{side}_labels"]}
            for side in ("chosen", "rejected") for ex in batch]
    out = collate(rows)
    out["index"] = torch.tensor([ex["index"] for ex in batch])
    return out


# ----------------------------------------------------------------------------------------------------
# Log-probabilities under the policy and a frozen reference


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
    was_training = model.training
    model.eval()
    try:
        with model.disable_adapter():
            return sequence_logprobs(model, batch, average)
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------------------------------
# Sampling and tiny-world pairs


def sample_answers(model, tokenizer, records: list[dict], n: int = 4, temperature: float = 1.0,
                   top_p: float = 1.0, seed: int = 0, max_new_tokens: int = 48, batch_size: int = 128) -> list[list[str]]:
    """`n` sampled answers per record's prompt (batched, temperature / top-p): one list per record."""
    torch.manual_seed(seed)
    flat = generate(model, tokenizer, [prompt_messages(r) for r in records], max_new_tokens, batch_size,
                    do_sample=True, num_return_sequences=n, temperature=temperature, top_p=top_p)
    return [flat[i * n:(i + 1) * n] for i in range(len(records))]


def _swap(seq, rng: random.Random):
    """Swap two neighbouring items of a string or list (doubled when too short to swap)."""
    if len(seq) < 2:
        return seq + seq
    i = rng.randrange(len(seq) - 1)
    return seq[:i] + seq[i + 1:i + 2] + seq[i:i + 1] + seq[i + 2:]


def _near(n: int, rng: random.Random) -> str:
    return str(n + rng.choice([-10, -1, 1, 1, 10]))


def corrupt(record: dict, rng: random.Random) -> str:
    """A realistic wrong answer to a tiny-world record: the kind of mistake a small model makes
    (an unreversed word, an off-by-one count, a neighbour's fact, a flipped label, a wrong operator...)."""
    meta, answer, skill = record["meta"], record["answer"], record["skill"]
    if skill == "reverse":
        options = [meta["word"], _swap(answer, rng), answer[:-1]]
    elif skill == "uppercase":
        options = [meta["word"], _swap(answer, rng), answer[:-1], answer.capitalize()]
    elif skill == "length":
        options = [_near(int(answer), rng)]
    elif skill == "spell":
        options = [meta["word"], "-".join(_swap(meta["word"], rng)), answer[:-2]]
    elif skill == "add":
        options = [_near(int(answer), rng), str(abs(meta["a"] - meta["b"]))]
    elif skill == "sort":
        options = [" ".join(map(str, meta["numbers"])), " ".join(answer.split()[::-1]),
                   " ".join(_swap(answer.split(), rng))]
    elif skill == "max":
        options = [str(min(meta["numbers"])), str(sorted(meta["numbers"])[-2]), _near(int(answer), rng)]
    elif skill == "facts":
        attr = meta["attribute"]
        options = [LAND[town][attr] for town in LAND if LAND[town][attr] != answer]
    elif skill == "sentiment":
        options = ["negative" if answer == "positive" else "positive"]
    elif skill == "code":
        op = next(o for o in ("+", "-", "*") if f" {o} " in meta["expr"])
        options = [answer.replace(f" {op} ", f" {o} ", 1) for o in "+-*" if o != op]
        options += [answer + " + 1", meta["expr"]]
    else:
        options = [_swap(answer, rng)]
    options = [o for o in options if not check(record, o)] or [answer + answer]
    return rng.choice(options)


def world_pairs(records: list[dict], samples: list[list[str]] | None = None, corruptions: int = 1,
                max_sampled: int = 2, seed: int = 0) -> list[dict]:
    """Preference pairs from tiny-world records: chosen = the gold answer, rejected = up to `max_sampled`
    distinct wrong `samples` of a model (judged by the gold checker) and `corruptions` corrupted answers.

    Each pair is a conversational preference record plus "id", "skill" and "source" ("sample" or
    "corruption").
    """
    rng = random.Random(seed)
    pairs = []
    for i, r in enumerate(records):
        wrong = [s for s in dict.fromkeys((samples or [[]] * len(records))[i])
                 if s.strip() and not check(r, s)][:max_sampled]
        made = [(s, "sample") for s in wrong] + [(corrupt(r, rng), "corruption") for _ in range(corruptions)]
        for rejected, source in dict(made).items():
            pairs.append({"id": r["id"], "skill": r["skill"], "source": source, "prompt": prompt_messages(r),
                          "chosen": [{"role": "assistant", "content": r["answer"]}],
                          "rejected": [{"role": "assistant", "content": rejected}]})
    return pairs


# ----------------------------------------------------------------------------------------------------
# Trainers


class Probe(TrainerCallback):
    """Calls `fn(model) -> {name: float}` before training and every `every` steps (and at the end), and
    appends {"step", **values} to the trainer's log history: e.g. accuracy on a few dev prompts."""

    def __init__(self, fn, every: int):
        self.fn, self.every = fn, every

    def _run(self, state, model):
        state.log_history.append({"step": state.global_step, **self.fn(model)})

    def on_train_begin(self, args, state, control, model=None, **kw):
        self._run(state, model)

    def on_step_end(self, args, state, control, model=None, **kw):
        if (self.every and state.global_step % self.every == 0) or state.global_step == state.max_steps:
            self._run(state, model)


class PairTrainer(NTPTrainer):
    """A Trainer over preference pairs: wraps the single-sequence collator with `pair_collate`, averages
    metrics recorded with `record` into each log line, and takes an optional `probe` (see `Probe`)."""

    def __init__(self, *args, data_collator=None, probe=None, probe_every: int = 10, **kwargs):
        if data_collator is None:
            raise ValueError("PairTrainer needs the single-sequence data_collator it wraps (sftkit.train passes one)")
        super().__init__(*args, data_collator=partial(pair_collate, collate=data_collator), **kwargs)
        self._metrics: dict[str, list[float]] = defaultdict(list)
        if probe is not None:
            self.add_callback(Probe(probe, probe_every))

    def record(self, **values) -> None:
        for name, value in values.items():
            self._metrics[name].append(float(value.detach() if torch.is_tensor(value) else value))

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs:
            logs.update({k: statistics.fmean(v) for k, v in self._metrics.items()})
            self._metrics.clear()
        super().log(logs, *args, **kwargs)


class DPOTrainer(PairTrainer):
    """DPO (Rafailov et al., arXiv 2305.18290) with the sigmoid loss.

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
        if model.training:
            chosen_reward = self.beta * (chosen - ref_chosen).detach()
            rejected_reward = self.beta * (rejected - ref_rejected).detach()
            self.record(chosen_logp=chosen.mean(), rejected_logp=rejected.mean(),
                        chosen_reward=chosen_reward.mean(), rejected_reward=rejected_reward.mean(),
                        margin=(chosen_reward - rejected_reward).mean(),
                        reward_accuracy=(chosen_reward > rejected_reward).float().mean())
        return loss


class RPOTrainer(DPOTrainer):
    """RPO (Liu et al., arXiv 2405.16436): DPO plus an SFT term on the chosen response.

    variant "sum" (the paper's runs): eta defaults to 0.005; "mean" (the README's): eta defaults to 0.2.
    See `sftkit.losses.rpo_loss`.
    """

    DEFAULT_ETA = {"sum": 0.005, "mean": 0.2}

    def __init__(self, *args, eta: float | None = None, variant: str = "sum", **kwargs):
        if variant not in self.DEFAULT_ETA:
            raise ValueError(f"unknown RPO variant {variant!r}: use 'sum' or 'mean'")
        super().__init__(*args, **kwargs)
        self.variant = variant
        self.eta = self.DEFAULT_ETA[variant] if eta is None else eta

    def preference_loss(self, chosen, rejected, ref_chosen, ref_rejected, chosen_lengths) -> torch.Tensor:
        return rpo_loss(chosen, rejected, ref_chosen, ref_rejected, chosen_lengths, self.beta, self.eta,
                        self.variant)
