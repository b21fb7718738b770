"""The online-loop base (generate -> score -> update) that SuperHF and PPO build on."""
import pytest
import torch

from sftkit.data import load_world
from sftkit.io import SftkitError
from sftkit.model import load_model
from sftkit.online import OnlineConfig, OnlineLoop, gold_reward, token_logprobs


class BestOfN(OnlineLoop):
    """The simplest online method: NLL on the best of S samples per prompt (SuperHF without its KL term)."""

    def update(self, rollout):
        s = rollout.samples_per_prompt
        best = rollout.grouped(rollout.rewards).argmax(1) + torch.arange(0, len(rollout.answers), s)
        batch = {k: v[best] for k, v in rollout.batch.items()}
        logp, mask = token_logprobs(self.model, batch)
        loss = -(logp * mask).sum() / mask.sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "kl_to_prior": ((logp - self.prior_logprobs(batch)) * mask).sum().item()}


def test_gold_reward_is_the_checker():
    records = load_world("test")[:3]
    answers = [records[0]["answer"], "nonsense", " " + records[2]["answer"] + " "]
    assert gold_reward(records, answers).tolist() == [1.0, 0.0, 1.0]


def test_loop_samples_scores_and_updates_with_a_lora_prior(random_models):
    torch.manual_seed(0)
    model, tokenizer = load_model(random_models["llama"], device="cpu", lora={"r": 4})
    prompts = load_world("train")[:6]
    config = OnlineConfig(steps=2, prompts_per_step=4, samples_per_prompt=3, max_new_tokens=6, lr=1e-2)
    loop = BestOfN(model, tokenizer, prompts, gold_reward, config)
    assert loop.ref_model is None  # LoRA: the prior is the same model with its adapter disabled
    ro = loop.rollout(loop.next_prompts(), step=0)
    assert len(ro.answers) == 12 and ro.rewards.shape == (12,) and ro.batch["input_ids"].shape[0] == 12
    assert ro.grouped(ro.rewards).shape == (4, 3)
    assert [r["id"] for r in ro.records[:3]] == [ro.records[0]["id"]] * 3  # each prompt's samples are grouped

    base, _ = load_model(random_models["llama"], device="cpu")
    with torch.no_grad():
        base_logp = token_logprobs(base.eval(), ro.batch)[0]
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    history = loop.run()
    assert [h["step"] for h in history] == [1, 2] and {"reward", "loss", "kl_to_prior"} <= set(history[0])
    after = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # the adapter trained
    assert torch.allclose(loop.prior_logprobs(ro.batch), base_logp, atol=1e-5)  # the prior did not move
    assert model.training  # eval_mode restored the mode


def test_prompts_cycle_through_a_seeded_permutation(random_models):
    model, tokenizer = load_model(random_models["llama"], device="cpu")
    prompts = load_world("train")[:5]
    loop = BestOfN(model, tokenizer, prompts, gold_reward, OnlineConfig(prompts_per_step=5))
    first, second = loop.next_prompts(), loop.next_prompts()
    assert sorted(r["id"] for r in first) == sorted(r["id"] for r in prompts) == sorted(r["id"] for r in second)
    assert loop.ref_model is not None and not any(p.requires_grad for p in loop.ref_model.parameters())


def test_eval_mode_restores_training_mode_even_when_the_body_raises(random_models):
    import pytest

    from sftkit.logprobs import eval_mode

    model, _ = load_model(random_models["llama"], device="cpu")
    model.train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert model.training


def best_of_n(random_models, name="llama", lora=None, steps=4, seed=0, **config):
    torch.manual_seed(seed)  # a fresh loop that loads a checkpoint starts from other weights than the saved one
    model, tokenizer = load_model(random_models[name], device="cpu", lora=lora)
    config = OnlineConfig(**{"steps": steps, "prompts_per_step": 4, "samples_per_prompt": 3, "max_new_tokens": 6,
                             "lr": 1e-2, **config})
    return BestOfN(model, tokenizer, load_world("train")[:6], gold_reward, config)


def trainable(loop):
    return {n: p.detach().clone() for n, p in loop.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name,lora", [("llama", {"r": 4, "lora_dropout": 0.1}), ("gpt2", None)])
def test_two_steps_saved_and_resumed_by_a_fresh_loop_repeat_four_steps(tmp_path, random_models, name, lora):
    """6 prompts, 4 a step: the second step starts a new permutation, so the prompt order state matters too."""
    whole = best_of_n(random_models, name, lora)
    whole.run(4)
    first = best_of_n(random_models, name, lora)
    first.run(2)
    first.save_checkpoint(tmp_path / "ckpt")
    resumed = best_of_n(random_models, name, lora, seed=1)
    assert any(not torch.equal(a, b) for a, b in zip(trainable(first).values(), trainable(resumed).values()))
    resumed.load_checkpoint(tmp_path / "ckpt")
    resumed.run(2)
    for key in ("step", "reward", "loss", "kl_to_prior"):
        assert [h[key] for h in resumed.history] == pytest.approx([h[key] for h in whole.history], abs=1e-6)
    want, got = trainable(whole), trainable(resumed)
    assert want.keys() == got.keys() and (lora is None or all("lora" in n for n in got))
    assert all(torch.allclose(want[n], got[n], atol=1e-6) for n in want)


def test_run_saves_every_n_steps_keeps_the_newest_and_a_fresh_loop_resumes(tmp_path, random_models, capsys):
    whole = best_of_n(random_models, lora={"r": 4})
    whole.run()
    ckpt = tmp_path / "out.checkpoints"
    first = best_of_n(random_models, lora={"r": 4}, checkpoint_dir=str(ckpt), save_every=1)
    first.run(2)  # interrupted after two steps
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-000002"]  # the older one went, no temp dirs left
    resumed = best_of_n(random_models, lora={"r": 4}, seed=1, checkpoint_dir=str(ckpt), save_every=1)
    resumed.run()
    assert "resuming from" in capsys.readouterr().out and len(resumed.history) == 4
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in whole.history], abs=1e-6)
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-000004"]


def test_a_checkpoint_of_another_run_is_one_clear_line(tmp_path, random_models):
    loop = best_of_n(random_models, lora={"r": 4})
    loop.save_checkpoint(tmp_path / "ckpt")
    for other, field in [(best_of_n(random_models, lora={"r": 4}, prompts_per_step=2), "prompts_per_step"),
                         (best_of_n(random_models, lora={"r": 8}), "trainable parameters"),
                         (best_of_n(random_models, "gpt2", lora={"r": 4}), "model")]:
        with pytest.raises(SftkitError) as e:
            other.load_checkpoint(tmp_path / "ckpt")
        msg = str(e.value)
        assert len(msg.splitlines()) == 1 and msg.startswith(str(tmp_path / "ckpt")) and field in msg, msg
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "loop.pt").write_bytes(b"half a checkpoint")
    with pytest.raises(SftkitError, match="broken: not a readable checkpoint"):
        loop.load_checkpoint(tmp_path / "broken")


def test_the_reward_registry_is_shared_by_every_online_method():
    """`sftkit.online.REWARDS` holds the rewards by name; PPO and SuperHF both read it (PPO adds LEDEX's)."""
    from sftkit.methods import ppo, superhf
    from sftkit.online import REWARDS, judgement_reward
    from sftkit.world.judgements import task_records

    assert set(REWARDS) == {"gold", "judgement"}
    for method in (ppo, superhf):
        assert method.reward_function("judgement") is judgement_reward
        assert method.reward_function("gold") is REWARDS["gold"]
    record = task_records("test")[0]
    assert judgement_reward([record] * 2, [record["answer"], ""]).tolist() == [1.0, -3.0]
    assert callable(ppo.reward_function("selfdebug"))
