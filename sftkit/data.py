"""Conversations -> tensors: validation, loading, chat-template tokenization with answer-only labels, padding."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from .io import WORLD_DIR, SftkitError, read_jsonl
from .world import SKILLS

IGNORE = -100  # label of tokens that carry no loss (prompt, template, padding)
ROLES = ("system", "user", "assistant")


def validate_conversation(record: dict, require_gold: bool = False) -> None:
    """Raise ValueError naming the field at fault; `require_gold` also needs a known skill and an answer."""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("field 'messages' must be a non-empty list of {role, content} turns")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] must be {{'role': one of {ROLES}, 'content': str}}")
    if not any(m["role"] == "assistant" for m in messages):
        raise ValueError("record has no assistant turn (nothing to train on)")
    if "skill" in record or require_gold:
        if record.get("skill") not in SKILLS:
            raise ValueError(f"unknown skill {record.get('skill')!r} (known: {', '.join(SKILLS)})")
    if require_gold and not isinstance(record.get("answer"), str):
        raise ValueError("field 'answer' (the gold answer, a string) is missing")


def load_conversations(path: str | Path, require_gold: bool = False) -> list[dict]:
    """Load a conversational JSONL file, checking every record (errors name the file and line)."""
    return read_jsonl(path, lambda r: validate_conversation(r, require_gold))


def load_world(split: str) -> list[dict]:
    """One split of the committed tiny world: 'train', 'dev', 'test' or 'hard'."""
    return load_conversations(WORLD_DIR / f"{split}.jsonl", require_gold=True)


def prompt_messages(record: dict) -> list[dict]:
    """The conversation up to (not including) its last assistant turn: what a model is asked."""
    messages = record["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last]


def tokenize_conversation(tokenizer, messages: list[dict]) -> dict[str, list[int]]:
    """Token ids of a conversation and labels that keep only assistant tokens (IGNORE elsewhere).

    Works with any tokenizer that has a chat template: each assistant turn's span is found as the text
    between the template rendered up to the generation prompt and the template rendered with that turn,
    then mapped to tokens through the offsets of one tokenization of the whole conversation.
    """
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)
        if not (full.startswith(before) and full.startswith(upto)):
            raise SftkitError("the chat template does not render conversations prefix-consistently; "
                              "answer tokens cannot be located")
        spans.append((len(before), len(upto)))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    labels = [IGNORE] * len(enc["input_ids"])
    for j, (start, end) in enumerate(enc["offset_mapping"]):
        if any(s <= start < e for s, e in spans):
            labels[j] = enc["input_ids"][j]
    return {"input_ids": list(enc["input_ids"]), "labels": labels}


def tokenize_dataset(tokenizer, records: list[dict], max_length: int = 256, overflow: str = "drop",
                     verbose: bool = True) -> list[dict]:
    """Tokenize records for SFT. Over-long examples are dropped (or truncated); the count is reported.

    Returns a list of {"input_ids", "labels", "index"} with index = position in `records`.
    """
    if overflow not in ("drop", "truncate"):
        raise ValueError(f"overflow must be 'drop' or 'truncate', not {overflow!r}")
    out, dropped, truncated = [], 0, 0
    for index, record in enumerate(records):
        ex = tokenize_conversation(tokenizer, record["messages"])
        if len(ex["input_ids"]) > max_length:
            if overflow == "drop" or all(t == IGNORE for t in ex["labels"][:max_length]):
                dropped += 1
                continue
            truncated += 1
            ex = {k: v[:max_length] for k, v in ex.items()}
        out.append({**ex, "index": index})
    if dropped or truncated:
        msg = (f"{dropped} of {len(records)} examples longer than max_length={max_length} were dropped, "
               f"{truncated} truncated")
        warnings.warn(msg, stacklevel=2)
        if verbose:
            print(msg)
    if not out:
        raise SftkitError(f"no example fits max_length={max_length}")
    return out


def pad_collate(batch: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of tokenized examples: input_ids, labels (IGNORE), attention_mask, all [B, T].

    Other integer fields (e.g. "index") are stacked into [B] tensors.
    """
    width = max(len(ex["input_ids"]) for ex in batch)
    out = {
        "input_ids": torch.full((len(batch), width), pad_token_id, dtype=torch.long),
        "labels": torch.full((len(batch), width), IGNORE, dtype=torch.long),
        "attention_mask": torch.zeros((len(batch), width), dtype=torch.long),
    }
    for i, ex in enumerate(batch):
        n = len(ex["input_ids"])
        out["input_ids"][i, :n] = torch.tensor(ex["input_ids"])
        out["labels"][i, :n] = torch.tensor(ex["labels"])
        out["attention_mask"][i, :n] = 1
    for key in batch[0]:
        if key not in out:
            out[key] = torch.tensor([ex[key] for ex in batch])
    return out
