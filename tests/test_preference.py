"""DPO / RPO losses, pair tokenization, the reference model, the reward model and the CLI."""
import json
import math
from functools import partial

import pytest
import torch

from sftkit.cli import main
from sftkit.data import (
    IGNORE,
    final_turn_labels,
    load_preferences,
    load_world,
    pad_collate,
    pair_collate,
    tokenize_pairs,
)
from sftkit.io import SftkitError
from sftkit.logprobs import reference_logprobs, sequence_logprobs
from sftkit.losses import dpo_loss, ntp_loss, rpo_loss, sequence_logprob
from sftkit.methods.dpo import heldout_pair_probe, pair_logprob_stats
from sftkit.model import load_model
from sftkit.reward import load_reward_model, pair_accuracy, relabel, reward_scores, train_reward_model
from sftkit.train import TrainConfig
from sftkit.world import check, onpolicy_pairs, world_pairs

PAIRS = [
    {"prompt": [{"role": "user", "content": "Reverse the word kofa."}],
     "chosen": [{"role": "assistant", "content": "afok"}], "rejected": [{"role": "assistant", "content": "kofa"}]},
    {"prompt": [{"role": "user", "content": "What is 3 + 4?"}],
     "chosen": [{"role": "assistant", "content": "7"}], "rejected": [{"role": "assistant", "content": "12"}]},
    {"prompt": [{"role": "user", "content": "Max of 1 5 2?"}, {"role": "assistant", "content": "5"},
                {"role": "user", "content": "And the min?"}],
     "chosen": [{"role": "assistant", "content": "1"}], "rejected": [{"role": "assistant", "content": "2 or 5"}]},
]


def batch_of(tokenizer, pairs):
    return pair_collate(tokenize_pairs(tokenizer, pairs), partial(pad_collate, pad_token_id=tokenizer.pad_token_id))


def perturbed(model, seed=1, scale=0.05):
    """The same model with noise on every weight, so policy and reference differ."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return model


def test_hand_computed_two_example_batch():
    chosen, rejected = torch.tensor([-2.0, -3.0]), torch.tensor([-4.0, -3.0])
    ref_chosen, ref_rejected = torch.tensor([-3.0, -3.0]), torch.tensor([-3.0, -3.0])
    lengths = torch.tensor([2, 3])
    # margins: (1 - -1) = 2 and 0; beta 0.5 -> -log sigmoid(1) and -log sigmoid(0) = log 2
    dpo = [math.log(1 + math.exp(-1)), math.log(2)]
    assert torch.allclose(dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.5), torch.tensor(dpo))
    # sum: + beta * eta * (2, 3) with beta * eta = 0.05
    assert rpo_loss(chosen, rejected, ref_chosen, ref_rejected, lengths, 0.5, 0.1, "sum").item() == \
        pytest.approx((dpo[0] + 0.10 + dpo[1] + 0.15) / 2)
    # mean: per-token NLL 2/2 and 3/3 -> + 0.2 * 1
    assert rpo_loss(chosen, rejected, ref_chosen, ref_rejected, lengths, 0.5, 0.2, "mean").item() == \
        pytest.approx(sum(dpo) / 2 + 0.2)


def test_rpo_reduces_to_dpo_at_eta_zero():
    gen = torch.Generator().manual_seed(0)
    c, r, rc, rr = (-10 * torch.rand(8, generator=gen) for _ in range(4))
    lengths = torch.randint(1, 9, (8,), generator=gen)
    dpo = dpo_loss(c, r, rc, rr, beta=0.3).mean()
    for variant in ("sum", "mean"):
        assert torch.allclose(rpo_loss(c, r, rc, rr, lengths, 0.3, 0.0, variant), dpo)
        assert not torch.allclose(rpo_loss(c, r, rc, rr, lengths, 0.3, 0.5, variant), dpo)
    with pytest.raises(ValueError, match="reduction"):
        rpo_loss(c, r, rc, rr, lengths, reduction="token")


def test_identical_policy_and_reference_gives_log2():
    x = torch.tensor([-5.0, -1.0, -7.0])
    assert torch.allclose(dpo_loss(x, x - 3, x, x - 3), torch.full((3,), math.log(2)))


def test_dpo_matches_trl(random_models, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    ref, tokenizer = load_model(random_models["llama"], device="cpu")
    policy = perturbed(load_model(random_models["llama"], device="cpu")[0])
    ref.eval(), policy.eval()
    alpha = 0.7
    args = DPOConfig(output_dir=str(tmp_path), beta=0.1, bf16=False, use_cpu=True, report_to="none",
                     loss_type=["sigmoid", "sft"], loss_weights=[1.0, alpha], max_length=None)
    trl = DPOTrainer(model=policy, ref_model=ref, args=args, processing_class=tokenizer,
                     train_dataset=Dataset.from_list(PAIRS))
    trl_batch = trl.data_collator([trl.train_dataset[i] for i in range(len(PAIRS))])
    with torch.no_grad():
        trl_loss = trl.compute_loss(policy, trl_batch)
        batch = batch_of(tokenizer, PAIRS)
        assert torch.equal(batch["input_ids"][:, :trl_batch["input_ids"].shape[1]], trl_batch["input_ids"])
        logits = policy(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        chosen, rejected = sequence_logprob(logits, batch["labels"]).chunk(2)
        ref_chosen, ref_rejected = reference_logprobs(policy, ref, batch).chunk(2)
        ours = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.1).mean()
        # TRL's "sft" term: token-mean NLL over all chosen tokens of the batch (neither RPO variant)
        sft = ntp_loss(logits[:len(PAIRS)], batch["labels"][:len(PAIRS)], "token_mean")
    assert ours.item() != pytest.approx(math.log(2), abs=1e-3)  # policy and reference really differ
    assert (ours + alpha * sft).item() == pytest.approx(trl_loss.item(), abs=1e-5)


def test_pair_tokenization_scores_only_the_final_response(random_models):
    _, tokenizer = load_model(random_models["gpt2"], device="cpu")  # ChatML template
    ex = tokenize_pairs(tokenizer, PAIRS)[2]
    labelled = [t for t in ex["chosen_labels"] if t != IGNORE]
    response = tokenizer.decode(labelled)
    assert response.lstrip().startswith("1") and "5" not in response  # not the earlier assistant turn
    assert final_turn_labels([IGNORE, 5, 6, IGNORE, 7, IGNORE]) == [IGNORE] * 4 + [7, IGNORE]
    batch = batch_of(tokenizer, PAIRS[:2])
    assert batch["input_ids"].shape[0] == 4 and batch["index"].tolist() == [0, 1]
    assert tokenizer.decode([t for t in batch["labels"][1].tolist() if t != IGNORE]).lstrip().startswith("7")
    assert tokenizer.decode([t for t in batch["labels"][3].tolist() if t != IGNORE]).lstrip().startswith("12")


def test_lora_reference_is_the_base_model(random_models):
    base, tokenizer = load_model(random_models["llama"], device="cpu")
    model, _ = load_model(random_models["llama"], device="cpu", lora={"r": 4})
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = batch_of(tokenizer, PAIRS)
    with torch.no_grad():
        expected = sequence_logprobs(base.eval(), batch)
        policy = sequence_logprobs(model, batch)
    assert torch.allclose(reference_logprobs(model, None, batch), expected, atol=1e-5)
    assert not torch.allclose(policy, expected, atol=1e-3)
    with pytest.raises(ValueError, match="PEFT"):
        reference_logprobs(base, None, batch)


def test_heldout_pair_probe_matches_hand_computed_stats(random_models):
    ref, tokenizer = load_model(random_models["llama"], device="cpu")
    policy = perturbed(load_model(random_models["llama"], device="cpu")[0]).train()
    batch = batch_of(tokenizer, PAIRS)
    with torch.no_grad():
        c, r = sequence_logprobs(policy.eval(), batch).chunk(2)
        rc, rr = sequence_logprobs(ref.eval(), batch).chunk(2)
    policy.train()
    beta = 0.3
    stats = heldout_pair_probe(ref, batch, beta=beta, prefix="h_")(policy)
    assert policy.training  # the probe restores training mode
    logratio = (c - rc) - (r - rr)
    expected = {"chosen_logp": c.mean(), "rejected_logp": r.mean(), "chosen_reward": beta * (c - rc).mean(),
                "rejected_reward": beta * (r - rr).mean(), "margin": beta * logratio.mean(),
                "logratio_margin": logratio.mean(), "reward_accuracy": (logratio > 0).float().mean()}
    assert set(stats) == {"h_" + k for k in expected}
    for k, v in expected.items():
        assert stats["h_" + k] == pytest.approx(v.item(), abs=1e-5)
    assert stats["h_margin"] != pytest.approx(0.0, abs=1e-4)  # policy and reference really differ
    # the policy against itself: every reward and margin is zero, the log-probs are its own
    same = pair_logprob_stats(ref, batch, torch.cat([rc, rr]), beta)
    assert same["margin"] == same["chosen_reward"] == same["reward_accuracy"] == 0.0
    assert same["chosen_logp"] == pytest.approx(rc.mean().item(), abs=1e-5)


def test_bad_records_give_clear_errors(tmp_path):
    cases = [({"prompt": "hi", "chosen": "a"}, "'rejected' is missing"),
             ({"prompt": [{"role": "assistant", "content": "x"}], "chosen": "a", "rejected": "b"}, "must end"),
             ({"prompt": "hi", "chosen": "a", "rejected": [{"role": "assistant", "content": "b"}]}, "both"),
             ({"prompt": "hi", "chosen": [{"role": "user", "content": "a"}], "rejected": "b"}, r"chosen\[0\]"),
             ({"prompt": "hi", "chosen": "same", "rejected": "same"}, "identical")]
    for i, (record, message) in enumerate(cases):
        path = tmp_path / f"bad{i}.jsonl"
        path.write_text(json.dumps(PAIRS[0]) + "\n" + json.dumps(record) + "\n")
        with pytest.raises(SftkitError, match=f"bad{i}.jsonl:2: .*{message}"):
            load_preferences(path)
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"prompt": "hi", "chosen": "a", "rejected": "b"}) + "\n")
    assert len(load_preferences(plain)) == 1


def test_world_pairs_prefer_gold_over_wrong_answers():
    records = load_world("train")
    samples = [[r["answer"], r["answer"] + "!", ""] for r in records]
    pairs = world_pairs(records, samples, corruptions=1, seed=0)
    by_id = {r["id"]: r for r in records}
    assert {p["source"] for p in pairs} == {"sample", "corruption"}
    for p in pairs:
        record = by_id[p["id"]]
        assert check(record, p["chosen"][0]["content"]) and not check(record, p["rejected"][0]["content"])


def test_onpolicy_pairs_take_the_models_own_answers():
    records = load_world("train")[:4]
    gold = [r["answer"] for r in records]
    samples = [[gold[0] + "!", gold[0], gold[0] + "!"],  # right and wrong samples: both sides on-policy
               [gold[1] + "x", "", gold[1] + "y"],         # only wrong ones: the gold answer is chosen
               [gold[2], gold[2]],                          # all right: no pair
               ["", " "]]                                   # nothing said: no pair
    pairs = onpolicy_pairs(records, samples)
    assert [(p["id"], p["source"]) for p in pairs] == [(records[0]["id"], "on-policy"), (records[1]["id"], "gold-chosen")]
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [
        (gold[0], gold[0] + "!"), (gold[1], gold[1] + "x")]
    assert pairs[0]["prompt"] == records[0]["messages"][:-1]
    with pytest.raises(ValueError, match="4 records but 3"):
        onpolicy_pairs(records, samples[:3])


def test_relabel_orders_each_pair_by_the_reward_model(random_models):
    model, tokenizer = load_reward_model(random_models["llama"], device="cpu")
    pairs = PAIRS + [{**p, "chosen": p["rejected"], "rejected": p["chosen"]} for p in PAIRS]
    relabelled, agree = relabel(model, tokenizer, pairs)
    score = lambda p, side: reward_scores(model, tokenizer, [p["prompt"] + p[side]])[0].item()  # noqa: E731
    for p, q, kept in zip(pairs, relabelled, agree):
        assert score(q, "chosen") >= score(q, "rejected") - 1e-6
        assert kept == (q["chosen"] == p["chosen"])
    assert sum(agree[:3]) + sum(agree[3:]) == 3  # a pair and its swap: the model agrees with exactly one (no ties)


def test_reward_model_learns_a_separable_set(random_models):
    def pair(i, good):
        answer = "yes" if good else "no"
        return [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": answer}]

    pairs = [{"prompt": pair(i, True)[:1], "chosen": pair(i, True)[1:], "rejected": pair(i, False)[1:]}
             for i in range(60)]
    model, tokenizer = load_reward_model(random_models["llama"], device="cpu")
    result = train_reward_model(model, tokenizer, pairs[:40], TrainConfig(steps=30, batch_size=8, lr=3e-3,
                                                                          warmup_steps=0, logging_steps=10))
    assert result.losses[1][-1] < 0.3
    assert pair_accuracy(result.model, tokenizer, pairs[40:]) == 1.0


@pytest.mark.parametrize("method", ["dpo", "rpo"])
def test_cli_trains_on_preference_jsonl(random_models, tmp_path, method, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    out = tmp_path / "model"
    assert main(["train", method, "--model", random_models["llama"], "--data", str(data), "--output", str(out),
                 "--steps", "10", "--batch-size", "2", "--save-steps", "0"]
                + (["--reduction", "mean"] if method == "rpo" else [])) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert any("chosen_logp" in h for h in log["history"])
    assert log["variant"] == ("reduction=mean,beta=0.1,eta=0.2" if method == "rpo" else "beta=0.1")
    # a conversational SFT file is not preference data: one clear line, exit status 2
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}]}) + "\n")
    assert main(["train", method, "--data", str(sft), "--output", str(out)]) == 2
    assert "sft.jsonl:1: field 'prompt' is missing" in capsys.readouterr().err
