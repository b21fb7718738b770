import subprocess
from pathlib import Path

import pytest
import torch

from sftkit.pretrain import build_char_tokenizer, build_tiny_model

CHATML = ("{%- for m in messages -%}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{%- endfor -%}"
          "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}")


def chatml_tokenizer():
    """A second template family (ChatML, as Qwen uses), with its own special tokens and eos."""
    tok = build_char_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = CHATML
    return tok


def gpt2_model(tokenizer, seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=48, n_layer=2, n_head=2,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                      bos_token_id=tokenizer.eos_token_id))


@pytest.fixture(scope="session")
def random_models(tmp_path_factory):
    """Two small, randomly initialised, differently built models saved as local model directories:
    a Llama with the embedded chat template and a GPT-2 with a ChatML template."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    tok = build_char_tokenizer()
    llama = build_tiny_model(tok, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=2)
    chatml = chatml_tokenizer()
    for name, model, tokenizer in [("llama", llama, tok), ("gpt2", gpt2_model(chatml), chatml)]:
        path = root / name
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        out[name] = str(path)
    return out


def git_status() -> str:
    """`git status --porcelain` of the repository, untracked files included."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repository_untouched():
    """For a test module that asks for it (`pytestmark = pytest.mark.usefixtures(...)`): `git status` is the same
    after its tests as before, so nothing it ran wrote into the repository."""
    before = git_status()
    yield
    assert git_status() == before
