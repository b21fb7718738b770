"""Packing (`TrainConfig.packing`, `sftkit train sft --packing`): a batch's examples several to a row, each
attending to itself only (position ids restart per example; transformers builds the block-diagonal causal mask),
the loss on the same answer tokens as the padded batch."""
import json

import pytest
import torch

from sftkit.data import IGNORE, load_world, pack_collate, pack_rows, pad_collate, tokenize_dataset
from sftkit.io import SftkitError
from sftkit.losses import ntp_loss
from sftkit.methods import get
from sftkit.model import load_model
from sftkit.train import NTPTrainer, TrainConfig, train

LOSS_ATOL = 1e-5  # packed vs padded token-mean loss of one batch (the brief's bound)
LOGITS_ATOL = 1e-5  # an example's logits packed with others vs alone


def test_pack_rows_places_every_example_once_within_capacity():
    lengths = [5, 9, 3, 7, 2, 9, 4, 1, 6]
    rows = pack_rows(lengths, 9)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 9 for row in rows)
    assert len(rows) == 6  # 56 tokens in rows of 9: 7 at best; first-fit decreasing finds 6 + none left over
    assert pack_rows([12, 3], 9) == [[0], [1]]  # too long for the capacity: a row of its own


def examples(tokenizer, n=24):
    records = load_world("train")[::97][:n]  # every skill, lengths from short to long
    return tokenize_dataset(tokenizer, records, 256)


def forward(model, batch):
    """`NTPTrainer.forward_loss`'s model call for a padded or a packed batch."""
    if "position_ids" in batch:
        return model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_packed_batch_has_the_padded_batchs_loss_and_each_example_its_own_logits(family, random_models):
    model, tok = load_model(random_models[family], device="cpu")
    model.eval()
    batch = examples(tok)
    padded, packed = pad_collate(batch, tok.pad_token_id), pack_collate(batch, tok.pad_token_id)
    assert packed["input_ids"].shape[0] < len(batch) and packed["input_ids"].shape[1] == padded["input_ids"].shape[1]
    assert packed["attention_mask"].sum() == padded["attention_mask"].sum()
    assert (packed["labels"] != IGNORE).sum() == (padded["labels"][:, 1:] != IGNORE).sum()
    with torch.no_grad():
        loss_padded = ntp_loss(forward(model, padded), padded["labels"])
        logits = forward(model, packed)
        loss_packed = ntp_loss(logits, packed["labels"])
        assert loss_packed.item() == pytest.approx(loss_padded.item(), abs=LOSS_ATOL)
        # every example's logits in its packed row are those of the example alone: nothing attends across
        found = 0
        for r in range(packed["input_ids"].shape[0]):
            real = int(packed["attention_mask"][r].sum())  # the row's examples, then its padding
            starts = (packed["position_ids"][r, :real] == 0).nonzero().flatten().tolist() + [real]
            for t, end in zip(starts, starts[1:]):
                ids = packed["input_ids"][r, t:end]
                alone = model(input_ids=ids[None], attention_mask=torch.ones_like(ids)[None]).logits[0]
                torch.testing.assert_close(logits[r, t:end], alone, atol=LOGITS_ATOL, rtol=0)
                found += 1
        assert found == len(batch)


def test_packed_training_takes_the_padded_runs_steps(random_models):
    """Packing changes the layout, not the batches: the same losses and, after a few steps, the same weights."""
    records = load_world("train")[::41][:64]
    runs = {}
    for packing in (False, True):
        model, tok = load_model(random_models["llama"], device="cpu")
        runs[packing] = train(model, tok, records, TrainConfig(steps=3, batch_size=16, logging_steps=1, bucket=1,
                                                               warmup_steps=0, packing=packing))
    assert runs[True].losses[1] == pytest.approx(runs[False].losses[1], abs=LOSS_ATOL)
    for (name, a), b in zip(runs[True].model.state_dict().items(), runs[False].model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=name)


def test_packing_is_refused_for_other_methods(random_models, tmp_path, capsys):
    from sftkit.cli import main

    model, tok = load_model(random_models["llama"], device="cpu")
    with pytest.raises(SftkitError, match="plain SFT only"):
        train(model, tok, load_world("train")[:8], TrainConfig(steps=1, packing=True), trainer_cls=get("ift").trainer)
    assert NTPTrainer is get("sft").trainer
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "Say a.", "chosen": "a", "rejected": "b"}) + "\n")
    assert main(["train", "dpo", "--data", str(data), "--output", str(tmp_path / "out"), "--packing"]) == 2
    assert "--packing is for sft only" in capsys.readouterr().err
