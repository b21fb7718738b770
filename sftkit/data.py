"""Records -> tensors: conversational and preference records (validation in one place, loading with
errors that name the file and line or row), chat-template tokenization with answer-only labels, padding and
pair collation.

The loaders read JSON Lines, JSON, Parquet, CSV and `datasets`' `save_to_disk` directories
(`sftkit.io.read_records` says how each is read). A conversational record: {"messages": [{"role", "content"},
...], ...}. A prompt-completion record (TRL's format), {"prompt": ..., "completion": ...}, is read as a
conversational one (`as_conversation`). A preference record (Hugging Face's preference format,
conversational or plain)::

    {"prompt": [{"role": "user", "content": "Reverse the word kofa."}],
     "chosen": [{"role": "assistant", "content": "afok"}],
     "rejected": [{"role": "assistant", "content": "kofa"}]}

Plain strings are accepted for the three fields too: one user turn and one assistant turn. Only the final
assistant turn (the response) carries log-probabilities. A pair batch holds the chosen sequences in its
first half and the rejected ones in its second half ([2B, T]), so one forward pass scores both.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path

import torch

from .io import WORLD_DIR, SftkitError, check_records, read_records
from .world import SKILLS

IGNORE = -100  # label of tokens that carry no loss (prompt, template, padding)
ROLES = ("system", "user", "assistant")
# The data-quality class a conversational record may name in its "source" field (C-RLFT's classes:
# `sftkit.methods.crlft`, notebook 06); validated here so that a bad file fails at its line.
SOURCES = ("expert", "suboptimal")


def turns(value, field: str, roles: tuple[str, ...] = ROLES, plain_role: str | None = None) -> list[dict]:
    """Check that `value` is a non-empty list of {role, content} turns with roles in `roles` (or, when
    `plain_role` is given, a non-empty string: one turn of that role). ValueError names the field."""
    if plain_role is not None and isinstance(value, str):
        if not value.strip():
            raise ValueError(f"field {field!r} is empty")
        return [{"role": plain_role, "content": value}]
    if not isinstance(value, list) or not value:
        kinds = "a string or a non-empty list" if plain_role else "a non-empty list"
        raise ValueError(f"field {field!r} must be {kinds} of {{role, content}} turns")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in roles or not isinstance(m.get("content"), str):
            raise ValueError(f"{field}[{i}] must be {{'role': one of {roles}, 'content': str}}")
    return value


def require_fields(record: dict, fields: tuple[str, ...], what: str) -> None:
    """ValueError naming the first of `fields` that `record` lacks ("a preference record has ...": `what`)."""
    for field in fields:
        if field not in record:
            raise ValueError(f"field {field!r} is missing ({what})")


def prompt_turns(value) -> list[dict]:
    """A prompt (a string: one user turn, or a list of turns ending with a user or system turn)."""
    prompt = turns(value, "prompt", ROLES, "user")
    if prompt[-1]["role"] == "assistant":
        raise ValueError("field 'prompt' must end with a user (or system) turn, not an assistant turn")
    return prompt


def as_conversation(record: dict) -> dict:
    """`record` as a conversational record. One with "messages" is returned as it is; a prompt-completion
    record (TRL's format: {"prompt": str or turns, "completion": str or turns}) becomes {"messages": prompt
    turns + completion turns, and its other fields}: a string prompt is one user turn, a string completion
    one assistant turn; a list completion holds assistant turns only. As for any conversational record, every
    assistant turn is trained on, including any inside a multi-turn prompt (TRL trains on the completion
    only). ValueError names the field at fault."""
    if "messages" in record or ("completion" not in record and "prompt" not in record):
        return record
    require_fields(record, ("prompt", "completion"), "a prompt-completion record has prompt and completion; "
                   "a conversational one has messages")
    messages = prompt_turns(record["prompt"]) + turns(record["completion"], "completion", ("assistant",), "assistant")
    return {"messages": messages, **{k: v for k, v in record.items() if k not in ("prompt", "completion")}}


def validate_conversation(record: dict, require_gold: bool = False, require: dict[str, str] | None = None) -> None:
    """Raise ValueError naming the field at fault; `require_gold` also needs a known skill and an answer;
    `require` maps further fields a method needs to why it needs them (e.g. C-RLFT's "source")."""
    require_fields(record, ("messages",), "a conversational record has messages, or prompt and completion")
    messages = turns(record["messages"], "messages")
    if not any(m["role"] == "assistant" for m in messages):
        raise ValueError("record has no assistant turn (nothing to train on)")
    if "skill" in record or require_gold:
        if record.get("skill") not in SKILLS:
            raise ValueError(f"unknown skill {record.get('skill')!r} (known: {', '.join(SKILLS)})")
    if require_gold and not isinstance(record.get("answer"), str):
        raise ValueError("field 'answer' (the gold answer, a string) is missing")
    if "source" in record and record["source"] not in SOURCES:
        raise ValueError(f"unknown source {record['source']!r} (known: {', '.join(SOURCES)})")
    for field, why in (require or {}).items():
        if field not in record:
            raise ValueError(f"field {field!r} is missing ({why})")


def load_conversations(path: str | Path, require_gold: bool = False, require: dict[str, str] | None = None) -> list[dict]:
    """Load conversational or prompt-completion records (converted: `as_conversation`) from any format
    `sftkit.io.read_records` reads, checking every record (errors name the file, line or row, and field;
    `require`: see `validate_conversation`)."""
    def check(record: dict) -> dict:
        record = as_conversation(record)
        validate_conversation(record, require_gold, require)
        return record

    return check_records(read_records(path), check)


def load_world(split: str) -> list[dict]:
    """One split of the committed tiny world: 'train', 'dev', 'test' or a shift ('wording', 'longer', 'larger', 'composed')."""
    return load_conversations(WORLD_DIR / f"{split}.jsonl", require_gold=True)


def per_skill_draw(per_skill: int, split: str = "train"):
    """A data draw for a small-data regime: seed -> `per_skill` records of each skill of the world's `split`,
    sampled without replacement with `random.Random(seed)` (skills in sorted order), so each seed trains on its
    own draw and the spread over seeds includes the data (notebooks 02 and 03)."""
    records = load_world(split)
    by_skill = {skill: [r for r in records if r["skill"] == skill] for skill in sorted({r["skill"] for r in records})}
    small = {skill: len(rs) for skill, rs in by_skill.items() if len(rs) < per_skill}
    if per_skill < 1 or small:
        raise SftkitError(f"per_skill must be between 1 and the smallest skill's size in {split}: got {per_skill}"
                          + (f" ({', '.join(f'{k} has {v}' for k, v in small.items())})" if small else ""))

    def draw(seed: int) -> list[dict]:
        rng = random.Random(seed)
        return [r for rs in by_skill.values() for r in rng.sample(rs, per_skill)]
    return draw


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
    for j, (start, _) in enumerate(enc["offset_mapping"]):
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


def pack_rows(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: the positions of `lengths` in rows of at most `capacity` tokens, longest first (an
    example longer than `capacity` gets a row of its own)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        r = next((r for r, free in enumerate(room) if lengths[i] <= free), None)
        if r is None:
            rows.append([i])
            room.append(capacity - lengths[i])
        else:
            rows[r].append(i)
            room[r] -= lengths[i]
    return rows


def pack_collate(batch: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """The batch's examples packed several to a row (`pack_rows`, rows no longer than the batch's longest example,
    so none is longer than `pad_collate` makes it), right-padded: input_ids, labels, attention_mask, position_ids,
    all [R, T] with R <= B rows.

    position_ids restart at 0 with each example (and with the padding at a row's end), which is how the model
    tells the examples apart: called with position_ids and no attention_mask, transformers' causal mask lets a
    token attend only to earlier tokens of its own example (`NTPTrainer.forward_loss`; tests/test_packing.py
    checks the logits against the example alone). attention_mask (1 on tokens, 0 on padding) is for counting
    tokens only. labels are IGNORE on padding and on each example's first token (no token of the example
    before it may learn to predict it), so the answer tokens and their token-mean loss are those of
    `pad_collate`'s batch. Other integer fields (e.g. "index") are stacked into [B] tensors, in batch order.
    """
    rows = pack_rows([len(ex["input_ids"]) for ex in batch], max(len(ex["input_ids"]) for ex in batch))
    width = max(sum(len(batch[i]["input_ids"]) for i in row) for row in rows)
    out = {
        "input_ids": torch.full((len(rows), width), pad_token_id, dtype=torch.long),
        "labels": torch.full((len(rows), width), IGNORE, dtype=torch.long),
        "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
        "position_ids": torch.zeros((len(rows), width), dtype=torch.long),
    }
    for r, row in enumerate(rows):
        start = 0
        for i in row:
            ids, labels = batch[i]["input_ids"], batch[i]["labels"]
            n = len(ids)
            out["input_ids"][r, start:start + n] = torch.tensor(ids)
            out["labels"][r, start + 1:start + n] = torch.tensor(labels[1:])
            out["attention_mask"][r, start:start + n] = 1
            out["position_ids"][r, start:start + n] = torch.arange(n)
            start += n
        out["position_ids"][r, start:] = torch.arange(width - start)
    for key in batch[0]:
        if key not in out:
            out[key] = torch.tensor([ex[key] for ex in batch])
    return out


# ----------------------------------------------------------------------------------------------------
# Preference pairs


def pair_conversations(record: dict) -> tuple[list[dict], list[dict]]:
    """(prompt + chosen, prompt + rejected) as full conversations; ValueError names the field at fault."""
    require_fields(record, ("prompt", "chosen", "rejected"), "a preference record has prompt, chosen, rejected")
    prompt = prompt_turns(record["prompt"])
    chosen = turns(record["chosen"], "chosen", ("assistant",), "assistant")
    rejected = turns(record["rejected"], "rejected", ("assistant",), "assistant")
    if isinstance(record["chosen"], str) != isinstance(record["rejected"], str):
        raise ValueError("fields 'chosen' and 'rejected' must both be strings or both be lists of turns")
    if chosen == rejected:
        raise ValueError("fields 'chosen' and 'rejected' are identical (no preference to learn)")
    return prompt + chosen, prompt + rejected


def load_preferences(path: str | Path) -> list[dict]:
    """Load preference records from any format `sftkit.io.read_records` reads, checking every record (errors
    name the file, line or row, and field)."""
    located = read_records(path)
    check_records(located, pair_conversations)
    return [record for _, record in located]


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
