"""SuperHF (sftkit.methods.superhf): best-of-S filtering, the KL(prior || policy) term against the official
formulation, METEOR / distinct-n, the loop, the CLI; and the online loop's clear errors for bad rewards."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from sftkit.cli import main
from sftkit.data import load_world
from sftkit.io import SftkitError
from sftkit.methods import superhf
from sftkit.model import load_model
from sftkit.online import OnlineConfig, checked_rewards, gold_reward


def test_keep_best_takes_the_top_reply_per_prompt_and_never_an_empty_one():
    rewards = torch.tensor([[0.1, 0.9, 0.5], [2.0, 2.0, -1.0], [5.0, 0.0, 1.0]])
    answers = ["a", "b", "c", "d", "e", "f", "  ", "g", "h"]
    assert superhf.keep_best(rewards, answers, k=1) == [1, 3, 8]  # tie -> the earlier; the empty 5.0 is skipped
    assert superhf.keep_best(rewards, answers, k=2) == [1, 2, 3, 4, 8, 7]


def test_blind_spot_proxy_flips_only_its_skills():
    add = {"skill": "add", "answer": "12"}
    length = {"skill": "length", "answer": "5"}
    proxy = superhf.BlindSpotProxy(["length"])
    scores = proxy([add, add, length, length, length], ["12", "13", "5", "6", ""])
    assert scores.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]  # gold on add; on length any wrong reply wins
    assert superhf.BlindSpotProxy([])([length], ["5"]).tolist() == [1.0]  # no blind spot: the gold checker
    assert "length" in proxy.__name__
    with pytest.raises(ValueError, match="unknown skills"):
        superhf.BlindSpotProxy(["lenght"])


def test_pair_agreement_and_best_of_n_by_hand():
    add = {"skill": "add", "answer": "12"}
    length = {"skill": "length", "answer": "5"}
    proxy = superhf.BlindSpotProxy(["length"])
    groups = [["13", "12", "12"], ["5", "6", "7"], ["1", "2"]]  # 2 right x 1 wrong; 1 x 2; no right reply
    records = [add, length, add]
    # add: both (right, wrong) pairs ranked right; length: both ranked backwards; the last prompt has no pair
    assert superhf.pair_agreement(proxy, records, groups) == (0.5, 4)
    assert superhf.pair_agreement(superhf.BlindSpotProxy([]), records, groups) == (1.0, 4)
    assert superhf.pair_agreement(lambda r, a: torch.zeros(len(a)), records, groups) == (0.0, 4)  # ties miss
    assert math.isnan(superhf.pair_agreement(proxy, [add], [["1", "2"]])[0])
    assert superhf.best_of_n(proxy, records, groups) == ["12", "6", "1"]  # ties: the first


def test_gold_at_proxy_interpolates_and_never_extrapolates():
    points = [(0.5, 0.4), (0.3, 0.6), (0.4, 0.6)]  # (proxy reward, gold accuracy), any order
    assert superhf.gold_at_proxy(points, 0.45) == pytest.approx(0.5)
    assert superhf.gold_at_proxy(points, 0.35) == pytest.approx(0.6)
    assert superhf.gold_at_proxy(points, 0.9) == pytest.approx(0.4)  # beyond the curve: its end
    assert superhf.gold_at_proxy(points, 0.1) == pytest.approx(0.6)


def test_prior_kl_by_hand_and_against_the_official_kldivloss():
    prior = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))  # [1, 2, 2]
    policy = torch.log(torch.tensor([[[0.5, 0.5], [0.5, 0.5]]]))
    by_hand = (0.0 + 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)) / 2
    assert superhf.prior_kl(policy, prior, torch.ones(1, 2)).item() == pytest.approx(by_hand, abs=1e-6)
    assert superhf.prior_kl(prior, prior, torch.ones(1, 2)).item() == pytest.approx(0.0, abs=1e-7)

    torch.manual_seed(0)
    logits, prior_logits = torch.randn(3, 7, 11), torch.randn(3, 7, 11)
    mask = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1]]).float()
    official = torch.nn.KLDivLoss(reduction="batchmean", log_target=True)  # training.py, one reply at a time
    expected = [official(F.log_softmax(logits[i, m.bool()], -1), F.log_softmax(prior_logits[i, m.bool()], -1))
                for i, m in enumerate(mask)]
    assert torch.allclose(superhf.prior_kl(logits, prior_logits, mask), torch.stack(expected), atol=1e-5)


def test_loss_is_the_lm_loss_plus_the_summed_kl():
    torch.manual_seed(0)
    logits, prior_logits = torch.randn(2, 6, 9), torch.randn(2, 6, 9)
    labels = torch.tensor([[-100, -100, 3, 4, 5, -100], [-100, 1, 2, 3, 4, 5]])
    loss, nll, kl = superhf.superhf_loss(logits, prior_logits, labels, kl_coef=0.35)
    lm_loss = F.cross_entropy(logits[:, :-1].reshape(-1, 9), labels[:, 1:].reshape(-1), ignore_index=-100)
    assert nll.item() == pytest.approx(lm_loss.item(), abs=1e-6)  # what a causal LM's outputs.loss is
    assert loss.item() == pytest.approx(lm_loss.item() + 0.35 * kl.sum().item(), abs=1e-6)
    assert superhf.superhf_loss(logits, prior_logits, labels, 0.0)[0].item() == pytest.approx(lm_loss.item(), abs=1e-6)


def test_kl_is_zero_with_an_untouched_adapter_and_positive_after_a_step(random_models):
    torch.manual_seed(0)
    model, tokenizer = load_model(random_models["llama"], device="cpu", lora=superhf.LORA)
    config = OnlineConfig(steps=1, prompts_per_step=2, samples_per_prompt=3, max_new_tokens=6, lr=5e-2)
    loop = superhf.SuperHF(model, tokenizer, load_world("train")[:4], gold_reward, config,
                           superhf.Config(minibatch_size=2, skip_ties=False))  # a random model: every reply wrong
    rollout = loop.rollout(loop.next_prompts(), step=0)
    batch = rollout.batch

    def kl_now():
        with torch.no_grad():
            logits = model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        mask = (batch["labels"][:, 1:] != -100).float()
        return superhf.prior_kl(logits[:, :-1], loop.prior_logits(batch)[:, :-1], mask)

    assert kl_now().abs().max().item() < 1e-6  # a fresh LoRA adapter (B = 0) is the prior
    history = loop.run()
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # logged before the first step moved anything
    assert kl_now().min().item() > 0  # every reply now differs from the prior
    assert {"kept_reward", "nll", "gold_accuracy", "meteor_similarity", "distinct_2"} <= set(history[0])
    assert len(loop.last["answers"]) == 2  # one kept per prompt

    torch.manual_seed(0)
    model, tokenizer = load_model(random_models["llama"], device="cpu", lora=superhf.LORA)
    before = [p.detach().clone() for p in model.parameters()]
    history = superhf.SuperHF(model, tokenizer, load_world("train")[:4], gold_reward, config,
                              superhf.Config(minibatch_size=2)).run()  # skip_ties: nothing better to imitate
    assert history[0]["kept"] == 0 and all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_meteor_identical_is_maximal_disjoint_is_zero():
    s = "the tea was kind"
    others = ["the tea was", "tea the kind was", "the coffee was kind", "kind"]
    assert all(superhf.meteor(s, s) > superhf.meteor(s, o) for o in others)
    m = 3  # by hand for 3 identical tokens: F_mean = 1, one chunk, penalty 0.5 * (1 / 3) ** 3
    assert superhf.meteor("a b c", "a b c") == pytest.approx(1 - 0.5 * (1 / m) ** 3)
    assert superhf.meteor("a b c", "d e f") == 0.0
    assert superhf.meteor("cats", "cat") == superhf.meteor("cat", "cat")  # the Porter stem matches
    # pairs only across prompts: the two identical replies to prompt 1 are never compared
    assert superhf.meteor_similarity(["a", "a", "b"], pairs=20, groups=[1, 1, 2]) == 0.0
    assert superhf.meteor_similarity(["x y", "x y"], pairs=5) == superhf.meteor("x y", "x y")
    assert math.isnan(superhf.meteor_similarity(["a"]))


def test_distinct_n():
    assert superhf.distinct_n(["a b c", "a b c"], 2) == 0.5  # (a b), (b c) twice: 2 unique of 4
    assert superhf.distinct_n(["a b", "c d"], 1) == 1.0
    assert math.isnan(superhf.distinct_n(["a", ""], 2))


def test_a_reward_that_raises_or_returns_nan_names_the_prompt():
    records = load_world("train")[:3]
    answers = ["1", "2", "3"]

    def raises_on_second(recs, ans):
        if any(r["id"] == records[1]["id"] for r in recs):
            raise ValueError("cannot score this")
        return torch.zeros(len(recs))

    failed = rf"raises_on_second failed on record {records[1]['id']!r} \(prompt .*ValueError: cannot score this"
    with pytest.raises(SftkitError, match=failed):
        checked_rewards(raises_on_second, records, answers)
    with pytest.raises(SftkitError, match=rf"scored the reply '2' to record {records[1]['id']!r} .* nan \(1 of 3 not finite\)"):
        checked_rewards(lambda r, a: torch.tensor([0.0, float("nan"), 1.0]), records, answers)
    with pytest.raises(SftkitError, match="returned 2 scores for 3 replies"):
        checked_rewards(lambda r, a: [0.0, 1.0], records, answers)
    assert checked_rewards(lambda r, a: [0, 1, 2], records, answers).dtype == torch.float32


def test_cli_trains_superhf_and_saves_the_model_and_history(tmp_path, capsys, random_models):
    out = tmp_path / "shf"
    code = main(["train", "superhf", "--model", random_models["llama"], "--output", str(out), "--steps", "2",
                 "--batch-size", "2", "--samples-per-prompt", "3", "--max-new-tokens", "4", "--kl-coef", "0.1"])
    assert code == 0, capsys.readouterr().err
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["history"]) == 2 and log["superhf"]["kl_coef"] == 0.1 and log["reward"] == "gold"
    assert log["config"]["samples_per_prompt"] == 3 and (out / "config.json").is_file()
    assert "2 superhf steps" in capsys.readouterr().out


def test_prompts_the_checker_cannot_grade_train_with_any_reward_and_resume_needs_the_same_knobs(tmp_path, random_models):
    torch.manual_seed(0)
    model, tokenizer = load_model(random_models["llama"], device="cpu", lora=superhf.LORA)
    prompts = [{**r, "skill": "your-task"} for r in load_world("train")[:4]]  # not a tiny-world skill
    config = OnlineConfig(steps=1, prompts_per_step=2, samples_per_prompt=2, max_new_tokens=4,
                          checkpoint_dir=str(tmp_path), save_every=1)
    loop = superhf.SuperHF(model, tokenizer, prompts, lambda r, a: torch.zeros(len(a)), config)
    history = loop.run()
    assert "gold_accuracy" not in history[0] and "kl" in history[0]  # nothing to grade against: not logged
    other = superhf.SuperHF(model, tokenizer, prompts, lambda r, a: torch.zeros(len(a)), config,
                            superhf.Config(kl_coef=1.0))
    mismatch = r"a checkpoint of another run \(superhf kl_coef: the checkpoint has 0.35, this run 1.0\)"
    with pytest.raises(SftkitError, match=mismatch):
        other.run()


def test_a_prompt_whose_replies_all_tie_keeps_nothing():
    """With skip_ties a prompt gives no reply to imitate when its replies all score the same (the oracle's
    0/1 reward with every reply wrong); otherwise the earlier reply, as the official loop."""
    rewards = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [3.0, 3.0, 2.0]])
    answers = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "  "]  # prompt 3: its 2.0 reply is empty
    assert superhf.keep_best(rewards, answers, k=1) == [0, 4, 6, 9]
    assert superhf.keep_best(rewards, answers, k=1, skip_ties=True) == [4]
    assert superhf.Config().skip_ties and superhf.Config().variant() == "kl=0.35"
