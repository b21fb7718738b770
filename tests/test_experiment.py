"""The comparison protocol: variant names from Configs, exact-settings baseline reuse, the one comparison rule."""
import importlib
from dataclasses import replace

import pytest

from sftkit import experiment, results
from sftkit.experiment import BASELINE, baseline, train_settings, variant_name
from sftkit.methods import all_methods, get


def test_variant_names_come_from_the_config():
    assert variant_name(get("sft").config()) == "full"
    assert variant_name(get("sft").config(), lora={"r": 8}) == "lora-r8"
    assert variant_name(get("sftmix").config(mu=0), note="balanced batches only") == "mu=0 (balanced batches only)"
    assert variant_name(get("ift").config()) == "lambda=0.2,gamma=0.95,schedule=fixed"
    assert variant_name(get("rpo").config(reduction="mean")) == "reduction=mean,beta=0.1,eta=0.2"


def test_every_method_declares_paper_config_and_names_its_notebook():
    for m in all_methods():
        assert m.paper.arxiv and m.paper.notebook and m.shape in ("loss", "data", "online")
        assert m.paper.notebook in importlib.import_module(f"sftkit.methods.{m.name}").__doc__, m.name
        for f in m.config.knobs():
            assert f.metadata.get("help"), f"{m.name}.{f.name} has no help text"


def test_a_spec_without_the_hooks_of_its_shape_is_refused():
    from sftkit.methods.base import MethodSpec

    sft = get("sft")
    with pytest.raises(ValueError, match="loss-side method needs trainer"):
        MethodSpec("x", "loss", sft.paper, sft.config)
    with pytest.raises(ValueError, match="online-side method needs run, online, lora, reward, reward_function"):
        MethodSpec("x", "online", sft.paper, sft.config)
    with pytest.raises(ValueError, match="shape 'lossy'"):
        MethodSpec("x", "lossy", sft.paper, sft.config, trainer=sft.trainer)
    hooks = {"loss": "trainer", "data": "make_data", "online": "run"}
    assert all(getattr(m, hooks[m.shape]) is not None for m in all_methods())


def fake_rows(config, seeds=(0, 1, 2), device="cpu"):
    rows = []
    for seed in seeds:
        rows += results.rows_from_eval([{"split": "test", "skill": "add", "correct": True}], method="sft",
                                       variant="full", model="tiny", seed=seed, steps=config.steps,
                                       train_config=train_settings(config), device=device)
    return rows


def test_baseline_is_reused_only_on_an_exact_settings_match(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(experiment, "run_method", lambda *a, **k: trained.append(k["config"]) or
                        experiment.Run(rows=["fresh"]))
    results.save("01_sft", fake_rows(BASELINE), tmp_path)
    reused = baseline((0, 1, 2), config=BASELINE, device="cpu", results_dir=tmp_path)
    assert len(reused) == 6 and not trained  # (test + skill "all") x 3 seeds, nothing trained
    other = replace(BASELINE, bucket=1)  # e.g. a student's exercise with plain random batches
    assert baseline((0, 1, 2), config=other, device="cpu", results_dir=tmp_path) == ["fresh"]
    assert trained == [other]
    assert baseline((0, 1, 2, 3), config=BASELINE, device="cpu", results_dir=tmp_path) == ["fresh"]  # seed 3 missing


def test_accuracies_filter_by_fields_in_seed_order():
    rows = fake_rows(BASELINE, seeds=(2, 0, 1))
    assert results.accuracies(rows, "test", method="sft", variant="full") == [1.0, 1.0, 1.0]
    assert results.accuracies(rows, "test", method="dpo") == []
    assert results.accuracies(rows, "test", skill="add") == [1.0, 1.0, 1.0]


def test_run_or_reuse_trains_only_the_seeds_not_saved_and_labels_them(tmp_path, monkeypatch):
    calls = []

    def fake_run(method, seeds, model_name, **kw):
        calls.append((method, seeds, kw["train_records"]))
        return experiment.Run(rows=[{**r, "method": "sft", "variant": "full"} for r in fake_rows(kw["config"], seeds)])

    monkeypatch.setattr(experiment, "run_method", fake_run)
    saved = [{**r, "method": "skillmix", "variant": "k=2"} for r in fake_rows(BASELINE, (0, 1))]
    results.save("10_skillmix", saved, tmp_path)
    rows = experiment.run_or_reuse("10_skillmix", "skillmix", "k=2", ["data"], (0, 1, 2), BASELINE, device="cpu",
                                   results_dir=tmp_path)
    assert calls == [("sft", (2,), ["data"])]  # seeds 0 and 1 reused, seed 2 trained on the records given
    assert sorted({r["seed"] for r in rows}) == [0, 1, 2]
    assert {(r["method"], r["variant"], r["notebook"]) for r in rows} == {("skillmix", "k=2", "10_skillmix")}
    experiment.run_or_reuse("10_skillmix", "skillmix", "k=2", ["data"], (0,), BASELINE, rerun=True, device="cpu",
                            results_dir=tmp_path)
    assert calls[-1][1] == (0,)  # rerun trains even a saved seed


def test_a_run_saved_before_a_setting_existed_matches_that_settings_default(tmp_path, monkeypatch):
    """Rows saved before TrainConfig had `packing` are runs without packing: reused for packing=False only."""
    monkeypatch.setattr(experiment, "run_method", lambda *a, **k: experiment.Run(rows=["fresh"]))
    old = fake_rows(BASELINE)
    for row in old:
        row["train_config"] = {k: v for k, v in row["train_config"].items() if k != "packing"}
    results.save("01_sft", old, tmp_path)
    assert len(baseline((0, 1, 2), config=BASELINE, device="cpu", results_dir=tmp_path)) == 6
    assert baseline((0, 1, 2), config=replace(BASELINE, packing=True), device="cpu", results_dir=tmp_path) == ["fresh"]
    assert not experiment.same_settings({**train_settings(BASELINE), "unknown": 1}, train_settings(BASELINE))
    assert not experiment.same_settings(None, train_settings(BASELINE))


def test_fit_probe_measures_train_and_dev_by_hand_and_lands_in_the_history(random_models):
    """answer_nll is the token mean of the answer NLL (checked against HF's own loss on one batch); run_method's
    per-seed callbacks put the probe's values into run.training[seed].history."""
    import torch

    from sftkit.data import pad_collate, tokenize_dataset
    from sftkit.experiment import answer_nll, fit_probe, run_method
    from sftkit.model import load_model
    from sftkit.train import Probe

    model, tok = load_model(random_models["llama"])
    records = [{"messages": [{"role": "user", "content": f"Reverse the word {w}."}, {"role": "assistant", "content": w[::-1]}],
                "answer": w[::-1], "skill": "reverse", "split": "dev", "id": w} for w in ("ab", "cde", "fghi")]
    data = tokenize_dataset(tok, records)
    batch = pad_collate(data, tok.pad_token_id)
    with torch.no_grad():
        hf = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    assert answer_nll(model, data, tok.pad_token_id) == pytest.approx(float(hf), rel=1e-5)
    model.train()  # as inside training: the probe must leave it so
    values = fit_probe(tok, records[:2], records)(model)
    assert set(values) == {"train_nll", "dev_nll", "dev_em"} and 0 <= values["dev_em"] <= 1 and model.training

    run = run_method("sft", (0, 1), random_models["llama"], replace(BASELINE, steps=2, warmup_steps=0, batch_size=2),
                     train_records=records, eval_records=records,
                     callbacks=lambda seed: [Probe(fit_probe(tok, records, records), 1)] if seed == 1 else [])
    probed = {seed: [h["step"] for h in result.history if "dev_nll" in h] for seed, result in run.training.items()}
    assert probed == {0: [], 1: [0, 1, 2]}
