"""Loading models: the embedded tiny base model or any Hugging Face causal LM, LoRA, device and dtype.

Building and pretraining the tiny model lives in `sftkit.pretrain`."""
from __future__ import annotations

import contextlib
import os
import random
from collections import defaultdict
from pathlib import Path

import torch

from .io import DATA_DIR, SftkitError

TINY_BASE = DATA_DIR / "models" / "tiny-base"
DEFAULT_MODEL = "tiny"  # shorthand for TINY_BASE

LOCAL_FIRST = ("runs",)  # "runs/NAME" is always a folder: where the README's commands save models


def looks_like_path(text: str) -> bool:
    """Whether a --model string names a local folder rather than a Hub id ("name" or "org/name"): absolute, or
    starting with . or ~, or with more than one /, or the OS's own separator; or "org/name" whose first part is a
    folder here (`runs/warm` from the folder holding runs/) or is `LOCAL_FIRST` (runs/)."""
    if os.path.isabs(text) or text.startswith((".", "~")) or text.count("/") > 1 or os.sep != "/" and os.sep in text:
        return True
    first = text.split("/")[0]
    return "/" in text and (first in LOCAL_FIRST or os.path.isdir(first))


def resolve_model_path(name: str | os.PathLike) -> str:
    """'tiny' -> the embedded model; an existing path -> itself; a string that `looks_like_path` must exist (else
    one line: no such model folder); anything else is taken as a Hub id."""
    if str(name) == DEFAULT_MODEL:
        if not (TINY_BASE / "config.json").exists():
            raise SftkitError(f"{TINY_BASE}: embedded base model missing; rebuild it with `sftkit pretrain`")
        return str(TINY_BASE)
    text = str(name)
    # Else transformers says "Repo id must be in the form ..." about a mistyped folder, or, for "runs/warm", tries
    # the Hub for a minute and reports a connection error.
    local = looks_like_path(text)
    if local and not os.path.exists(os.path.expanduser(text)):
        raise SftkitError(f"{text}: no such model folder (give 'tiny', an existing folder, or a Hub id like org/name)")
    return os.path.expanduser(text) if local else text


def pick_device(device: str | None = None) -> str:
    """`device` when given; else "cuda" when a CUDA GPU is available, else "mps" (Apple silicon's GPU) when
    available, else "cpu"."""
    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def default_dtype(device: str | torch.device):
    """bf16 weights on CUDA; fp32 everywhere else: on the CPU, and on mps, whose bf16 support depends on the
    macOS version (fp32 works on every Apple GPU)."""
    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def device_of(model) -> str:
    """The device type ("cpu", "cuda", "mps") that holds `model`'s parameters."""
    return next(model.parameters()).device.type


@contextlib.contextmanager
def quiet_progress():
    """No transformers / huggingface_hub progress bars ("Loading weights", "Writing model shards") in the body:
    for local files they are instant, and in a notebook each bar is a widget left behind in the outputs."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def quiet_local_loading(path):
    """`quiet_progress` for a model already on disk; Hub downloads keep their bars."""
    with quiet_progress() if Path(path).is_dir() else contextlib.nullcontext():
        yield


def load_model(name: str | os.PathLike = DEFAULT_MODEL, device: str | None = None, dtype=None,
               lora: dict | None = None, tokenizer_only: bool = False):
    """Load (model, tokenizer) for the embedded tiny model, a local path or any Hub causal LM.

    device: `pick_device` (CUDA, else Apple's mps, else CPU) unless given; dtype: `default_dtype` (bf16 on
    CUDA, fp32 on CPU and mps) unless given.
    lora: None for full fine-tuning, or `peft.LoraConfig` keyword arguments (e.g. {"r": 8}); the
    default targets all linear layers. The tokenizer gets a pad token (eos) if it lacks one.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:  # ValueError: a folder without tokenizer files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not os.path.exists(path):  # taken as a Hub id: say that no folder of that name is here either
            raise SftkitError(f"{path}: no such model folder here, and not loadable from the Hugging Face Hub "
                              f"({first})") from None
        raise SftkitError(f"{path}: cannot load a tokenizer ({first})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise SftkitError(f"{path}: the tokenizer has no chat template; use an instruct/chat tokenizer")
    if tokenizer_only:
        return tokenizer
    device = pick_device(device)
    dtype = dtype or default_dtype(device)
    with quiet_local_loading(path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    if lora is not None:
        model = add_lora(model, **lora)
    return model, tokenizer


def add_lora(model, r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
             target_modules="all-linear", **kwargs):
    """Wrap a causal LM with a fresh LoRA adapter (only the adapter's parameters train)."""
    import warnings

    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                        target_modules=target_modules, task_type="CAUSAL_LM", **kwargs)
    with warnings.catch_warnings():  # peft 0.21 asks transformers 5.2x a deprecated attribute; not ours to fix
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def fresh_lora(model, lora: dict):
    """A deep copy of `model` with a fresh LoRA adapter (`add_lora(**lora)`): `model` itself stays as it was,
    and the copy with its adapter disabled is `model` again (the prior of online methods)."""
    import copy

    return add_lora(copy.deepcopy(model), **lora)


def tied_to_loaded(model, missing_keys: list[str]) -> set[str]:
    """The `missing_keys` of a `load_state_dict` into `model` whose parameter is the very tensor of a key that
    was loaded: tied weights (e.g. a tied `lm_head.weight`), which checkpoints store once."""
    names = defaultdict(set)
    for name, param in model.named_parameters(remove_duplicate=False):
        names[id(param)].add(name)
    missing = set(missing_keys)
    return {name for shared in names.values() if shared - missing for name in shared & missing}


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
