import json
import random
from functools import partial
from unittest.mock import patch

import pytest
import torch

from sftkit.cli import main
from sftkit.data import IGNORE, pad_collate, tokenize_dataset
from sftkit.io import SftkitError
from sftkit.losses import token_nll
from sftkit.methods.sftmix import (
    BalancedSampler,
    Config,
    SFTMixTrainer,
    checkpoint_steps,
    confidence_and_variability,
    load_split,
    median_split,
    mixup_loss,
    pair_rows,
    random_split,
    training_dynamics,
)
from sftkit.model import load_model
from sftkit.train import TrainConfig, train, training_arguments


def conversation(question, answer):
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def random_records(n, seed=0):
    rng = random.Random(seed)
    word = lambda k: "".join(rng.choice("abcdefghij") for _ in range(k))  # noqa: E731
    return [conversation(f"Say {word(4)}", word(rng.randint(3, 9))) for _ in range(n)]


def head_inputs_and_logits(model, batch):
    """The LM head's input (what SFTMixTrainer captures) and the model's own logits."""
    captured = {}
    hook = model.get_output_embeddings().register_forward_pre_hook(lambda m, a: captured.update(h=a[0]))
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    hook.remove()
    return captured["h"], logits


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_mixup_with_lambda_one_is_confident_ce_on_aligned_positions(random_models, name):
    model, tok = load_model(random_models[name])
    records = [conversation("Hi", "a long answer here"), conversation("Yo", "short"),
               conversation("Hey", "mid answer"), conversation("Ok", "xy")]
    batch = pad_collate(tokenize_dataset(tok, records), tok.pad_token_id)
    hidden, logits = head_inputs_and_logits(model, batch)
    nll, mask = token_nll(logits, batch["labels"])
    conf, unconf = torch.tensor([0, 2]), torch.tensor([1, 3])
    # hand reference: the first min(len) response tokens of each confident row, token mean over both pairs
    expected, expected_u = [], []
    for c, u in zip(conf.tolist(), unconf.tolist()):
        n = int(min(mask[c].sum(), mask[u].sum()))
        expected.append(nll[c][mask[c].bool()][:n])
        expected_u.append(nll[u][mask[u].bool()][:n])
    one = mixup_loss(model, hidden, batch["labels"], conf, unconf, torch.ones(2))
    zero = mixup_loss(model, hidden, batch["labels"], conf, unconf, torch.zeros(2))
    torch.testing.assert_close(one, torch.cat(expected).mean())
    torch.testing.assert_close(zero, torch.cat(expected_u).mean())
    assert len(torch.cat(expected)) < int(mask[[0, 2]].sum())  # truncation to the shorter response happened


def test_mixup_mixes_hidden_states_and_labels(random_models):
    """lambda = 0.3: the mixed state goes through the head; the target is the 0.3 / 0.7 label mixture."""
    model, tok = load_model(random_models["llama"])
    batch = pad_collate(tokenize_dataset(tok, [conversation("A", "abc"), conversation("B", "wxyz")]),
                        tok.pad_token_id)
    hidden, _ = head_inputs_and_logits(model, batch)
    labels = batch["labels"]
    pc = (labels[0, 1:] != IGNORE).nonzero().squeeze(1)[:4]
    pu = (labels[1, 1:] != IGNORE).nonzero().squeeze(1)[:4]
    logp = torch.log_softmax(model.lm_head(0.3 * hidden[0, pc] + 0.7 * hidden[1, pu]), -1)
    rows = torch.arange(4)
    expected = -(0.3 * logp[rows, labels[0, pc + 1]] + 0.7 * logp[rows, labels[1, pu + 1]]).mean()
    got = mixup_loss(model, hidden, labels, torch.tensor([0]), torch.tensor([1]), torch.tensor([0.3]))
    torch.testing.assert_close(got, expected)


def test_balanced_sampler_every_batch_half_confident():
    confident = [i % 3 == 0 for i in range(40)]  # 14 confident, 26 unconfident
    sampler = BalancedSampler(confident, batch_size=8, seed=1)
    first, second = list(sampler), list(sampler)
    assert len(first) == len(sampler) == 24  # 14 // 4 = 3 blocks of 8
    for order in (first, second):
        assert len(set(order)) == len(order)
        for b in range(0, len(order), 8):
            assert sum(confident[i] for i in order[b:b + 8]) == 4
    assert first != second  # reshuffled every pass
    with pytest.raises(SftkitError):
        BalancedSampler(confident, batch_size=7)


def test_median_split_and_scores_by_hand():
    ppl = torch.tensor([[2.0, 10.0, 4.0, 1.0], [4.0, 10.0, 2.0, 1.0]])
    conf, var = confidence_and_variability(ppl)
    torch.testing.assert_close(conf, torch.tensor([-3.0, -10.0, -3.0, -1.0]))
    torch.testing.assert_close(var, torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert median_split(conf).tolist() == [True, False, False, True]  # the tie goes to the earlier one
    assert checkpoint_steps(300, 3) == [100, 200, 300]
    c, u = pair_rows(torch.tensor([True, False, False, True, False]))
    assert len(c) == len(u) == 2 and set(c.tolist()) == {0, 3} and not set(u.tolist()) & {0, 3}


def test_confidence_ranks_memorised_example_above_random_ones(random_models, tmp_path):
    model, tok = load_model(random_models["llama"])
    memorised = conversation("Say the motto", "aaaa bbbb")
    records = [memorised] * 24 + random_records(24)
    dyn = training_dynamics(model, tok, records, TrainConfig(steps=30, batch_size=8, lr=3e-3, warmup_steps=0),
                            checkpoints=3)
    assert dyn.steps == [10, 20, 30] and dyn.perplexity.shape == (3, 48)
    conf = dyn.confidence
    assert conf[:24].min() > conf[24:].max()
    assert all(dyn.split()[i] for i in range(24))  # the memorised copies make up the confident half
    dyn.save(tmp_path / "confidence.jsonl")
    assert load_split(tmp_path / "confidence.jsonl") == dyn.split()


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_trainer_batches_are_balanced_and_mu_zero_is_ntp(random_models, name):
    model, tok = load_model(random_models[name])
    records = random_records(32)
    split = {i: i < 12 for i in range(32)}  # unbalanced on purpose: 12 confident, 20 unconfident
    seen = []

    class Spy(SFTMixTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            seen.append([self.confident[i] for i in inputs["index"].tolist()])
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    result = train(model, tok, records, TrainConfig(steps=6, batch_size=8, logging_steps=1), trainer_cls=Spy,
                   trainer_kwargs={"confident": split})
    assert len(seen) == 6 and all(sum(b) == 4 and len(b) == 8 for b in seen)
    assert all(torch.isfinite(torch.tensor(result.losses[1])))

    ds = tokenize_dataset(tok, records)
    batch = pad_collate(ds[:4] + ds[20:24], tok.pad_token_id)
    args = dict(model=model, args=None, train_dataset=ds, data_collator=partial(pad_collate, pad_token_id=tok.pad_token_id))
    ntp = SFTMixTrainer(**args, confident=split, mu=0.0).compute_loss(model, batch)
    mixed = SFTMixTrainer(**args, confident=split, mu=0.2).compute_loss(model, batch)
    hf = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    torch.testing.assert_close(ntp, hf)  # mu = 0: HF's own token-mean NTP loss
    assert mixed > ntp


def test_trainer_computes_split_itself_and_restores_weights(random_models, tmp_path):
    model, tok = load_model(random_models["llama"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ds = tokenize_dataset(tok, random_records(16))
    trainer = SFTMixTrainer(model=model, args=training_arguments(TrainConfig(steps=4, batch_size=4), str(tmp_path)),
                            train_dataset=ds, data_collator=partial(pad_collate, pad_token_id=tok.pad_token_id),
                            reference_steps=3)
    assert sum(trainer.confident.values()) == 8 and len(trainer.confident) == 16
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_cli_train_sftmix_with_confidence_file(random_models, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in random_records(16)))
    conf = tmp_path / "confidence.jsonl"
    conf.write_text("".join(json.dumps({"index": i, "confidence": -float(i)}) + "\n" for i in range(16)))
    assert load_split(conf) == {i: i < 8 for i in range(16)}
    out = tmp_path / "model"
    code = main(["train", "sftmix", "--model", random_models["llama"], "--data", str(data), "--output", str(out),
                 "--steps", "3", "--batch-size", "4", "--confidence-file", str(conf)])
    assert code == 0 and (out / "train_log.json").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"index": 0}) + "\n")
    assert main(["train", "sftmix", "--model", random_models["llama"], "--data", str(data), "--output",
                 str(tmp_path / "m2"), "--steps", "3", "--batch-size", "4", "--confidence-file", str(bad)]) == 2
    assert "bad.jsonl" in capsys.readouterr().err


def test_random_halves_control_splits_at_random_without_a_reference_run(random_models, tmp_path):
    split = random_split(list(range(10, 30)), seed=3)
    assert sorted(split) == list(range(10, 30)) and sum(split.values()) == 10
    assert split == random_split(list(range(10, 30)), seed=3) and split != random_split(list(range(10, 30)), seed=4)

    model, tok = load_model(random_models["llama"])
    ds = tokenize_dataset(tok, random_records(16))
    args = training_arguments(TrainConfig(steps=4, batch_size=4, seed=5), str(tmp_path))
    common = dict(model=model, args=args, train_dataset=ds, data_collator=partial(pad_collate, pad_token_id=tok.pad_token_id))
    with patch("sftkit.methods.sftmix.record_dynamics", side_effect=AssertionError("no reference run")):
        trainer = SFTMixTrainer(**common, halves="random")
    assert trainer.confident == random_split(list(range(16)), seed=5)
    with pytest.raises(SftkitError, match="draws its own split"):
        SFTMixTrainer(**common, halves="random", confident={i: True for i in range(16)})
    with pytest.raises(SftkitError, match="unknown halves 'shuffled'"):
        SFTMixTrainer(**common, halves="shuffled", confident={i: i < 8 for i in range(16)})


def test_the_control_is_named_in_results_and_earlier_variants_keep_their_names():
    assert Config().variant() == "mu=0.2"
    assert Config(halves="random").variant("16 per skill") == "mu=0.2,halves=random (16 per skill)"
