import pytest
import torch

from conftest import chatml_tokenizer
from sftkit.data import IGNORE, pad_collate, tokenize_conversation, tokenize_dataset, validate_conversation
from sftkit.io import SftkitError
from sftkit.pretrain import build_char_tokenizer

CONV = [{"role": "user", "content": "Reverse the word abc."}, {"role": "assistant", "content": "cba"}]


def answer_text(tok, ex):
    return tok.decode([t for t, l in zip(ex["input_ids"], ex["labels"]) if l != IGNORE])


def test_only_the_answer_and_its_end_token_are_trained():
    tok = build_char_tokenizer()
    ex = tokenize_conversation(tok, CONV)
    assert tok.decode(ex["input_ids"]) == "<|user|>Reverse the word abc.<|end|><|assistant|>cba<|end|>"
    assert answer_text(tok, ex) == "cba<|end|>"
    n_prompt = len(tok("<|user|>Reverse the word abc.<|end|><|assistant|>", add_special_tokens=False)["input_ids"])
    assert ex["labels"][:n_prompt] == [IGNORE] * n_prompt


def test_mask_agrees_with_the_templates_own_assistant_mask():
    tok = build_char_tokenizer()
    ref = tok.apply_chat_template(CONV, return_dict=True, return_assistant_tokens_mask=True)
    ex = tokenize_conversation(tok, CONV)
    assert ex["input_ids"] == ref["input_ids"]
    assert [int(l != IGNORE) for l in ex["labels"]] == ref["assistant_masks"]


def test_multi_turn_and_other_template_family():
    tok = chatml_tokenizer()
    conv = [{"role": "system", "content": "Be brief."}, *CONV,
            {"role": "user", "content": "Again: xy"}, {"role": "assistant", "content": "yx"}]
    ex = tokenize_conversation(tok, conv)
    text = answer_text(tok, ex)
    assert text.count("<|im_end|>") == 2 and "cba" in text and "yx" in text
    assert "Be brief" not in text and "Again" not in text


def test_overlong_examples_are_counted_not_silent():
    tok = build_char_tokenizer()
    records = [{"messages": CONV}, {"messages": [CONV[0], {"role": "assistant", "content": "z" * 300}]}]
    with pytest.warns(UserWarning, match="1 of 2 examples longer than max_length=64 were dropped"):
        out = tokenize_dataset(tok, records, max_length=64, verbose=False)
    assert [ex["index"] for ex in out] == [0]
    with pytest.warns(UserWarning, match="0 were dropped|1 truncated"):
        out = tokenize_dataset(tok, records, max_length=64, overflow="truncate", verbose=False)
    assert len(out[1]["input_ids"]) == 64


def test_collate_pads_right_and_masks_padding():
    tok = build_char_tokenizer()
    data = tokenize_dataset(tok, [{"messages": CONV}, {"messages": [CONV[0], {"role": "assistant", "content": "a"}]}])
    batch = pad_collate(data, tok.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    short = len(data[1]["input_ids"])
    assert batch["attention_mask"][1, short:].sum() == 0
    assert (batch["labels"][1, short:] == IGNORE).all()
    assert (batch["input_ids"][1, short:] == tok.pad_token_id).all()
    assert torch.equal(batch["index"], torch.tensor([0, 1]))


@pytest.mark.parametrize("record,message", [
    ({}, "field 'messages'"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant turn"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, r"messages\[0\]"),
    ({"messages": CONV, "skill": "juggle"}, "unknown skill 'juggle'"),
])
def test_validation_names_the_field(record, message):
    with pytest.raises(ValueError, match=message):
        validate_conversation(record)


def test_per_skill_draw_gives_each_seed_its_own_draw_of_every_skill():
    from collections import Counter

    from sftkit.data import load_world, per_skill_draw

    draw = per_skill_draw(5)
    first, again, other = draw(0), draw(0), draw(1)
    assert Counter(r["skill"] for r in first) == {s: 5 for s in {r["skill"] for r in load_world("train")}}
    assert first == again and first != other
    assert len({r["id"] for r in first}) == len(first)  # without replacement
    with pytest.raises(SftkitError, match="per_skill must be between 1 and the smallest skill's size in train: got 241"):
        per_skill_draw(241)
