"""The embedded tiny base model: its character tokenizer and chat template, its config, and its
pretraining on the world's prose corpus (`sftkit pretrain`), plus the model card.

Above `train` in the layering (it builds and trains a model); nothing below imports it.
"""
from __future__ import annotations

import json
import math
import os
import string
import time
from pathlib import Path

import torch

from .io import SftkitError, atomic_dir, atomic_write_text
from .model import TINY_BASE, count_parameters, load_model

SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
# One line on purpose: every character of a chat template ends up in the token stream. The generation
# tags let `apply_chat_template(..., return_assistant_tokens_mask=True)` (and TRL) find the answer tokens.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "<|assistant|>{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{%- else -%}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)


def build_char_tokenizer(chars: str | None = None):
    """A character-level `PreTrainedTokenizerFast` with the chat template above (pad, eos = <|end|>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = chars if chars is not None else string.printable.replace("\x0b", "").replace("\x0c", "")
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    vocab["<|unk|>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>",
                                   unk_token="<|unk|>", additional_special_tokens=SPECIAL_TOKENS[2:])
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 512
    return fast


TINY_CONFIG = dict(hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=6,
                   num_key_value_heads=6, max_position_embeddings=512, rope_theta=10000.0,
                   tie_word_embeddings=True)


def build_tiny_model(tokenizer, seed: int = 0, **overrides):
    """A randomly initialised Llama-style causal LM sized for 2 CPU cores (about 1.8M parameters)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                         **{**TINY_CONFIG, **overrides})
    return LlamaForCausalLM(config)


def pretrain(corpus_path: str | os.PathLike, output: str | os.PathLike = TINY_BASE, steps: int = 8000,
             batch_size: int = 32, block_size: int = 128, lr: float = 3e-3, warmup: int = 100,
             seed: int = 0, log_every: int = 100, threads: int | None = None, device: str = "cpu") -> dict:
    """Pretrain the tiny model on raw prose with next-token prediction; save model, tokenizer and card.

    Deterministic for a given seed, device and thread count (a plain PyTorch loop: the fastest option on
    CPU; on a GPU it takes about a minute).
    Returns the training log {"step": [...], "loss": [...], "seconds": ...}.
    """
    if threads:
        torch.set_num_threads(threads)
    corpus_path = Path(corpus_path)
    if not corpus_path.exists():
        raise SftkitError(f"{corpus_path}: corpus not found; build it with `sftkit data`")
    docs = corpus_path.read_text().splitlines()
    tokenizer = build_char_tokenizer()
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for doc in docs:  # documents are separated by the end token, like packed pretraining data
        ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"] + [eos])
    data = torch.tensor(ids, dtype=torch.long, device=device)
    model = build_tiny_model(tokenizer, seed=seed).to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    log = {"step": [], "loss": []}
    start, running = time.time(), 0.0
    model.train()
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(data) - block_size - 1, (batch_size,), generator=gen)
        batch = data[starts.to(device)[:, None] + torch.arange(block_size + 1, device=device)]
        loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss
        # labels=input_ids: the model shifts internally, so position t predicts token t + 1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % log_every == 0 or step == steps:  # a last, shorter window too: every run logs a loss
            window = step - (log["step"][-1] if log["step"] else 0)
            log["step"].append(step)
            log["loss"].append(round(running / window, 4))
            print(f"step {step:5d}  loss {running / window:.4f}  {time.time() - start:6.0f}s", flush=True)
            running = 0.0
    log["seconds"] = round(time.time() - start, 1)
    log.update(steps=steps, batch_size=batch_size, block_size=block_size, lr=lr, warmup=warmup, seed=seed,
               device=torch.cuda.get_device_name() if str(device).startswith("cuda") else "cpu",
               corpus=str(corpus_path.name), corpus_chars=sum(map(len, docs)), tokens_seen=steps * batch_size * block_size)
    with atomic_dir(output) as tmp:
        model.cpu().save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (Path(tmp) / "pretrain_log.json").write_text(json.dumps(log, indent=1) + "\n")
    return log


def write_model_card(path: str | os.PathLike = TINY_BASE) -> str:
    """Write README.md for a pretrained tiny model: config, data, loss curve numbers, zero-shot accuracy."""
    from .data import load_world
    from .evaluate import accuracy, evaluate
    from .world import EVAL_SPLITS, SHIFTS

    path = Path(path)
    log = json.loads((path / "pretrain_log.json").read_text())
    model, tokenizer = load_model(path, device="cpu")
    acc = accuracy(evaluate(model, tokenizer, [r for s in EVAL_SPLITS for r in load_world(s)], predictions=False))
    config = {k: getattr(model.config, k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                    "num_attention_heads", "max_position_embeddings", "vocab_size")}
    curve = ", ".join(f"{s}: {l:.3f}" for s, l in zip(log["step"], log["loss"]))
    zero_shot = "\n".join(f"| {split} | {skill} | {a['correct']}/{a['n']} | {100 * a['accuracy']:.1f} |"
                          for (split, skill), a in acc.items())
    built_on = log.get("device", "cpu")
    how = " (`sftkit pretrain --device cuda`)" if built_on != "cpu" else ""
    text = f"""# tiny-base: the embedded base model of sftkit

A {count_parameters(model) / 1e6:.2f}M-parameter Llama-style causal LM with a character-level tokenizer,
pretrained on raw prose about the tiny world (`data/world/corpus.txt`, {log['corpus_chars']:,} characters,
no instruction format). It knows the world but does not follow instructions: that is what SFT teaches.

Rebuild it (deterministic for the same seed, device and thread count): `sftkit pretrain` (then this card is
rewritten). Load it with `sftkit.model.load_model("tiny")` or `AutoModelForCausalLM.from_pretrained(...)`.

## Config
`{json.dumps(config)}`; rotary positions, tied input/output embeddings, chat template
`<|user|>...<|end|><|assistant|>...<|end|>` (eos `<|end|>`, pad `<|pad|>`).

## Training
Plain PyTorch loop, AdamW (betas 0.9/0.95, weight decay 0.1), lr {log['lr']} with {log['warmup']}-step warm-up and
cosine decay, {log['steps']} steps of {log['batch_size']} random {log['block_size']}-character windows
({log['tokens_seen']:,} tokens), seed {log['seed']}: {log['seconds'] / 60:.1f} minutes of wall time on
{built_on}{how}. A rebuild on another device
or thread count gives a different model of the same quality, not the same bits. On 2 CPU cores expect
about 80 minutes (the previous 2000-step base took 0.62 s per step there).

## Data
The corpus states skills on inputs from the training distribution and, for some sentences, from the
input shifts ({'; '.join(f'{k}: {v}' for k, v in SHIFTS.items() if k != 'wording')}), never on an
evaluation input. The instruction format appears nowhere in it.

Loss (nats per character, mean over each {log['step'][0]} steps), step: loss: {curve}; final {log['loss'][-1]:.3f}.

## Zero-shot instruction following (chat template, greedy, exact match)
| split | skill | correct | % |
|---|---|---|---|
{zero_shot}
"""
    atomic_write_text(path / "README.md", text)
    return text
