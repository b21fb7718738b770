"""Evaluation: batched greedy generation with left padding, exact match per skill and split."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import torch

from .data import prompt_messages
from .logprobs import eval_mode
from .world import check


@torch.no_grad()
def generate(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 48,
             batch_size: int = 128, do_sample: bool = False, num_return_sequences: int = 1,
             **sample_kwargs) -> list[str]:
    """Answer each conversation (ending with a user turn) with the model; returns decoded answers.

    Prompts are rendered with the chat template's generation prompt, sorted by length and left-padded
    in batches, so a batch wastes little compute on padding. Greedy unless `do_sample=True` (then pass
    temperature / top_p). With `num_return_sequences=k`, answers for prompt i are at [i*k, (i+1)*k).
    """
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[list[str]] = [[] for _ in texts]
    device = next(model.parameters()).device
    with eval_mode(model):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, padding_side="left",
                            add_special_tokens=False).to(device)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                 num_return_sequences=num_return_sequences, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **sample_kwargs)
            decoded = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for j, i in enumerate(idx):
                answers[i] = decoded[j * num_return_sequences:(j + 1) * num_return_sequences]
    return [a for group in answers for a in group]


def sample_answers(model, tokenizer, records: list[dict], n: int = 4, temperature: float = 1.0,
                   top_p: float = 1.0, seed: int = 0, max_new_tokens: int = 48, batch_size: int = 128) -> list[list[str]]:
    """`n` sampled answers per record's prompt (one batched call, temperature / top-p): a list per record."""
    torch.manual_seed(seed)
    flat = generate(model, tokenizer, [prompt_messages(r) for r in records], max_new_tokens, batch_size,
                    do_sample=True, num_return_sequences=n, temperature=temperature, top_p=top_p)
    return [flat[i * n:(i + 1) * n] for i in range(len(records))]


def evaluate(model, tokenizer, records: list[dict], max_new_tokens: int = 48, batch_size: int = 128,
             check: Callable[[dict, str], bool] = check) -> list[dict]:
    """Greedy answers checked against gold: one row per record {id, skill, split, prompt, answer, prediction, correct}.
    `check(record, prediction)` decides "correct" (default: the tiny world's exact match, `sftkit.world.check`)."""
    predictions = generate(model, tokenizer, [prompt_messages(r) for r in records], max_new_tokens, batch_size)
    return [{"id": r.get("id", str(i)), "skill": r["skill"], "split": r.get("split", "?"),
             "prompt": prompt_messages(r)[-1]["content"], "answer": r["answer"], "prediction": p,
             "correct": check(r, p)} for i, (r, p) in enumerate(zip(records, predictions))]


def accuracy(rows: list[dict], by: tuple[str, ...] = ("split", "skill")) -> dict[tuple, dict]:
    """Exact match grouped by fields of `rows`: {(split, skill): {"n", "correct", "accuracy"}}.

    A key with skill "all" holds the split's overall accuracy (micro average over its examples).
    """
    groups: dict[tuple, list[bool]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in by)].append(r["correct"])
        if "skill" in by:
            groups[tuple("all" if k == "skill" else r[k] for k in by)].append(r["correct"])
    return {k: {"n": len(v), "correct": sum(v), "accuracy": sum(v) / len(v)} for k, v in sorted(groups.items())}
