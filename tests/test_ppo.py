"""PPO with LoRA (sftkit.methods.ppo) and the paper's reward on the judgement tasks it learns (the tasks themselves,
sftkit.world.judgements, are tested in test_world.py)."""
import json

import pytest
import torch

from sftkit import results
from sftkit.cli import main
from sftkit.io import SftkitError
from sftkit.methods import get, ppo
from sftkit.model import load_model
from sftkit.online import OnlineConfig
from sftkit.world.judgements import REWARD, judgement_reward, task_records

# ----------------------------------------------------------------------------------------------------
# The pieces on hand-computed values


def test_gae_on_a_hand_computed_three_step_episode():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    mask = torch.ones(1, 3)
    advantages, returns = ppo.gae(rewards, values, mask, gamma=1.0, lam=0.95)
    # delta_2 = 1 - 0.7 = 0.3; delta_1 = 0.7 - 0.6 = 0.1; delta_0 = 0.6 - 0.5 = 0.1
    # A_2 = 0.3; A_1 = 0.1 + 0.95 * 0.3 = 0.385; A_0 = 0.1 + 0.95 * 0.385 = 0.46575
    assert advantages.tolist()[0] == pytest.approx([0.46575, 0.385, 0.3])
    assert returns.tolist()[0] == pytest.approx([0.96575, 0.985, 1.0])


def test_gae_ends_the_episode_at_the_last_reply_token():
    """Prompt and padding positions neither receive advantages nor pass value back into the reply."""
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[9.0, 0.5, 0.7, 9.0]])  # 9.0: garbage outside the reply
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    advantages, returns = ppo.gae(rewards, values, mask, gamma=0.9, lam=0.5)
    # A_2 = 1 - 0.7 = 0.3 (V after the end is 0); A_1 = 0 + 0.9 * 0.7 - 0.5 + 0.9 * 0.5 * 0.3 = 0.265
    assert advantages.tolist()[0] == pytest.approx([0.0, 0.265, 0.3, 0.0])
    assert returns.tolist()[0] == pytest.approx([0.0, 0.765, 1.0, 0.0])


def test_clipped_policy_loss_on_hand_values():
    old = torch.zeros(1, 4)
    ratio = torch.tensor([[1.5, 0.5, 1.1, 0.7]])
    advantages = torch.tensor([[1.0, 1.0, -2.0, -1.0]])
    loss, clip_frac = ppo.policy_loss(ratio.log(), old, advantages, torch.ones(1, 4), clip=0.2)
    # per token max(-A r, -A clip(r)): A>0, r=1.5 -> max(-1.5, -1.2) = -1.2 (clipped); A>0, r=0.5 -> max(-0.5, -0.8) = -0.5;
    # A<0, r=1.1 -> max(2.2, 2.2) = 2.2; A<0, r=0.7 -> max(0.7, 0.8) = 0.8 (clipped)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 2.2 + 0.8) / 4)
    assert clip_frac.item() == pytest.approx(2 / 4)


def test_clipped_value_loss_on_hand_values():
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.5, 0.0]])
    returns = torch.tensor([[0.0, 1.0]])
    loss, clip_frac = ppo.value_loss(values, old, returns, torch.ones(1, 2), clip=0.2)
    # token 0: (1 - 0)^2 = 1 vs clip(1, 0.3, 0.7) = 0.7 -> 0.49: max 1.0 (not clipped); token 1: (0 - 1)^2 = 1 both
    assert loss.item() == pytest.approx(0.5 * (1.0 + 1.0) / 2)
    assert clip_frac.item() == 0.0
    loss, clip_frac = ppo.value_loss(torch.tensor([[1.0]]), torch.tensor([[0.5]]), torch.tensor([[2.0]]), torch.ones(1, 1))
    assert loss.item() == pytest.approx(0.5 * (0.7 - 2.0) ** 2) and clip_frac.item() == 1.0  # clipping made it worse


def test_kl_rewards_put_the_score_on_the_last_reply_token():
    logp = torch.tensor([[-1.0, -1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.0, -1.5, -1.0, -0.5]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    rewards, kl = ppo.kl_rewards(logp, ref, mask, torch.tensor([1.0]), beta=0.2)
    assert kl.tolist()[0] == pytest.approx([0.0, 0.5, -1.0, 0.0])
    assert rewards.tolist()[0] == pytest.approx([0.0, -0.1, 0.2 + 1.0, 0.0])


def test_whiten_uses_reply_tokens_only():
    x = torch.tensor([[100.0, 1.0, 2.0, 3.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    out = ppo.whiten(x, mask)
    assert out[0, 0] == 0 and out[0, 1:].tolist() == pytest.approx([-1.0, 0.0, 1.0], abs=1e-6)


def test_adaptive_kl_moves_towards_its_target():
    up, down, fixed = ppo.AdaptiveKL(0.2, target=6.0), ppo.AdaptiveKL(0.2, target=6.0), ppo.AdaptiveKL(0.2, target=None)
    assert up.update(kl=12.0, n=16) == pytest.approx(0.2 * (1 + 0.2 * 16 / 10000))  # error clipped to +0.2
    assert down.update(kl=5.4, n=16) == pytest.approx(0.2 * (1 - 0.1 * 16 / 10000))
    assert fixed.update(kl=100.0, n=16) == 0.2


# ----------------------------------------------------------------------------------------------------
# TRL 1.16 no longer ships PPO (its last PPOTrainer with this algorithm, the one RL4GLUE ran, is TRL 0.11's).
# The reference below is that trainer's compute_advantages / loss, transcribed loop for loop.


def trl_0_11_reference(values, rewards, mask, logprobs, old_logprobs, vpreds, gamma, lam, cliprange, cliprange_value):
    lastgaelam, advantages_reversed = 0, []
    gen_len = rewards.shape[-1]
    values, rewards = values * mask, rewards * mask
    for t in reversed(range(gen_len)):
        nextvalues = values[:, t + 1] if t < gen_len - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1]).transpose(0, 1)
    returns = advantages + values

    def masked_mean(x, m):
        return (x * m).sum() / m.sum()

    mean = masked_mean(advantages, mask)
    var = masked_mean((advantages - mean) ** 2, mask) * mask.sum() / (mask.sum() - 1)
    advantages = (advantages - mean) * torch.rsqrt(var + 1e-8)
    vpredclipped = torch.max(torch.min(vpreds, values + cliprange_value), values - cliprange_value)
    vf_loss = 0.5 * masked_mean(torch.max((vpreds - returns) ** 2, (vpredclipped - returns) ** 2), mask)
    ratio = torch.exp(logprobs - old_logprobs)
    pg_loss = masked_mean(torch.max(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)), mask)
    return pg_loss, vf_loss


@pytest.mark.parametrize("masked", [False, True], ids=["all tokens", "prompt and padding masked"])
def test_matches_trl_0_11_ppo_on_random_tensors(masked):
    g = torch.Generator().manual_seed(0)
    n, t = 4, 7
    mask = torch.ones(n, t)
    if masked:  # replies start after a prompt and end before padding, at different places per row
        for i, (start, end) in enumerate([(2, 7), (1, 4), (3, 6), (0, 5)]):
            mask[i, :start] = 0
            mask[i, end:] = 0
    values, rewards = torch.randn(n, t, generator=g), torch.randn(n, t, generator=g)
    old, logp, vpreds = (torch.randn(n, t, generator=g) for _ in range(3))
    logp = old + 0.3 * logp
    advantages, returns = ppo.gae(rewards, values, mask, gamma=1.0, lam=0.95)
    pg, _ = ppo.policy_loss(logp, old, ppo.whiten(advantages, mask), mask, clip=0.2)
    vf, _ = ppo.value_loss(vpreds, values, returns, mask, clip=0.2)
    ref_pg, ref_vf = trl_0_11_reference(values, rewards, mask, logp, old, vpreds, 1.0, 0.95, 0.2, 0.2)
    assert pg.item() == pytest.approx(ref_pg.item(), rel=1e-5) and vf.item() == pytest.approx(ref_vf.item(), rel=1e-5)


# ----------------------------------------------------------------------------------------------------
# The tasks and the paper's reward


def test_reward_is_the_papers():
    record = task_records("test")[0]
    wrong = "no" if record["answer"] == "yes" else "yes"
    assert judgement_reward(record, record["answer"]) == REWARD["correct"] == 1.0
    assert judgement_reward(record, wrong) == REWARD["wrong"] == -1.0
    assert judgement_reward(record, "maybe") == REWARD["unparsable"] == -3.0
    assert ppo.judgement_reward_fn([record] * 3, [record["answer"], wrong, ""]).tolist() == [1.0, -1.0, -3.0]


def judged_rows(labels, answers, split="test", task="compare"):
    """`ppo.judge`-shaped rows with given read labels (None: unreadable) and gold answers."""
    return [{"id": f"{task}-{split}-{i:04d}", "task": task, "skill": task, "split": split, "answer": gold, "label": label,
             "parsed": label is not None, "correct": label == gold} for i, (label, gold) in enumerate(zip(labels, answers))]


def test_reading_counts_the_first_label_share():
    records = [{"answer": "yes", "labels": ["yes", "no"]}, {"answer": "no", "labels": ["yes", "no"]}] * 2
    out = ppo.reading(records, ["yes", "yes", "no", "maybe"])
    assert out == {"parse_rate": 0.75, "accuracy": 0.25, "first_label": 0.5}  # right: only the first


def test_constant_label_flags_a_model_that_gives_one_answer():
    gold = ["yes", "no"] * 10
    top, share, collapsed = ppo.constant_label(judged_rows(["no"] * 19 + ["yes"], gold), "test")
    assert (top, share, collapsed) == ("no", 0.95, True)  # 19 of 20 say "no": scores 10 / 20
    top, share, collapsed = ppo.constant_label(judged_rows(["no"] * 18 + ["yes"] * 2, gold), "test")
    assert (top, share, collapsed) == ("no", 0.9, False)  # 90% is not more than the threshold
    assert ppo.constant_label(judged_rows([None] * 20, gold), "test")[:2] == (None, 1.0)  # unreadable counts as None
    shifted = judged_rows(["yes"] * 4, ["yes", "no"] * 2, split="larger")
    assert ppo.constant_label(shifted, "shift") == ("yes", 1.0, True)  # a task's shift pools as "shift"


def test_item_scores_are_seeds_by_items_for_stats_compare():
    gold = ["yes", "no", "yes"]
    by_seed = {1: judged_rows(["yes", "yes", "yes"], gold), 0: judged_rows(["yes", "no", None], gold)}
    table = ppo.item_scores(by_seed, ("compare", "test"))
    assert table.tolist() == [[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]  # seed 0 first
    assert ppo.item_scores(by_seed, ("all", "test")).tolist() == table.tolist()
    by_seed[1] = by_seed[1][::-1]
    with pytest.raises(ValueError, match="different items"):
        ppo.item_scores(by_seed, ("compare", "test"))


def test_result_rows_carry_per_item_outcomes_on_the_accuracy_rows():
    rows = ppo.result_rows(judged_rows(["yes", "no", None, "no"], ["yes", "yes", "no", "no"]), notebook="07_ppo",
                           method="ppo", variant="v", seed=0)
    acc = [r for r in rows if r["metric"] == "judgement_accuracy"]
    assert {(r["skill"], r["split"]) for r in acc} == {("compare", "test"), ("all", "test")}
    assert all(r["items"] == "1001" and r["value"] == 0.5 and r["n"] == 4 for r in acc)
    assert all(r.get("items") is None for r in rows if r["metric"] == "parse_rate")
    assert results.item_table(acc, "test").tolist() == [[1.0, 0.0, 0.0, 1.0]]


# ----------------------------------------------------------------------------------------------------
# The loop on a small random model


def make_loop(random_models, steps=2, **knobs):
    torch.manual_seed(0)
    model, tokenizer = load_model(random_models["llama"], device="cpu", lora=ppo.LORA)
    online = OnlineConfig(steps=steps, prompts_per_step=4, samples_per_prompt=1, temperature=1.0, top_p=1.0,
                          max_new_tokens=4, lr=1e-2)
    return ppo.PPO(model, tokenizer, task_records("train")[:8], config=online, ppo=ppo.Config(**{"minibatch_size": 2, **knobs}))


def test_kl_penalty_is_zero_at_the_first_step_and_the_adapter_trains(random_models):
    loop = make_loop(random_models, steps=2)
    def params(keep):
        return [p for n, p in loop.model.named_parameters() if keep(n)]

    base = [p.detach().clone() for p in params(lambda n: "lora" not in n)]
    adapter = [p.detach().clone() for p in params(lambda n: "lora_B" in n)]
    head = loop.value_head.linear.weight.detach().clone()
    history = loop.run(1)
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # policy == prior before any update (LoRA B = 0)
    assert {"kl_coef", "policy_loss", "value_loss", "clip_frac", "parse_rate", "accuracy", "approx_kl"} <= set(history[0])
    history = loop.run(1)
    assert history[1]["kl"] != 0.0
    assert all(torch.equal(a, p) for a, p in zip(base, params(lambda n: "lora" not in n)))  # the base is frozen
    assert any(not torch.equal(a, p) for a, p in zip(adapter, params(lambda n: "lora_B" in n)))  # the adapter trains
    assert not torch.equal(head, loop.value_head.linear.weight)  # the value head trains too
    assert loop.last["advantages"].shape == loop.last["mask"].shape
    assert ppo.reading(loop.prompts[:2], ["yes", "maybe"])["parse_rate"] == 0.5  # read by the parser, not the reward
    assert ppo.reading([{"answer": "x"}], ["x"]) == {}  # not a judgement task: nothing to read
    assert (loop.last["advantages"] * (1 - loop.last["mask"])).abs().sum() == 0  # nothing outside the reply


def test_a_fresh_ppo_loop_resumes_its_value_head_kl_coefficient_and_minibatch_order(tmp_path, random_models):
    whole = make_loop(random_models, steps=4)
    whole.run()
    first = make_loop(random_models, steps=4)
    first.run(2)
    first.save_checkpoint(tmp_path / "ckpt")
    resumed = make_loop(random_models, steps=4)
    assert not torch.equal(resumed.value_head.linear.weight, first.value_head.linear.weight)
    resumed.load_checkpoint(tmp_path / "ckpt")
    assert resumed.kl_ctl.value == first.kl_ctl.value != ppo.Config().init_kl_coef
    assert torch.equal(resumed.generator.get_state(), first.generator.get_state())
    resumed.run(2)
    for key in ("reward", "kl", "kl_coef", "policy_loss", "value_loss", "approx_kl"):
        assert [h[key] for h in resumed.history] == pytest.approx([h[key] for h in whole.history], abs=1e-6), key
    assert torch.allclose(resumed.value_head.linear.weight, whole.value_head.linear.weight, atol=1e-6)
    adapter = {n: p for n, p in whole.model.named_parameters() if p.requires_grad}
    assert all(torch.allclose(p, adapter[n], atol=1e-6) for n, p in resumed.model.named_parameters() if p.requires_grad)
    with pytest.raises(SftkitError, match=r"ckpt: a checkpoint of another run \(ppo init_kl_coef: the checkpoint has 0.2"):
        make_loop(random_models, init_kl_coef=0.5).load_checkpoint(tmp_path / "ckpt")


def test_a_diverged_run_fails_loudly():
    with pytest.raises(FloatingPointError, match="step 3: value_loss is nan"):
        ppo.checked_finite([{"step": 3, "policy_loss": 0.1, "value_loss": float("nan")}])


def test_registered_online_with_its_paper():
    spec = get("ppo")
    assert spec.shape == "online" and spec.paper.arxiv == "2410.11020" and spec.paper.notebook in ppo.__doc__
    assert ppo.LORA == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05}
    assert spec.config().init_kl_coef == 0.2


def test_cli_trains_ppo_and_saves_model_value_head_and_history(tmp_path, random_models):
    out = tmp_path / "ppo"
    assert main(["train", "ppo", "--model", random_models["llama"], "--output", str(out), "--steps", "2",
                 "--batch-size", "4", "--max-new-tokens", "4", "--no-whiten-advantages", "--init-kl-coef", "0.1"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["history"]) == 2 and log["ppo"]["whiten_advantages"] is False and log["variant"] == "kl=0.1,target=6.0"
    assert (out / "value_head.pt").is_file() and (out / "config.json").is_file()


def test_cli_unknown_reward_is_one_line(tmp_path, capsys, random_models):
    code = main(["train", "ppo", "--model", random_models["llama"], "--output", str(tmp_path / "x"), "--reward", "nope"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "unknown reward 'nope'" in err
    with pytest.raises(SftkitError, match="no_such_module"):
        ppo.reward_function("no_such_module:f")


def test_cli_ppo_killed_after_a_checkpoint_resumes_where_it_stopped(tmp_path, random_models, monkeypatch, capsys):
    args = ["train", "ppo", "--model", random_models["llama"], "--steps", "4", "--save-steps", "2", "--batch-size", "4",
            "--max-new-tokens", "4"]
    torch.manual_seed(0)  # the fresh adapter's initialisation (a resumed run loads the checkpoint's instead)
    assert main(args + ["--output", str(tmp_path / "whole")]) == 0
    update = ppo.PPO.update

    def killed_in_step_3(self, rollout):
        if len(self.history) == 2:
            raise RuntimeError("killed")
        return update(self, rollout)

    out, checkpoints = tmp_path / "ppo", tmp_path / "ppo.checkpoints"
    monkeypatch.setattr(ppo.PPO, "update", killed_in_step_3)
    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="killed"):
        main(args + ["--output", str(out)])
    assert not out.exists() and [p.name for p in checkpoints.iterdir()] == ["step-000002"]
    monkeypatch.undo()
    capsys.readouterr()
    torch.manual_seed(1)
    assert main(args + ["--output", str(out)]) == 0
    assert f"resuming from {checkpoints / 'step-000002'}: step 2 of 4" in capsys.readouterr().out
    assert not checkpoints.exists()
    history = json.loads((out / "train_log.json").read_text())["history"]
    whole = json.loads((tmp_path / "whole" / "train_log.json").read_text())["history"]
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    for key in ("reward", "policy_loss", "value_loss", "kl_coef"):
        assert [h[key] for h in history] == pytest.approx([h[key] for h in whole], abs=1e-6), key


def test_the_ratio_is_one_before_any_update(random_models):
    """Old log-probs and the update's forward passes run in the same mode (dropout off, as TRL's PPOTrainer
    disables it): on the first minibatch of the first epoch nothing has changed, so the ratio is exactly 1."""
    loop = make_loop(random_models, steps=2, ppo_epochs=1, minibatch_size=4)  # one minibatch = the whole rollout
    first, second = loop.run(2)  # the second: LoRA's B is no longer 0, so its dropout (0.05) would show
    assert first["approx_kl"] == second["approx_kl"] == 0.0 and first["clip_frac"] == second["clip_frac"] == 0.0
