import math

import pytest
import torch
from transformers import TrainerCallback

from conftest import chatml_tokenizer, gpt2_model
from sftkit.data import IGNORE, load_world, pad_collate, tokenize_dataset
from sftkit.losses import ntp_loss
from sftkit.methods.ift import (
    Config,
    IFTTrainer,
    discounted_cumsum,
    fix_end_weight,
    fuse_embeddings,
    ift_loss,
    lambda_at,
    one_step_guesses,
    relation_weights,
)
from sftkit.pretrain import build_char_tokenizer, build_tiny_model
from sftkit.train import TrainConfig, train


def tiny(tokenizer=None):
    tok = tokenizer or build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=2)
    return model, tok


def batch(tok, n=4):
    data = tokenize_dataset(tok, load_world("train")[:n], max_length=256)
    return pad_collate(data, tok.pad_token_id)


def test_discounted_cumsum_matches_a_loop():
    x = torch.randn(3, 7, dtype=torch.float64)
    gamma = 0.8
    ref = torch.zeros_like(x)
    running = torch.zeros(3, dtype=torch.float64)
    for t in reversed(range(7)):
        running = x[:, t] + gamma * running
        ref[:, t] = running
    assert torch.allclose(discounted_cumsum(x, gamma), ref)


def test_relation_weights_by_hand():
    nll = torch.tensor([[9.0, 1.0, 2.0, 3.0, 5.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])  # answer tokens 1..3; the 9 and 5 must not count
    w = relation_weights(nll, mask, gamma=0.5)
    r = torch.tensor([1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]) / 3
    expected = torch.cat([torch.zeros(1), 3 * r / r.sum(), torch.zeros(1)])
    assert torch.allclose(w[0], expected)
    assert w.sum().item() == pytest.approx(3.0)


def test_fix_end_weight_sets_each_answers_last_token_to_one():
    weights = torch.tensor([[0.0, 1.5, 1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [2.0, 0.25, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]])
    expected = torch.tensor([[0.0, 1.5, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [2.0, 1.0, 0.0, 0.0, 0.0]])
    assert torch.equal(fix_end_weight(weights, mask), expected)
    assert Config().variant() == "lambda=0.2,gamma=0.95,schedule=fixed"  # earlier results keep their names
    assert Config(end_weight="one").variant("x") == "lambda=0.2,gamma=0.95,schedule=fixed,end=one (x)"


def test_weights_sum_to_answer_tokens_and_gamma_zero_is_uniform():
    torch.manual_seed(0)
    nll = torch.rand(4, 12) * 3
    mask = (torch.rand(4, 12) > 0.4).float()
    for gamma in (0.5, 0.95, 1.0):
        w = relation_weights(nll, mask, gamma)
        assert torch.allclose(w.sum(-1), mask.sum(-1))
        assert (w[mask == 0] == 0).all()
    assert torch.equal(relation_weights(nll, mask, 0.0), mask)


def test_one_step_guesses_and_fusion():
    logits = torch.full((1, 4, 5), -1.0)
    for t, tok in enumerate([3, 1, 4, 2]):
        logits[0, t, tok] = 1.0  # the guess for position t + 1
    input_ids = torch.tensor([[0, 2, 2, 0]])
    labels = torch.tensor([[IGNORE, IGNORE, 2, 0]])
    assert one_step_guesses(logits, input_ids, labels).tolist() == [[0, 2, 1, 4]]
    table = torch.randn(5, 3)
    guesses = torch.tensor([[0, 2, 1, 4]])
    fused = fuse_embeddings(table, input_ids, guesses, 0.2)
    assert torch.allclose(fused, 0.8 * table[input_ids] + 0.2 * table[guesses])
    assert torch.equal(fuse_embeddings(table, input_ids, guesses, 0.0), table[input_ids])


def test_lambda_schedules():
    assert lambda_at(7, 0.2) == 0.2
    assert lambda_at(5, 0.2, "linear", min_lambda=0.0, warmup_steps=10) == pytest.approx(0.1)
    assert lambda_at(50, 0.2, "linear", warmup_steps=10) == pytest.approx(0.2)
    assert lambda_at(3, 0.2, "noisy", noise=1.0, noise_std=0.5) == pytest.approx(0.3)
    assert lambda_at(3, 0.8, "noisy", noise=3.0) == 1.0 and lambda_at(3, 0.2, "noisy", noise=-9.0) == 0.0
    with pytest.raises(ValueError):
        lambda_at(0, 0.2, "cosine")


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_lambda0_gamma0_equals_sequence_mean_sft(family):
    if family == "llama":
        model, tok = tiny()
    else:
        tok = chatml_tokenizer()
        model = gpt2_model(tok)
    model.eval()  # no dropout, so the two passes are comparable
    b = batch(tok)
    frozen = model.get_input_embeddings().weight.detach().clone()
    loss, details = ift_loss(model, b["input_ids"], b["attention_mask"], b["labels"], frozen, lam=0.0, gamma=0.0)
    loss.backward()
    ift_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    sft = ntp_loss(logits, b["labels"], "sequence_mean")
    sft.backward()
    assert loss.item() == pytest.approx(sft.item(), rel=1e-6)
    assert details["sft_loss"].item() == pytest.approx(sft.item(), rel=1e-6)
    assert loss.item() != pytest.approx(ntp_loss(logits, b["labels"], "token_mean").item(), rel=1e-6)
    embed = model.get_input_embeddings().weight
    for name, p in model.named_parameters():
        if p is embed:  # SFT also trains the input side of the table; IFT feeds the frozen copy
            continue
        assert torch.allclose(ift_grads[name], p.grad, atol=1e-6, rtol=1e-4), name


def test_ift_changes_the_loss_and_no_gradient_reaches_the_frozen_copy():
    model, tok = tiny()
    model.eval()
    b = batch(tok)
    frozen = model.get_input_embeddings().weight.detach().clone()
    base, _ = ift_loss(model, b["input_ids"], b["attention_mask"], b["labels"], frozen, 0.0, 0.0)
    loss, details = ift_loss(model, b["input_ids"], b["attention_mask"], b["labels"], frozen, 0.2, 0.95)
    assert math.isfinite(loss.item()) and loss.item() != pytest.approx(base.item(), rel=1e-5)
    assert torch.allclose(details["weights"].sum(-1), details["mask"].sum(-1))
    loss.backward()
    assert not frozen.requires_grad and frozen.grad is None
    assert model.get_input_embeddings().weight.grad is not None  # tied LM head still learns


def test_trainer_refreshes_the_frozen_copy_after_every_step():
    model, tok = tiny()
    seen = []

    class Check(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            seen.append(torch.equal(trainer.embedding, trainer.model.get_input_embeddings().weight))

    class Recording(IFTTrainer):
        def __init__(self, *a, **k):
            nonlocal trainer
            super().__init__(*a, **k)
            trainer = self
            self.add_callback(Check())

    trainer = None
    start = model.get_input_embeddings().weight.detach().clone()
    config = TrainConfig(steps=4, batch_size=4, lr=1e-2, warmup_steps=0, logging_steps=1)
    result = train(model, tok, load_world("train")[:16], config, trainer_cls=Recording,
                   trainer_kwargs={"gamma": 0.9, "lambda_schedule": "linear"})
    weight = result.model.get_input_embeddings().weight
    assert seen == [True] * 4
    assert torch.equal(trainer.embedding, weight) and not torch.equal(weight, start)
    assert all(math.isfinite(x) for x in result.losses[1])
