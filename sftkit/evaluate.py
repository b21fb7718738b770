"""Evaluation: exact match per skill and split, by one teacher-forced pass where that decides it, else by
batched greedy generation with left padding.

With greedy decoding, "the generated answer is the gold answer" holds exactly when, at every answer position
including the end token, the argmax of the model's next-token distribution is the gold token: the generation
would follow the gold tokens and stop. So one forward pass over prompt + gold answer + end token decides every
item it calls correct, and the first position where the argmax leaves the gold path often settles a wrong
one (`teacher_forced`); `evaluate` generates only what is left (and, when predictions are wanted, the
wrong answers' text). The verdicts equal generating every answer, item by item (tests/test_evaluate.py checks
it for the base model, an SFT model, a LoRA model and a BPE tokenizer on every split).
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable

import torch

from .data import prompt_messages
from .logprobs import eval_mode
from .profile import timed
from .world import check as exact_match
from .world import normalize

PROGRESS_DELAY = 5.0  # seconds before `evaluate`'s bars appear: the many quick evaluations in the notebooks show none


class StageBar:
    """`evaluate`'s progress bar for one stage (`sftkit.train.progress`: quiet under TQDM_DISABLE=1, gone when
    done), made only once the stage has run `PROGRESS_DELAY` seconds (checked after each batch): a quick stage
    creates no bar at all, so in a notebook it leaves no widget behind. No `desc`: never a bar."""

    def __init__(self, total: int, desc: str | None):
        self.total, self.desc, self.done, self.bar = total, desc, 0, None
        self.start = time.monotonic()

    def update(self, n: int) -> None:
        from .train import progress  # imported when a bar is due: sftkit.train loads transformers' Trainer

        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.desc and time.monotonic() - self.start >= PROGRESS_DELAY:
            self.bar = progress(total=self.total, initial=self.done, desc=self.desc, unit="prompt")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


@timed("generate")
@torch.no_grad()
def generate(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 48,
             batch_size: int = 128, do_sample: bool = False, num_return_sequences: int = 1,
             progress_desc: str | None = None, **sample_kwargs) -> list[str]:
    """Answer each conversation (ending with a user turn) with the model; returns decoded answers.

    Prompts are rendered with the chat template's generation prompt, sorted by length and left-padded
    in batches, so a batch wastes little compute on padding. Greedy unless `do_sample=True` (then pass
    temperature / top_p). With `num_return_sequences=k`, answers for prompt i are at [i*k, (i+1)*k).
    `progress_desc`: a progress bar with this label (`StageBar`).
    """
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[list[str]] = [[] for _ in texts]
    device = next(model.parameters()).device
    with eval_mode(model), StageBar(len(order), progress_desc) as shown:
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
            shown.update(len(idx))
    return [a for group in answers for a in group]


def sample_answers(model, tokenizer, records: list[dict], n: int = 4, temperature: float = 1.0,
                   top_p: float = 1.0, seed: int = 0, max_new_tokens: int = 48, batch_size: int = 128) -> list[list[str]]:
    """`n` sampled answers per record's prompt (one batched call, temperature / top-p): a list per record."""
    torch.manual_seed(seed)
    flat = generate(model, tokenizer, [prompt_messages(r) for r in records], max_new_tokens, batch_size,
                    do_sample=True, num_return_sequences=n, temperature=temperature, top_p=top_p)
    return [flat[i * n:(i + 1) * n] for i in range(len(records))]


MARGIN = 1e-4  # a logit lead smaller than this at any answer position is a near-tie: that item is generated


def answer_ids(tokenizer, record: dict) -> tuple[list[int], list[int]] | None:
    """(prompt ids, gold answer ids + end token) as greedy generation would produce them, or None when the
    tokenizer does not spell the gold answer as a continuation of the prompt (then only generation decides)."""
    if tokenizer.eos_token_id is None:
        return None
    prompt = tokenizer.apply_chat_template(prompt_messages(record), tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(prompt + record["answer"], add_special_tokens=False)["input_ids"]
    answer = full_ids[len(prompt_ids):]
    if (full_ids[:len(prompt_ids)] != prompt_ids or not answer
            or tokenizer.decode(answer, skip_special_tokens=True) != record["answer"]):
        return None
    return prompt_ids, answer + [tokenizer.eos_token_id]


def settled_by_divergence(tokenizer, record: dict, gold: list[int], at: int, token: int) -> tuple[bool | None, str | None]:
    """(verdict, prediction) when greedy decoding follows the gold tokens `gold[:at]` and then picks `token`
    instead of `gold[at]`. Choosing the end token stops it: the prediction is the decoded prefix, judged by
    exact match. Another token makes the answer start with S = decode(gold[:at] + [token]); it is certainly
    wrong when even the most lenient reading (whitespace runs collapsed, as `normalize` does) of S is not a
    prefix of the normalized gold answer (prediction unknown: None). Otherwise (S could still normalize to the
    gold answer, or decoding a partial sequence gave a replacement character) nothing is settled: (None, None)."""
    if token == tokenizer.eos_token_id:
        prediction = tokenizer.decode(gold[:at], skip_special_tokens=True)
        return exact_match(record, prediction), prediction
    text = tokenizer.decode(gold[:at] + [token], skip_special_tokens=True)
    if "\ufffd" in text:
        return None, None
    lenient = re.sub(r"\s+", " ", text.lstrip()).rstrip()
    return (False, None) if not normalize(record["answer"]).startswith(lenient) else (None, None)


@torch.no_grad()
def teacher_forced(model, tokenizer, records: list[dict], max_new_tokens: int = 48, batch_size: int = 128,
                   progress_desc: str | None = None) -> list[tuple[bool | None, str | None]]:
    """What greedy generation (at most `max_new_tokens` new tokens) would score on each record under exact
    match, from one teacher-forced forward pass per batch over prompt + gold answer + end token:
    (True, gold answer) when the argmax at every answer position, including the end token, is the gold token
    by a margin of at least `MARGIN` logits; at the first position where it is not (by that margin),
    `settled_by_divergence` decides (False, None) or (verdict, prediction) when it can; (None, None) means
    not settled (a near-tie, an answer too long for `max_new_tokens`, a tokenizer that cannot spell the answer
    after the prompt, or a divergence that whitespace could still forgive): `evaluate` generates those.

    Rows are left-padded and get the position ids `generate` gives them, so the numbers are the ones greedy
    decoding sees; only the last K positions' logits are computed (K = the longest answer + end token).
    `progress_desc`: a progress bar with this label (`StageBar`).
    """
    encoded = [answer_ids(tokenizer, r) for r in records]
    out: list[tuple[bool | None, str | None]] = [(None, None)] * len(records)
    todo = [i for i, e in enumerate(encoded) if e is not None and len(e[1]) <= max_new_tokens]
    todo.sort(key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with eval_mode(model), StageBar(len(todo), progress_desc) as shown:
        for start in range(0, len(todo), batch_size):
            idx = todo[start:start + batch_size]
            seqs = [encoded[i][0] + encoded[i][1] for i in idx]
            width, keep = max(map(len, seqs)), max(len(encoded[i][1]) for i in idx)
            ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=device)
            mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                           logits_to_keep=keep + 1).logits[:, :-1].float()  # [B, keep, V]: predicts the last keep
            top2 = logits.topk(2, dim=-1)
            best, lead = top2.indices.tolist(), (top2.values[..., 0] - top2.values[..., 1]).tolist()
            for row, i in enumerate(idx):
                gold = encoded[i][1]
                offset = keep - len(gold)
                for at, want in enumerate(gold):
                    if lead[row][offset + at] < MARGIN:
                        break  # a near-tie: generation decides
                    if best[row][offset + at][0] != want:
                        out[i] = settled_by_divergence(tokenizer, records[i], gold, at, best[row][offset + at][0])
                        break
                else:
                    out[i] = (True, records[i]["answer"])
            shown.update(len(idx))
    return out


@timed("evaluate")
def evaluate(model, tokenizer, records: list[dict], max_new_tokens: int = 48, batch_size: int = 128,
             check: Callable[[dict, str], bool] = exact_match, generate_all: bool = False,
             predictions: bool = True, progress: bool = True) -> list[dict]:
    """Greedy answers checked against gold: one row per record {id, skill, split, prompt, answer, prediction, correct}.

    `check(record, prediction)` decides "correct" (default: the tiny world's exact match, `sftkit.world.check`).
    With that default check, one teacher-forced pass (`teacher_forced`) settles most items without generating:
    items it proves right get prediction = the gold answer (what greedy decoding would produce, token for
    token). With `predictions=True` every other item is generated (its prediction is needed, e.g. by an
    explorer); with `predictions=False` only the unsettled ones are, and an item proven wrong gets prediction
    None (scores only: much faster on weak models). `generate_all=True` (`sftkit eval --generate`), or any
    other `check`, generates every answer.

    `progress`: a bar per stage (the teacher-forced pass, then generating the rest) once a stage has run
    `PROGRESS_DELAY` seconds (`StageBar`), in a terminal or a notebook, gone when done, quiet under
    TQDM_DISABLE=1: a long evaluation (the base model's, on a busy machine) is not silent, a quick one shows nothing.
    """
    labels = ("evaluate: teacher-forced pass", "evaluate: generating") if progress else (None, None)
    settled = ([(None, None)] * len(records) if generate_all or check is not exact_match
               else teacher_forced(model, tokenizer, records, max_new_tokens, batch_size, progress_desc=labels[0]))
    rest = [i for i, (ok, pred) in enumerate(settled) if ok is None or (predictions and pred is None)]
    generated = dict(zip(rest, generate(model, tokenizer, [prompt_messages(records[i]) for i in rest], max_new_tokens,
                                        batch_size, progress_desc=labels[1])))
    rows = []
    for i, (r, (ok, pred)) in enumerate(zip(records, settled)):
        if i in generated:
            pred, ok = generated[i], check(r, generated[i])
        rows.append({"id": r.get("id", str(i)), "skill": r["skill"], "split": r.get("split", "?"),
                     "prompt": prompt_messages(r)[-1]["content"], "answer": r["answer"], "prediction": pred,
                     "correct": bool(ok)})
    return rows


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
