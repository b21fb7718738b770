"""The online-loop base (generate -> score -> update) that SuperHF and PPO build on."""
import torch

from sftkit.data import load_world
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
