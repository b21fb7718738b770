"""Models: the embedded tiny base model (tokenizer, config, pretraining) and one loader for any causal LM."""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import string
import time
from pathlib import Path

import torch

from .io import DATA_DIR, SftkitError, atomic_dir

TINY_BASE = DATA_DIR / "models" / "tiny-base"
DEFAULT_MODEL = "tiny"  # shorthand for TINY_BASE

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


def resolve_model_path(name: str | os.PathLike) -> str:
    """'tiny' -> the embedded model; an existing path -> itself; anything else is taken as a Hub id."""
    if str(name) == DEFAULT_MODEL:
        if not (TINY_BASE / "config.json").exists():
            raise SftkitError(f"{TINY_BASE}: embedded base model missing; rebuild it with `sftkit pretrain`")
        return str(TINY_BASE)
    return str(name)


def pick_device(device: str | None = None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def quiet_local_loading(path):
    """No "Loading weights" progress bar for a model already on disk (it is instant, and in a notebook each
    bar is a widget left behind in the saved outputs); Hub downloads keep theirs."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if Path(path).is_dir() and was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on and not hf_logging.is_progress_bar_enabled():
            hf_logging.enable_progress_bar()


def load_model(name: str | os.PathLike = DEFAULT_MODEL, device: str | None = None, dtype=None,
               lora: dict | None = None, tokenizer_only: bool = False):
    """Load (model, tokenizer) for the embedded tiny model, a local path or any Hub causal LM.

    device: "cuda" when available, else "cpu"; dtype: bf16 on CUDA, fp32 on CPU unless given.
    lora: None for full fine-tuning, or `peft.LoraConfig` keyword arguments (e.g. {"r": 8}); the
    default targets all linear layers. The tokenizer gets a pad token (eos) if it lacks one.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise SftkitError(f"{path}: cannot load a tokenizer ({str(e).splitlines()[0]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise SftkitError(f"{path}: the tokenizer has no chat template; use an instruct/chat tokenizer")
    if tokenizer_only:
        return tokenizer
    device = pick_device(device)
    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    with quiet_local_loading(path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    if lora is not None:
        model = add_lora(model, **lora)
    return model, tokenizer


def add_lora(model, r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
             target_modules="all-linear", **kwargs):
    """Wrap a causal LM with a fresh LoRA adapter (only the adapter's parameters train)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                        target_modules=target_modules, task_type="CAUSAL_LM", **kwargs)
    return get_peft_model(model, config)


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------------------------------
# Pretraining the embedded base model on the prose corpus.


def pretrain(corpus_path: str | os.PathLike, output: str | os.PathLike = TINY_BASE, steps: int = 2000,
             batch_size: int = 32, block_size: int = 128, lr: float = 3e-3, warmup: int = 100,
             seed: int = 0, log_every: int = 100, threads: int | None = None) -> dict:
    """Pretrain the tiny model on raw prose with next-token prediction; save model, tokenizer and card.

    Deterministic for a given seed and thread count (a plain PyTorch loop: the fastest option on CPU).
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
    data = torch.tensor(ids, dtype=torch.long)
    model = build_tiny_model(tokenizer, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    log = {"step": [], "loss": []}
    start, running = time.time(), 0.0
    model.train()
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(data) - block_size - 1, (batch_size,), generator=gen)
        batch = torch.stack([data[s:s + block_size + 1] for s in starts.tolist()])
        loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss
        # labels=input_ids: the model shifts internally, so position t predicts token t + 1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % log_every == 0:
            log["step"].append(step)
            log["loss"].append(round(running / log_every, 4))
            print(f"step {step:5d}  loss {running / log_every:.4f}  {time.time() - start:6.0f}s", flush=True)
            running = 0.0
    log["seconds"] = round(time.time() - start, 1)
    log.update(steps=steps, batch_size=batch_size, block_size=block_size, lr=lr, warmup=warmup, seed=seed,
               corpus=str(corpus_path.name), corpus_chars=sum(map(len, docs)), tokens_seen=steps * batch_size * block_size)
    with atomic_dir(output) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (Path(tmp) / "pretrain_log.json").write_text(json.dumps(log, indent=1) + "\n")
    return log


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_model_card(path: str | os.PathLike = TINY_BASE) -> str:
    """Write README.md for a pretrained tiny model: config, data, loss curve numbers, zero-shot accuracy."""
    from .data import load_world
    from .evaluate import accuracy, evaluate
    from .io import atomic_write_text

    path = Path(path)
    log = json.loads((path / "pretrain_log.json").read_text())
    model, tokenizer = load_model(path, device="cpu")
    acc = accuracy(evaluate(model, tokenizer, load_world("test") + load_world("hard")))
    config = {k: getattr(model.config, k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                    "num_attention_heads", "max_position_embeddings", "vocab_size")}
    curve = ", ".join(f"{s}: {l:.3f}" for s, l in zip(log["step"][::2], log["loss"][::2]))
    zero_shot = "\n".join(f"| {split} | {skill} | {a['correct']}/{a['n']} | {100 * a['accuracy']:.1f} |"
                          for (split, skill), a in acc.items())
    text = f"""# tiny-base: the embedded base model of sftkit

A {count_parameters(model) / 1e6:.2f}M-parameter Llama-style causal LM with a character-level tokenizer,
pretrained on raw prose about the tiny world (`data/world/corpus.txt`, {log['corpus_chars']:,} characters,
no instruction format). It knows the world but does not follow instructions: that is what SFT teaches.

Rebuild it (deterministic for the same seed and thread count): `sftkit pretrain` (then this card is
rewritten). Load it with `sftkit.model.load_model("tiny")` or `AutoModelForCausalLM.from_pretrained(...)`.

## Config
`{json.dumps(config)}`; rotary positions, tied input/output embeddings, chat template
`<|user|>...<|end|><|assistant|>...<|end|>` (eos `<|end|>`, pad `<|pad|>`).

## Training
Plain PyTorch loop, AdamW (betas 0.9/0.95, weight decay 0.1), lr {log['lr']} with {log['warmup']}-step warm-up and
cosine decay, {log['steps']} steps of {log['batch_size']} random {log['block_size']}-character windows
({log['tokens_seen']:,} tokens), seed {log['seed']}: {log['seconds'] / 60:.1f} minutes of wall time on the
machine that built it (about 0.4 s per step, 14 minutes, when the 2 cores are not shared with other jobs).

Loss (nats per character, mean over each 100 steps), step: loss: {curve}; final {log['loss'][-1]:.3f}.

## Zero-shot instruction following (chat template, greedy, exact match)
| split | skill | correct | % |
|---|---|---|---|
{zero_shot}
"""
    atomic_write_text(path / "README.md", text)
    return text
