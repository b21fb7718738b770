"""PPO with LoRA for language understanding (Hu et al., "Improving the Language Understanding Capabilities of
Large Language Models Using Reinforcement Learning", arXiv 2410.11020; code coder-qicao/RL4GLUE, which runs
TRL's PPOTrainer of 2024). An online method on `sftkit.online`. Notebook: 07_ppo.

A chat model answers understanding tasks in a fixed format; a parser reads a label from each reply and the
reward is +1 right, -1 wrong, -3 unreadable (`sftkit.world.judgements`). PPO then updates a LoRA adapter
and a value head, with a per-token KL penalty to the starting policy (the same model, adapter disabled).
One function per piece, in the order a step runs them:

    rollout     P prompts, one sampled reply each (one batched `generate`), scored by the reward function
    forward     policy log-probs and values of the reply tokens: one pass of the LoRA model, whose last
                hidden state also feeds the value head          -> logp_old [N, T], V_old [N, T]
    kl_rewards  r_t = -beta * (logp_old_t - logp_ref_t), plus the task reward on the reply's last token
    gae         A_t = sum_l (gamma*lam)^l delta_{t+l},  delta_t = r_t + gamma V_{t+1} - V_t;  R_t = A_t + V_t
    whiten      A <- (A - mean) / std over reply tokens
    epochs      ppo_epochs passes over the rollout in minibatches:
                policy_loss  = mean_t max(-A_t rho_t, -A_t clip(rho_t, 1-eps, 1+eps)),  rho_t = exp(logp_t - logp_old_t)
                value_loss   = 0.5 mean_t max((V_t - R_t)^2, (clip(V_t, V_old_t +- eps_v) - R_t)^2)
                loss         = policy_loss + vf_coef * value_loss
    AdaptiveKL  beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * N / horizon)   (Ziegler et al. 2019)

Shapes: N replies per step, T the padded length minus one (position t predicts token t+1); `mask` [N, T] is
1.0 on reply tokens (the answer and its end-of-turn token) and 0.0 elsewhere. Defaults are the paper's and
TRL's (the PPOTrainer RL4GLUE used): LoRA r=16, alpha=32, dropout 0.05; batch 16, minibatch 8, 4 epochs;
init KL coefficient 0.2, adaptive (target 6, horizon 10000); gamma 1, lam 0.95; clip 0.2 (policy and value);
vf_coef 0.1; advantages whitened; sampling temperature 0.8 (RL4GLUE's ppo.sh passes 0.8, though its ppo.py never
hands it to `generate`), top-p 1.0. As in TRL, ratios and KL use the untempered (T = 1) log-probs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..data import prompt_messages
from ..evaluate import generate
from ..io import SftkitError
from ..logprobs import eval_mode
from ..losses import reduce_loss, token_nll
from ..online import OnlineConfig, OnlineLoop, RewardFn, Rollout, judgement_reward, load_reward
from ..world.judgements import LABELS, SHIFT_OF, parse_judgement, task_records
from .base import MethodConfig, MethodSpec, Paper, knob

PAPER = Paper("Improving the Language Understanding Capabilities of Large Language Models Using Reinforcement "
              "Learning (PPO with LoRA)", "2410.11020", "https://github.com/coder-qicao/RL4GLUE", "07_ppo")
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05}  # the paper's adapter
ONLINE = OnlineConfig(prompts_per_step=16, samples_per_prompt=1, temperature=0.8, top_p=1.0, max_new_tokens=16,
                      lr=1e-3)  # the paper's batch of 16, one reply each; `sftkit train ppo`'s defaults


# ----------------------------------------------------------------------------------------------------
# The pieces, each a plain function of tensors


# The mean of x [N, T] over the entries where mask is 1: `losses.reduce_loss`'s token mean, named for what it does here.
masked_mean = reduce_loss


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries (unbiased variance, as TRL's `masked_whiten`); 0 elsewhere."""
    mean = masked_mean(x, mask)
    n = mask.sum().clamp(min=2.0)
    var = (((x - mean) ** 2) * mask).sum() / (n - 1)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def kl_rewards(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor,
               beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards [N, T] and per-token KL estimates [N, T].

    kl_t = logp_t - ref_logp_t (the sampled token's log-ratio, TRL's "kl" penalty); r_t = -beta * kl_t on
    reply tokens, plus the task score [N] on each reply's last token. Zero wherever `mask` is 0.
    """
    kl = (logp - ref_logp) * mask
    rewards = -beta * kl
    last = mask.shape[1] - 1 - mask.flip(1).argmax(1)  # index of each row's last reply token
    rewards[torch.arange(len(scores)), last] += scores.to(rewards.dtype)
    return rewards * mask, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016) over reply tokens: (advantages, returns), [N, T].

    delta_t = r_t + gamma * V_{t+1} - V_t and A_t = delta_t + gamma * lam * A_{t+1}, with V = 0 after the
    reply's last token (the episode ends there). Returns R_t = A_t + V_t, the value head's targets.
    """
    values, rewards = values * mask, rewards * mask
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (Schulman et al. 2017) as a loss, and the clip fraction (share of reply
    tokens where the clipped term is the larger loss)."""
    ratio = torch.exp(logp - old_logp)
    unclipped, clipped = -advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip)
    return masked_mean(torch.maximum(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss 0.5 * max((V - R)^2, (clip(V, V_old +- clip) - R)^2) and its clip fraction."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    plain, wide = (values - returns) ** 2, (clipped - returns) ** 2
    return 0.5 * masked_mean(torch.maximum(plain, wide), mask), masked_mean((wide > plain).float(), mask)


class AdaptiveKL:
    """The KL coefficient of Ziegler et al. (2019), as TRL's `AdaptiveKLController`: after each rollout
    batch of n replies with mean KL `kl` (summed over a reply's tokens), beta is multiplied by
    1 + clip(kl / target - 1, -0.2, 0.2) * n / horizon. Above target it grows, below it shrinks."""

    def __init__(self, init: float = 0.2, target: float | None = 6.0, horizon: int = 10000):
        self.value, self.target, self.horizon = init, target, horizon

    def update(self, kl: float, n: int) -> float:
        if self.target is not None:  # None: a fixed coefficient
            error = min(max(kl / self.target - 1, -0.2), 0.2)
            self.value *= 1 + error * n / self.horizon
        return self.value


# ----------------------------------------------------------------------------------------------------
# The loop


class ValueHead(torch.nn.Module):
    """V(s_t) from the policy's last hidden state: [N, T, H] -> [N, T] (TRL's `ValueHead`, no dropout)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.float()).squeeze(-1)


judgement_reward_fn = judgement_reward  # the paper's reward, +1 / -1 / -3 (it lives in `sftkit.online.REWARDS`)


@dataclass
class Config(MethodConfig):
    VARIANT = ("init_kl_coef", "kl_target")
    LABELS = {"init_kl_coef": "kl", "kl_target": "target"}

    init_kl_coef: float = knob(0.2, "initial KL coefficient beta (paper: 0.2)")
    kl_target: float | None = knob(6.0, "target KL of the adaptive coefficient, in nats per reply (TRL: 6; "
                                        "None keeps beta fixed)")
    kl_horizon: int = knob(10000, "horizon of the adaptive coefficient (TRL: 10000)")
    ppo_epochs: int = knob(4, "passes over each rollout batch (TRL: 4)")
    minibatch_size: int = knob(8, "replies per optimizer step (paper: 8 of a batch of 16)")
    gamma: float = knob(1.0, "discount (TRL: 1.0)")
    lam: float = knob(0.95, "GAE lambda (TRL: 0.95)")
    clip: float = knob(0.2, "policy ratio clip epsilon (TRL: 0.2)")
    clip_value: float = knob(0.2, "value clip (TRL: 0.2)")
    vf_coef: float = knob(0.1, "weight of the value loss (TRL: 0.1)")
    whiten_advantages: bool = knob(True, "whiten advantages over the batch's reply tokens (TRL: on)")
    max_grad_norm: float = knob(1.0, "gradient clipping")


def reading(records: list[dict], replies: list[str]) -> dict:
    """Share of replies with a readable label ("parse_rate"), with the right one ("accuracy") and with the format's
    first label, "yes" ("first_label"), read by the judgement parser whatever the reward was; empty for records
    that are not judgement tasks (no "labels")."""
    if not all("labels" in r for r in records):
        return {}
    labels = [parse_judgement(a, r["labels"]) for r, a in zip(records, replies)]
    return {"parse_rate": sum(x is not None for x in labels) / len(labels),
            "accuracy": sum(x == r["answer"] for x, r in zip(labels, records)) / len(labels),
            "first_label": sum(x == r["labels"][0] for x, r in zip(labels, records)) / len(labels)}


class PPO(OnlineLoop):
    """PPO on the online loop: `update(rollout)` runs forward, kl_rewards, gae, whiten and the minibatch
    epochs above. `self.kl_ctl.value` is the current beta; `self.last` keeps the latest step's tensors
    (tokens, mask, per-token advantages, rewards) for inspection."""

    def __init__(self, model, tokenizer, prompts, reward_fn=judgement_reward_fn, config: OnlineConfig | None = None,
                 ppo: Config | None = None, ref_model=None):
        config = config or ONLINE
        super().__init__(model, tokenizer, prompts, reward_fn, config, ref_model)
        self.ppo = ppo or Config()
        torch.manual_seed(config.seed)
        self.value_head = ValueHead(model.config.hidden_size).to(self.device)
        self.optimizer.add_param_group({"params": list(self.value_head.parameters())})
        self.kl_ctl = AdaptiveKL(self.ppo.init_kl_coef, self.ppo.kl_target, self.ppo.kl_horizon)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.last: dict = {}

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logp [N, T], values [N, T], mask [N, T]) of the sampled tokens, in one pass of the model."""
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
        nll, mask = token_nll(out.logits, batch["labels"])
        return -nll, self.value_head(out.hidden_states[-1][:, :-1]), mask

    def update(self, rollout: Rollout) -> dict:
        c, batch = self.ppo, rollout.batch
        with torch.no_grad(), eval_mode(self.model):
            old_logp, old_values, mask = self.forward(batch)
        ref_logp = self.prior_logprobs(batch)
        beta = self.kl_ctl.value
        rewards, kl = kl_rewards(old_logp, ref_logp, mask, rollout.rewards.to(self.device), beta)
        advantages, returns = gae(rewards, old_values, mask, c.gamma, c.lam)
        if c.whiten_advantages:
            advantages = whiten(advantages, mask)
        n = len(rollout.answers)
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "clip_frac": [], "value_clip_frac": [],
                                         "approx_kl": []}
        for _ in range(c.ppo_epochs):
            order = torch.randperm(n, generator=self.generator)
            for start in range(0, n, c.minibatch_size):
                mb = order[start:start + c.minibatch_size].to(self.device)
                with eval_mode(self.model):  # dropout off, as for old_logp (TRL's PPOTrainer disables it): ratio 1 at first
                    logp, values, _ = self.forward({k: v[mb] for k, v in batch.items()})
                pg, clip_frac = policy_loss(logp, old_logp[mb], advantages[mb], mask[mb], c.clip)
                vf, value_clip_frac = value_loss(values, old_values[mb], returns[mb], mask[mb], c.clip_value)
                loss = pg + c.vf_coef * vf
                self.optimizer.zero_grad()
                loss.backward()
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_(params, c.max_grad_norm)
                self.optimizer.step()
                approx_kl = 0.5 * masked_mean((logp.detach() - old_logp[mb]) ** 2, mask[mb])
                for key, value in (("policy_loss", pg), ("value_loss", vf), ("clip_frac", clip_frac),
                                   ("value_clip_frac", value_clip_frac), ("approx_kl", approx_kl)):
                    stats[key].append(value.item())
        seq_kl = kl.sum(1).mean().item()
        self.kl_ctl.update(seq_kl, n)
        scores = rollout.rewards
        self.last = {"input_ids": batch["input_ids"].cpu(), "mask": mask.cpu(), "advantages": advantages.cpu(),
                     "rewards": rewards.cpu(), "values": old_values.cpu(), "answers": rollout.answers,
                     "scores": scores.tolist()}
        return {"kl": seq_kl, "kl_coef": beta, **{k: sum(v) / len(v) for k, v in stats.items()},
                **reading(rollout.records, rollout.answers), "reply_tokens": mask.sum(1).mean().item()}

    def state(self) -> dict:
        return {**super().state(), "ppo": self.ppo.__dict__, "kl_coef": self.kl_ctl.value}

    def settings(self) -> dict:
        return {**super().settings(), "ppo": self.ppo.__dict__}

    def extra_state(self) -> dict:
        """The value head, the KL coefficient and the minibatch order's generator, for checkpoints."""
        return {"value_head": self.value_head.state_dict(), "kl_coef": self.kl_ctl.value,
                "generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.value_head.load_state_dict(state["value_head"])
        self.kl_ctl.value = state["kl_coef"]
        self.generator.set_state(state["generator"])


def judge(model, tokenizer, records: list[dict], max_new_tokens: int = 16) -> list[dict]:
    """Greedy replies to judgement records, read by the task's parser: one row per record {id, task, skill (the
    task, for the shared views), split, prompt, answer, prediction, label (None: unreadable), parsed, correct}."""
    replies = generate(model, tokenizer, [prompt_messages(r) for r in records], max_new_tokens)
    rows = []
    for r, reply in zip(records, replies):
        label = parse_judgement(reply, r.get("labels", LABELS))
        rows.append({"id": r["id"], "task": r["task"], "skill": r["task"], "split": r["split"],
                     "prompt": prompt_messages(r)[-1]["content"],
                     "answer": r["answer"], "prediction": reply, "label": label, "parsed": label is not None,
                     "correct": label == r["answer"]})
    return rows


def groups(judged: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """`judge` rows by (task, split), plus ("all", split) pooled over tasks, where every task's shift pools as
    "shift"; each group in the rows' order."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in judged:
        pooled = "shift" if r["split"] in SHIFT_OF.values() else r["split"]
        for key in ((r["task"], r["split"]), ("all", pooled)):
            out.setdefault(key, []).append(r)
    return dict(sorted(out.items()))


def scores(judged: list[dict]) -> dict[tuple[str, str], dict]:
    """Accuracy and parse rate per (task, split) of `judge` rows, plus ("all", split) pooled over tasks, where
    every task's shift pools as "shift": {key: {"n", "accuracy", "parse_rate"}}."""
    return {k: {"n": len(v), "accuracy": sum(r["correct"] for r in v) / len(v),
                "parse_rate": sum(r["parsed"] for r in v) / len(v)} for k, v in groups(judged).items()}


def item_scores(judged_by_seed: dict, key: tuple[str, str]) -> np.ndarray:
    """Per-item correctness (seeds, items) of one (task, split) group (as in `groups`) for `stats.compare`, from
    {seed: `judge` rows}, seeds in sorted order; the items must be the same, in the same order, for every seed."""
    tables = {seed: groups(judged)[key] for seed, judged in sorted(judged_by_seed.items())}
    ids = {tuple(r["id"] for r in rows) for rows in tables.values()}
    if len(ids) != 1:
        raise ValueError(f"{key}: the seeds judged different items")
    return np.array([[float(r["correct"]) for r in rows] for rows in tables.values()])


def constant_label(judged: list[dict], split: str, threshold: float = 0.9) -> tuple[str | None, float, bool]:
    """(the most frequent label, its share, collapsed?) over the `judge` rows of `split` pooled over tasks (a
    shift as "shift"). The tasks are balanced, so a model giving one label to more than `threshold` of the
    prompts has collapsed to a constant answer (an unreadable reply counts as label None)."""
    rows = groups(judged)[("all", split)]
    labels = [r["label"] for r in rows]
    top = max(sorted(set(labels), key=str), key=labels.count)
    share = labels.count(top) / len(labels)
    return top, share, share > threshold


def result_rows(judged: list[dict], **run) -> list[dict]:
    """Results-schema rows of `judge` rows: metrics "judgement_accuracy" and "parse_rate" per (task, split),
    with skill = the task ("all" for the pooled rows), tagged with `run` (method, variant, seed, ...). The
    accuracy rows carry their per-item outcomes (`items`, `items_key`, as `results.rows_from_eval`), so two
    runs' rows compare paired (`results.compare_rows`)."""
    from ..results import encode_items, items_key, metric_row

    rows, measured = [], scores(judged)
    for (task, split), group in groups(judged).items():
        s = measured[task, split]
        rows.append({**metric_row("judgement_accuracy", s["accuracy"], split, skill=task, n=s["n"], **run),
                     "items_key": items_key([r["id"] for r in group]),
                     "items": encode_items([float(r["correct"]) for r in group])})
        rows.append(metric_row("parse_rate", s["parse_rate"], split, skill=task, n=s["n"], **run))
    return rows


# ----------------------------------------------------------------------------------------------------
# `sftkit train ppo`

REQUIRED = {"answer": "the reward compares each reply with the record's gold 'answer'"}
REWARD = "judgement"  # `sftkit train ppo`'s default reward
MAX_NEW_TOKENS = {"selfdebug": 160}  # `--max-new-tokens`' default by reward (else ONLINE.max_new_tokens)


def selfdebug_reward_fn(records: list[dict], answers: list[str]) -> torch.Tensor:
    """LEDEX's reward (`sftkit.methods.selfdebug.reward_fn`, default Config): test pass rate of the refined code
    plus 0.5 x the explanation score, -1 for a reply without explanation or code: [N]."""
    from . import selfdebug

    return selfdebug.reward_fn()(records, answers)


def reward_function(name: str, device: str | None = None) -> RewardFn:
    """A reward by name: "judgement" (+1 / -1 / -3, the paper's), "selfdebug" (LEDEX's: refined code's test pass
    rate + 0.5 x explanation score, on `sftkit generate selfdebug --rl-output` records) or any name
    `sftkit.online.load_reward` reads ("gold", "rm:PATH", "package.module:function")."""
    return load_reward(name, {"selfdebug": selfdebug_reward_fn}, device)


def required(reward: str) -> dict[str, str]:
    """The fields `sftkit train ppo --reward REWARD` needs in each --data record."""
    if reward == "selfdebug":
        return {"meta": "the selfdebug reward runs each reply's code against meta['tests'] and compares its "
                        "explanation with meta['wrong'] and meta['gold'] (`sftkit generate selfdebug --rl-output`)"}
    return REQUIRED


def check_data(records: list[dict], reward: str) -> None:
    """One `SftkitError` naming the first record a reward cannot score (the selfdebug reward's meta fields)."""
    if reward == "selfdebug":
        from .selfdebug import check_rl_record

        for i, record in enumerate(records):
            try:
                check_rl_record(record)
            except ValueError as e:
                raise SftkitError(f"record {record.get('id', i)!r}: {e}") from None


def default_data(reward: str = REWARD) -> tuple[list[dict], str]:
    """`sftkit train ppo` without --data: the judgement tasks' train prompts (`sftkit.world.judgements`); with
    --reward selfdebug, the scripted teacher's self-debugging RL prompts (`selfdebug.default_rl_data`)."""
    if reward == "selfdebug":
        from .selfdebug import default_rl_data

        return default_rl_data()
    records = task_records("train")
    return records, f"tiny-world judgement tasks (sentiment, compare), train split: {len(records)} prompts"


def run(model, tokenizer, prompts: list[dict], online: OnlineConfig, config: Config | None = None,
        reward_fn: RewardFn = judgement_reward_fn) -> PPO:
    """Train `model` (a LoRA model: its disabled adapter is the KL prior) with PPO for `online.steps` steps
    on `prompts`; returns the loop (its `history`, `value_head`, `peak_mem_mb`)."""
    loop = PPO(model, tokenizer, prompts, reward_fn, online, config)
    loop.run()
    checked_finite(loop.history)
    return loop


def checked_finite(history: list[dict]) -> list[dict]:
    """`history`, after checking that no step logged a NaN or infinite loss (a diverged run fails loudly)."""
    for h in history:
        for key in ("policy_loss", "value_loss"):
            if not math.isfinite(h[key]):
                raise FloatingPointError(f"PPO step {h['step']}: {key} is {h[key]}; lower the learning rate")
    return history


SPEC = MethodSpec("ppo", "online", PAPER, Config, data="prompts", required=required, default_data=default_data,
                  check_data=check_data, run=run, online=ONLINE, lora=LORA, reward=REWARD,
                  reward_function=reward_function, max_new_tokens=MAX_NEW_TOKENS)
