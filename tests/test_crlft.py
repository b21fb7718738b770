"""C-RLFT: the weighted loss by hand, equal weights = SFT, the class condition in training and evaluation,
mixed-quality data with exact shares, and bad sources named by file and line."""
import json
from collections import Counter
from dataclasses import replace

import pytest
import torch

from conftest import chatml_tokenizer
from sftkit import experiment
from sftkit.cli import main
from sftkit.data import IGNORE, load_conversations, load_world, pad_collate, tokenize_dataset
from sftkit.io import SftkitError
from sftkit.losses import ntp_loss
from sftkit.methods import crlft, get
from sftkit.pretrain import build_char_tokenizer, build_tiny_model
from sftkit.train import NTPTrainer, TrainConfig, train
from sftkit.world import SKILLS, check, consistent_mistake


def tiny(seed=0):
    torch.manual_seed(seed)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=2)
    return model, tok


def mixed(n_per_skill=10, **kwargs):
    records = [r for s in SKILLS for r in [r for r in load_world("train") if r["skill"] == s][:n_per_skill]]
    return crlft.mixed_quality_data(records, **kwargs)


# ----------------------------------------------------------------------------------------------------
# The loss


def test_weighted_nll_by_hand_token_and_sequence():
    # sequence 0 (expert, weight 1): answer NLLs 1, 2; sequence 1 (sub-optimal, weight 0.1): 3, 5, 7
    nll = torch.tensor([[9.0, 1.0, 2.0, 0.0], [3.0, 5.0, 7.0, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])  # the 9 is a prompt token: no loss
    w = torch.tensor([1.0, 0.1])
    token = (1 + 2 + 0.1 * (3 + 5 + 7)) / (2 + 0.1 * 3)  # = 4.5 / 2.3
    sequence = (1 * 1.5 + 0.1 * 5.0) / (1 + 0.1)  # per-sequence means 1.5 and 5, weighted = 2.0 / 1.1
    assert crlft.weighted_nll(nll, mask, w, "token").item() == pytest.approx(token)
    assert crlft.weighted_nll(nll, mask, w, "sequence").item() == pytest.approx(sequence)
    assert token != pytest.approx(sequence)
    with pytest.raises(ValueError, match="normalization"):
        crlft.weighted_nll(nll, mask, w, "batch")


def test_a_suboptimal_token_counts_exactly_a_tenth_of_an_expert_token():
    nll = torch.tensor([[0.5, 2.0, 1.0], [4.0, 3.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    crlft.weighted_nll(nll, mask, torch.tensor([1.0, 0.1])).backward()
    total = 3 * 1.0 + 2 * 0.1
    assert torch.allclose(nll.grad, torch.tensor([[1.0, 1.0, 1.0], [0.1, 0.1, 0.0]]) / total)
    assert nll.grad[1, 0].item() / nll.grad[0, 0].item() == pytest.approx(0.1, rel=1e-6)


def test_sequence_normalization_weighs_sequences_not_tokens():
    nll = torch.tensor([[1.0, 1.0, 1.0, 1.0], [5.0, 0.0, 0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    loss = crlft.weighted_nll(nll, mask, torch.tensor([1.0, 1.0]), "sequence")
    loss.backward()
    assert loss.item() == pytest.approx((1.0 + 5.0) / 2)
    assert torch.allclose(nll.grad[0], torch.full((4,), 1 / 8)) and nll.grad[1, 0].item() == pytest.approx(1 / 2)
    assert crlft.weighted_nll(nll, mask, torch.ones(2), "token").item() == pytest.approx((4 + 5) / 5)


@pytest.mark.parametrize("family", ["llama", "chatml"])
def test_equal_weights_one_class_is_plain_sft_values_and_gradients(family):
    model, tok = tiny()
    if family == "chatml":
        tok = chatml_tokenizer()
        model.resize_token_embeddings(len(tok))
    model.eval()
    records = [{**r, "source": "expert"} for r in load_world("train")[::300]]
    b = pad_collate(tokenize_dataset(tok, records), tok.pad_token_id)
    logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    sft = ntp_loss(logits, b["labels"])
    sft_grads = torch.autograd.grad(sft, list(model.parameters()), retain_graph=True)
    for weight in (1.0, 0.1):  # any one reward for every token: the normalization divides it out
        loss = crlft.crlft_loss(logits, b["labels"], torch.full((len(records),), weight))
        grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
        assert torch.allclose(loss, sft, rtol=1e-6, atol=0)
        for g, s in zip(grads, sft_grads):
            assert torch.allclose(g, s, rtol=1e-5, atol=1e-8)
    seq = crlft.crlft_loss(logits, b["labels"], torch.ones(len(records)), "sequence")
    assert torch.allclose(seq, ntp_loss(logits, b["labels"], "sequence_mean"), rtol=1e-6)


def test_trainer_without_condition_and_equal_rewards_trains_exactly_like_sft():
    records = [{**r, "source": "expert"} for r in load_world("train")[::100]]
    config = TrainConfig(steps=3, batch_size=8, lr=1e-2, warmup_steps=0, logging_steps=1)
    runs = {}
    for name, cls, data, kwargs in [
        ("sft", NTPTrainer, None, None),
        ("crlft", crlft.CRLFTTrainer, "crlft", {**crlft.Config(condition="none", suboptimal_reward=1.0).trainer_kwargs()}),
    ]:
        model, tok = tiny()
        dataset = crlft.tokenize(tok, records) if data else tokenize_dataset(tok, records)
        runs[name] = train(model, tok, records, config, trainer_cls=cls, dataset=dataset, trainer_kwargs=kwargs)
    assert runs["sft"].losses == runs["crlft"].losses
    for a, b in zip(runs["sft"].model.parameters(), runs["crlft"].model.parameters()):
        assert torch.equal(a, b)


def test_trainer_weights_each_example_by_its_source_and_logs_per_source_nll():
    model, tok = tiny()
    records = mixed(4, expert_share=0.5)  # 20 expert, 20 sub-optimal records
    trainer_kwargs = crlft.Config().trainer_kwargs()
    result = train(model, tok, records, TrainConfig(steps=2, batch_size=20, warmup_steps=0, logging_steps=1, bucket=1),
                   trainer_cls=crlft.CRLFTTrainer, dataset=crlft.tokenize(tok, records), trainer_kwargs=trainer_kwargs)
    logged = [h for h in result.history if "loss" in h]
    assert len(logged) == 2 and all("expert_nll" in h and "suboptimal_nll" in h for h in logged)
    assert all(0.5 < h["expert_weight_share"] < 1 for h in logged)  # 1.0 per expert token vs 0.1 per sub-optimal one
    with pytest.raises(SftkitError, match="crlft.tokenize"):  # plain SFT examples carry no source
        train(model, tok, records, TrainConfig(steps=1, batch_size=4), trainer_cls=crlft.CRLFTTrainer,
              dataset=tokenize_dataset(tok, records), trainer_kwargs=trainer_kwargs)


# ----------------------------------------------------------------------------------------------------
# The class condition


def test_tokenize_conditions_each_record_on_its_source_and_keeps_plain_tokens():
    tok = build_char_tokenizer()
    records = mixed(1, expert_share=0.5)
    examples = crlft.tokenize(tok, records)
    for ex in examples:
        record = records[ex["index"]]
        text = tok.decode(ex["input_ids"])
        assert text.startswith(f"<|system|>{crlft.CONDITIONS[record['source']]}<|end|><|user|>")
        assert tok.decode(ex["plain_input_ids"]).startswith("<|user|>")
        answer = [t for t in ex["labels"] if t != IGNORE]
        assert answer == [t for t in ex["plain_labels"] if t != IGNORE]  # the same answer tokens carry the loss
        assert tok.decode(answer) == record["messages"][-1]["content"] + "<|end|>"
        assert crlft.SOURCES[ex["source"]] == record["source"]
    with pytest.raises(SftkitError, match="training record 0: 'source'"):
        crlft.tokenize(tok, load_world("train")[:2])


def test_inference_prompt_carries_the_expert_condition_unless_trained_without():
    tok = build_char_tokenizer()
    conversation = [{"role": "user", "content": "Reverse the word abc."}]
    expert = crlft.inference_tokenizer(tok, crlft.Config())
    prompt = expert.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert prompt == "<|system|>expert<|end|><|user|>Reverse the word abc.<|end|><|assistant|>"
    asked = crlft.with_condition([{"messages": conversation}], "suboptimal")[0]["messages"]
    assert expert.apply_chat_template(asked, tokenize=False).startswith("<|system|>suboptimal<|end|>")  # explicit wins
    assert tok.apply_chat_template(conversation, tokenize=False).startswith("<|user|>")  # the original is untouched
    assert crlft.inference_tokenizer(tok, crlft.Config(condition="none")) is tok
    chatml = crlft.inference_tokenizer(chatml_tokenizer())  # any template with a system role
    assert chatml.apply_chat_template(conversation, tokenize=False).startswith("<|im_start|>system\nexpert<|im_end|>")


def test_run_method_evaluates_with_the_expert_condition(monkeypatch):
    prompts = {}

    def fake_evaluate(model, tokenizer, records, max_new_tokens=48, check=None, predictions=True):
        prompts["text"] = tokenizer.apply_chat_template(records[0]["messages"][:-1], tokenize=False,
                                                        add_generation_prompt=True)
        return [{"split": r["split"], "skill": r["skill"], "correct": False} for r in records]

    monkeypatch.setattr(experiment, "evaluate", fake_evaluate)
    config = replace(experiment.BASELINE, steps=1, batch_size=4, warmup_steps=0)
    test = load_world("test")[:1]
    for knobs, start in ((crlft.Config(), "<|system|>expert<|end|><|user|>"), (crlft.Config(condition="none"), "<|user|>")):
        experiment.run_method("crlft", (0,), config=config, method_config=knobs, train_records=mixed(1),
                              eval_splits=("test",), device="cpu")
        assert prompts["text"].startswith(start)
        assert prompts["text"].endswith(test[0]["messages"][0]["content"] + "<|end|><|assistant|>")


# ----------------------------------------------------------------------------------------------------
# Data


def test_mixed_quality_data_has_exact_shares_per_source_skill_and_kind():
    train = load_world("train")
    data = crlft.mixed_quality_data(train)
    assert len(data) == len(train) and [r["id"] for r in data] == [r["id"] for r in train]
    counts = Counter((r["skill"], r["source"], r["quality"]) for r in data)
    for skill in SKILLS:  # 240 per skill: 24 expert, 216 sub-optimal = 108 / 54 / 27 / 27
        assert counts[(skill, "expert", "correct")] == 24
        assert {k: counts[(skill, "suboptimal", k)] for k in crlft.SUBOPTIMAL_MIX} == \
            {"correct": 108, "wrong": 54, "lazy": 27, "partial": 27}
    measured = crlft.source_accuracy(data)
    assert measured["expert"] == {"n": 240, "accuracy": 1.0, "kinds": {"correct": 1.0}}
    assert measured["suboptimal"]["n"] == 2160 and measured["suboptimal"]["accuracy"] == 0.5
    for r in data:  # the written answer is right exactly when its kind says so; the gold answer is kept
        assert check(r, r["messages"][-1]["content"]) == (r["quality"] == "correct")
        assert r["messages"][:-1] == next(t for t in train if t["id"] == r["id"])["messages"][:-1]
    assert crlft.mixed_quality_data(train) == data  # deterministic
    shares = Counter(r["source"] for r in crlft.mixed_quality_data(train, expert_share=0.05))
    assert shares == {"expert": 120, "suboptimal": 2280}
    assert crlft.quotas(228, crlft.SUBOPTIMAL_MIX) == {"correct": 114, "wrong": 57, "lazy": 29, "partial": 28}


def test_unknown_source_names_file_and_line(tmp_path, capsys):
    good = mixed(1)[:2]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*good, {**good[0], "source": "gpt5"}]))
    with pytest.raises(SftkitError, match=r"mixed\.jsonl:3: unknown source 'gpt5' \(known: expert, suboptimal\)"):
        load_conversations(path)
    code = main(["train", "crlft", "--data", str(path), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "mixed.jsonl:3: unknown source 'gpt5'" in err


def test_missing_source_names_file_and_line(tmp_path, capsys):
    good = mixed(1)[:2]
    path = tmp_path / "plain.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*good, {k: v for k, v in good[0].items() if k != "source"}]))
    code = main(["train", "crlft", "--data", str(path), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "plain.jsonl:3: field 'source' is missing" in err


def test_default_data_is_the_train_split_with_the_systematic_source():
    records, text = crlft.default_data()
    assert len(records) == 2400 and records == crlft.mixed_quality_data(load_world("train"), mix=crlft.SYSTEMATIC_MIX)
    assert "expert 240 records, 100% correct" in text and "suboptimal 2160 records, 30% correct" in text


def test_systematic_source_makes_one_wrong_answer_the_most_common():
    """The systematic source writes its skill's consistent mistake on 60% of its records, so over both sources
    (10% expert) the mistake outnumbers the gold answer (0.9 * 0.6 = 54% vs 0.1 + 0.9 * 0.3 = 37%); the
    scattered source spreads its mistakes, so the gold answer stays the most common."""
    train = load_world("train")
    data = crlft.mixed_quality_data(train, mix=crlft.SYSTEMATIC_MIX, seed=3)
    written = [r["messages"][-1]["content"] for r in data]
    gold = sum(w == r["answer"] for w, r in zip(written, data)) / len(data)
    rule = sum(w == consistent_mistake(r) for w, r in zip(written, data)) / len(data)
    assert gold == pytest.approx(0.37, abs=0.005) and rule == pytest.approx(0.54, abs=0.005)
    assert all(crlft.answer_kind(r, w) == r["quality"] for r, w in zip(data, written) if r["quality"] != "lazy")
    scattered = crlft.mixed_quality_data(train, seed=3)
    assert sum(r["messages"][-1]["content"] == consistent_mistake(r) for r in scattered) / len(scattered) < 0.15
    assert data != crlft.mixed_quality_data(train, mix=crlft.SYSTEMATIC_MIX, seed=4)  # each seed its own draw


def test_ablation_arms_draw_per_seed_and_match_epochs():
    arms = crlft.ablation("systematic", steps=300)
    assert list(arms) == ["SFT on everything", "expert-only SFT", "expert-only SFT, matched epochs",
                          "sub-optimal-only SFT", "conditioning only", "weights only", "C-RLFT"]
    assert arms["expert-only SFT, matched epochs"].steps == 30 and arms["C-RLFT"].steps is None
    expert = arms["expert-only SFT"].data(1)
    assert len(expert) == 240 and {r["source"] for r in expert} == {"expert"}
    assert arms["C-RLFT"].data(1) == crlft.mixed_quality_data(load_world("train"), mix=crlft.SYSTEMATIC_MIX, seed=1)
    assert arms["C-RLFT"].data(0) != arms["C-RLFT"].data(1)
    assert arms["conditioning only"].knobs.suboptimal_reward == 1.0 and arms["weights only"].knobs.condition == "none"
    assert len({a.note for a in arms.values()}) == len(arms)  # distinct results variants
    with pytest.raises(ValueError, match="unknown sub-optimal source"):
        crlft.ablation("noisy")


def test_cli_trains_crlft_and_saves_the_expert_chat_template(tmp_path, random_models):
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in mixed(1)))
    out = tmp_path / "model"
    assert main(["train", "crlft", "--model", random_models["llama"], "--data", str(path), "--output", str(out),
                 "--steps", "2", "--batch-size", "4", "--suboptimal-reward", "0.05", "--normalization", "sequence"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["variant"] == "condition=system,r_expert=1.0,r_sub=0.05,norm=sequence"
    from sftkit.model import load_model

    tok = load_model(str(out), tokenizer_only=True)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|system|>expert<|end|><|user|>hi<|end|><|assistant|>"


def test_registered_with_its_paper_and_knobs():
    spec = get("crlft")
    assert spec.paper.arxiv == "2309.11235" and spec.paper.notebook in crlft.__doc__
    assert spec.config().trainer_kwargs() == {"condition": "system", "expert_reward": 1.0, "suboptimal_reward": 0.1,
                                              "normalization": "token"}


def test_run_arms_trains_each_seed_on_its_own_draw_and_each_arm_its_own_steps(monkeypatch):
    from types import SimpleNamespace

    seen = []

    def fake_train(spec, records, config, *args, **kwargs):
        seen.append((spec.name, config.seed, config.steps, records[0]["id"], len(records)))
        return SimpleNamespace(model=None, step_time_s=0.1, peak_mem_mb=None, seconds=1.0, history=[]), None

    def fake_evaluate(model, tokenizer, records, max_new_tokens=48, check=None, predictions=True):
        return [{"id": r["id"], "split": r["split"], "skill": r["skill"], "correct": True} for r in records]

    monkeypatch.setattr(experiment, "train_method", fake_train)
    monkeypatch.setattr(experiment, "evaluate", fake_evaluate)
    arms = crlft.ablation("systematic", steps=300)
    arms = {k: arms[k] for k in ("C-RLFT", "expert-only SFT, matched epochs")}
    runs = experiment.run_arms(arms, (0, 1), config=experiment.BASELINE, eval_splits=("test",), log=None)
    assert [(name, seed, steps, n) for name, seed, steps, _, n in seen] == [
        ("crlft", 0, 300, 2400), ("crlft", 1, 300, 2400), ("sft", 0, 30, 240), ("sft", 1, 30, 240)]
    first = {(name, seed): first_id for name, seed, _, first_id, _ in seen}
    assert first[("sft", 0)] != first[("sft", 1)]  # another seed, another draw of expert records
    assert {r["steps"] for r in runs["expert-only SFT, matched epochs"].rows} == {30}
