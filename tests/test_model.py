import pytest
import torch

from sftkit.io import SftkitError
from sftkit.model import TINY_BASE, count_parameters, load_model


def test_lora_trains_only_the_adapter(random_models):
    model, _ = load_model(random_models["llama"], lora={"r": 4})
    trainable = count_parameters(model, trainable_only=True)
    assert 0 < trainable < count_parameters(model) / 2
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_cpu_defaults_to_fp32(random_models):
    model, tok = load_model(random_models["gpt2"], device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    assert tok.pad_token is not None and tok.chat_template


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(SftkitError, match="cannot load a tokenizer"):
        load_model(str(tmp_path / "missing"))


@pytest.mark.skipif(not (TINY_BASE / "config.json").exists(), reason="embedded model not built")
def test_embedded_model_loads_as_a_normal_hf_model():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(TINY_BASE))
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|user|>hi<|end|><|assistant|>"
    model, _ = load_model("tiny")
    assert 1e6 < count_parameters(model) < 5e6
    size = sum(p.stat().st_size for p in TINY_BASE.glob("*.safetensors"))
    assert size < 20 * 2**20
