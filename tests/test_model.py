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
    with pytest.raises(SftkitError, match="missing: no such model folder"):  # not transformers' "Repo id must be..."
        load_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SftkitError, match="cannot load a tokenizer"):
        load_model(str(tmp_path / "empty"))


@pytest.mark.parametrize("text, local", [
    ("runs/warm", True),  # the README's folder, whether or not runs/ exists yet
    ("./warm", True), ("../models/warm", True), ("/abs/warm", True), ("~/warm", True), ("a/b/c", True),
    ("here/warm", True),  # its first part is a folder in the current directory (made below)
    ("Qwen/Qwen2.5-0.5B-Instruct", False), ("gpt2", False), ("org/name", False),
])
def test_a_model_string_is_a_folder_or_a_hub_id(tmp_path, monkeypatch, text, local):
    from sftkit.model import looks_like_path, resolve_model_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").mkdir()
    assert looks_like_path(text) == local
    if local:  # none of them exists: one line, before any Hub call
        with pytest.raises(SftkitError, match="no such model folder"):
            resolve_model_path(text)
    else:
        assert resolve_model_path(text) == text


def test_a_hub_id_that_cannot_be_loaded_says_no_folder_either(tmp_path, monkeypatch):
    """'org/name' that is no folder here and not loadable from the Hub (offline here): one line saying both."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SftkitError, match=r"^nobody-here/no-such-model: no such model folder here, and not loadable "
                                          r"from the Hugging Face Hub \("):
        load_model("nobody-here/no-such-model")


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


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                                 (False, False, "cpu")])
def test_device_choice_prefers_cuda_then_apple_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """No Mac or GPU is needed: which backend is available is mocked."""
    from sftkit.model import default_dtype, pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device(None) == expected
    assert pick_device("cpu") == "cpu"  # an explicit DEVICE always wins
    assert default_dtype(expected) == (torch.bfloat16 if expected == "cuda" else torch.float32)


def test_training_arguments_follow_the_models_device(tmp_path, monkeypatch):
    import transformers.training_args

    from sftkit.train import TrainConfig, training_arguments

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)  # as on a GPU
    for device, use_cpu, bf16 in [("cpu", True, False), ("mps", False, False), ("cuda", False, True)]:
        args = training_arguments(TrainConfig(steps=1), str(tmp_path), device)
        assert (args.use_cpu, args.bf16) == (use_cpu, bf16), device
