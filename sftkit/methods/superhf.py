"""SuperHF: Supervised Iterative Learning from Human Feedback (Mukobi et al., arXiv 2310.16763; code
openfeedback/superhf, `src/superhf/training.py`). An online method on `sftkit.online`. Notebook: 08_superhf.

RLHF without reinforcement learning: sample many replies, keep the one a reward model likes best, and
fine-tune on it with plain next-token loss, held near the starting model by a KL term. Per superbatch:

    prompts     P prompts ("prompt accumulation"; official: 2)
    rollout     S sampled replies each (official: 16; temperature 1.0, top-p 0.95; one batched `generate`),
                scored by the reward function                                   -> rewards [P, S]
    keep_best   the top-k replies per prompt (official: k = 1), empty replies never kept
    update      minibatches of the kept replies (official: 2 per minibatch), one optimizer step each:
                loss = NLL(kept reply tokens) + kl_coef * sum_i KL_i
                KL_i = 1/|reply_i| sum_t sum_v p_prior(v | s_t) (log p_prior(v | s_t) - log p_theta(v | s_t))

KL(prior || policy) is the exact divergence over the whole vocabulary at each reply token (the official
`torch.nn.KLDivLoss(reduction="batchmean", log_target=True)` per reply), averaged over that reply's tokens,
clamped at 0 and **summed** over the minibatch's replies as the official loop adds it, one reply at a time.
The prior is the same model with its LoRA adapter disabled (official: LoRA r=4, alpha=32, dropout 0.05 on
the q and v projections; kl_coef 0.35). Deliberate differences from the official loop: the NLL and the KL
are read exactly at the positions that predict reply tokens (the official code masks the logits with the
unshifted labels, one position late, and its mask also counts padding); gradients are clipped at norm 1
(the official loop does not clip; `max_grad_norm=None` turns it off); the learning rate is constant
(official: cosine with 32 warm-up superbatches).

Mode collapse, the paper's way: METEOR similarity between random pairs of replies to *different* prompts
(official `bootstrap_meteor_similarity_from_completions`; higher = less diverse). METEOR here is nltk's
implementation with exact and Porter-stem matching only: WordNet cannot be downloaded on machines without a
network, and the tiny world's answers (numbers, spelled words, code) have no synonyms to match anyway.
distinct-n (unique n-grams / all n-grams over the replies, Li et al. 2016) is logged beside it: distinct-1 and
distinct-2 (nan when no reply has two words, as most tiny-world answers are one word).

A proxy of known quality for the tiny world: `BlindSpotProxy` is the gold checker with some skills' labels flipped
(useful, and exploitable in a known place). `pair_agreement` and `best_of_n` check SuperHF's precondition, that
best-of-N under the proxy picks better replies than a random sample; `gold_at_proxy` reads the reward / gold
accuracy trade-off off a method's curve over its KL settings (notebook 08).
"""
from __future__ import annotations

import random
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data import load_world
from ..logprobs import eval_mode
from ..online import OnlineConfig, OnlineLoop, RewardFn, Rollout, load_reward
from ..world import SKILLS, check
from .base import MethodConfig, MethodSpec, Paper, knob

PAPER = Paper("SuperHF: Supervised Iterative Learning from Human Feedback", "2310.16763",
              "https://github.com/openfeedback/superhf", "08_superhf")
LORA = {"r": 4, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}  # official
ONLINE = OnlineConfig(prompts_per_step=2, samples_per_prompt=16, temperature=1.0, top_p=0.95, max_new_tokens=48,
                      lr=1e-3)  # official sampling and accumulation; lr for the tiny model (official: 2e-5 on 7B)
REQUIRED = {"answer": "the default reward (gold) checks each reply against the record's gold 'answer'"}
REWARD = "gold"  # `sftkit train superhf`'s default: the tiny world's checker; rm:PATH for a learned reward model


@dataclass
class Config(MethodConfig):
    VARIANT = ("kl_coef",)
    LABELS = {"kl_coef": "kl"}

    kl_coef: float = knob(0.35, "weight of KL(prior || policy) (official: 0.35; 0.23 for LLaMA)")
    top_k: int = knob(1, "replies kept per prompt, the highest scored (official: 1)")
    minibatch_size: int = knob(2, "kept replies per optimizer step (official: 2)")
    max_grad_norm: float | None = knob(1.0, "gradient clipping (official: none; None turns it off)")
    skip_ties: bool = knob(True, "keep nothing of a prompt whose replies all score the same (not in the official "
                                 "loop, which keeps the first: with a 0/1 reward that imitates a wrong reply)")


# ----------------------------------------------------------------------------------------------------
# The pieces, each a plain function


def keep_best(rewards: torch.Tensor, answers: list[str], k: int = 1, skip_ties: bool = False) -> list[int]:
    """Indices (into the flat [N] rollout) of the `k` highest-rewarded replies of each prompt.

    rewards: [P, S], row p the S replies to prompt p (flat index p * S + s); `answers` [N] the replies. Empty
    replies are never kept (the official loop drops 0-length completions first); ties go to the earlier reply.
    `skip_ties` keeps nothing of a prompt whose non-empty replies all score the same: best-of-N has nothing to
    choose there (with a 0/1 gold reward and every reply wrong, keeping "the best" would imitate a wrong one).
    """
    P, S = rewards.shape
    kept = []
    for p in range(P):
        candidates = [p * S + s for s in range(S) if answers[p * S + s].strip()]
        scores = [rewards.view(-1)[i].item() for i in candidates]
        if skip_ties and scores and max(scores) == min(scores):
            continue
        candidates.sort(key=lambda i: -rewards.view(-1)[i].item())  # stable: earlier reply first on ties
        kept += candidates[:k]
    return kept


def prior_kl(logits: torch.Tensor, prior_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(prior || policy) per reply, averaged over its tokens: [B].

    logits, prior_logits: [B, T, V], position t predicting token t+1; mask: [B, T] 1.0 where that token is
    part of the reply. KL_t = sum_v p_prior(v) (log p_prior(v) - log p_theta(v)), exact over the vocabulary.
    """
    logp, prior_logp = F.log_softmax(logits.float(), -1), F.log_softmax(prior_logits.float(), -1)
    per_token = (prior_logp.exp() * (prior_logp - logp)).sum(-1)  # [B, T]
    return (per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def superhf_loss(logits: torch.Tensor, prior_logits: torch.Tensor, labels: torch.Tensor,
                 kl_coef: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, nll, kl [B]) of one minibatch of kept replies.

    logits, prior_logits: [B, L, V]; labels: [B, L] with -100 outside the reply. nll is the mean over all
    reply tokens of the minibatch (a causal LM's `outputs.loss`, what the official loop trains on);
    loss = nll + kl_coef * sum_i max(KL_i, 0).
    """
    logits, prior_logits, targets = logits[:, :-1], prior_logits[:, :-1], labels[:, 1:]
    mask = (targets != -100).float()
    nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    kl = prior_kl(logits, prior_logits, mask)
    return nll + kl_coef * kl.clamp(min=0.0).sum(), nll, kl


class _NoSynonyms:
    """nltk's WordNet matcher, switched off: WordNet is a download, and the tiny world has no synonyms."""

    @staticmethod
    def synsets(*args, **kwargs):
        return []


def meteor(reference: str, hypothesis: str) -> float:
    """METEOR of `hypothesis` against `reference` (nltk; whitespace tokens, lower-cased, exact and Porter-stem
    matches, no WordNet synonyms): 0.0 with nothing in common, largest for identical strings."""
    from nltk.translate.meteor_score import single_meteor_score

    return float(single_meteor_score(reference.split(), hypothesis.split(), wordnet=_NoSynonyms()))


def meteor_similarity(replies: list[str], pairs: int = 200, seed: int = 0, groups: list | None = None) -> float:
    """Mean METEOR over `pairs` random pairs of `replies`, scored both ways (as the official code): the
    paper's mode-collapse metric. With `groups` [N] (e.g. the prompt of each reply), a pair is always two
    replies to different prompts. nan when no pair can be drawn."""
    rng = random.Random(seed)
    candidates = range(len(replies))
    if len(replies) < 2 or (groups is not None and len(set(groups)) < 2):
        return float("nan")
    scores = []
    while len(scores) < 2 * pairs:
        a, b = rng.sample(candidates, 2)
        if groups is None or groups[a] != groups[b]:
            scores += [meteor(replies[a], replies[b]), meteor(replies[b], replies[a])]
    return sum(scores) / len(scores)


def distinct_n(replies: list[str], n: int = 2) -> float:
    """Unique n-grams / all n-grams over the whitespace tokens of `replies` (Li et al. 2016): 1.0 = no
    repetition, near 0 = the same few phrases. nan when no reply has n tokens."""
    grams = [tuple(t[i:i + n]) for t in (r.split() for r in replies) for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


# ----------------------------------------------------------------------------------------------------
# A proxy reward of known quality, and the trade-off read off a curve


class BlindSpotProxy:
    """A proxy reward with a controlled, exploitable flaw: the gold checker (1 right, 0 wrong) on every skill
    but `blind`, where the labels are flipped (1 for any wrong reply, 0 for the right one), as a reward model
    that learned one skill backwards. Called as a reward function, (records [N], answers [N]) -> [N]."""

    def __init__(self, blind: tuple[str, ...] | list[str]):
        unknown = sorted(set(blind) - set(SKILLS))
        if unknown:
            raise ValueError(f"unknown skills {unknown}; the world has {list(SKILLS)}")
        self.blind = tuple(blind)
        self.__name__ = f"gold with {'+'.join(self.blind) or 'no skill'} flipped"

    def __call__(self, records: list[dict], answers: list[str]) -> torch.Tensor:
        return torch.tensor([float(check(r, a) != (r["skill"] in self.blind)) for r, a in zip(records, answers)])


def _group_scores(reward_fn: RewardFn, records: list[dict], groups: list[list[str]]) -> list[list[float]]:
    """`reward_fn`'s score of every reply in `groups` (groups[i] answers records[i]), in one call: a list per record."""
    flat = reward_fn([r for r, replies in zip(records, groups) for _ in replies], [a for g in groups for a in g]).tolist()
    out, start = [], 0
    for replies in groups:
        out.append(flat[start:start + len(replies)])
        start += len(replies)
    return out


def pair_agreement(reward_fn: RewardFn, records: list[dict], groups: list[list[str]]) -> tuple[float, int]:
    """(share, count) of the pairs (one right, one wrong reply to the same prompt, from `groups[i]`, the
    replies sampled for `records[i]`) that `reward_fn` ranks the way the gold checker does: the right reply
    strictly higher. A tie counts as a miss. (nan, 0) when no prompt has both a right and a wrong reply."""
    agree = total = 0
    for record, replies, scores in zip(records, groups, _group_scores(reward_fn, records, groups)):
        right = [s for a, s in zip(replies, scores) if check(record, a)]
        wrong = [s for a, s in zip(replies, scores) if not check(record, a)]
        agree += sum(r > w for r in right for w in wrong)
        total += len(right) * len(wrong)
    return (agree / total if total else float("nan")), total


def best_of_n(reward_fn: RewardFn, records: list[dict], groups: list[list[str]]) -> list[str]:
    """The reply to each record that `reward_fn` scores highest among its sampled `groups[i]` (ties: the first)."""
    picked = []
    for replies, scores in zip(groups, _group_scores(reward_fn, records, groups)):
        picked.append(replies[max(range(len(replies)), key=lambda i: (scores[i], -i))])
    return picked


def gold_at_proxy(points: list[tuple[float, float]], target: float) -> float:
    """Gold accuracy at proxy reward `target` on one method's trade-off curve: `points` (proxy reward, gold
    accuracy), one per KL setting (and the start policy), linearly interpolated along the proxy reward; a
    target outside the points' range takes the nearest end's gold accuracy (no extrapolation)."""
    xs, ys = zip(*sorted(points))
    return float(np.interp(target, xs, ys))


# ----------------------------------------------------------------------------------------------------
# The loop


class SuperHF(OnlineLoop):
    """SuperHF on the online loop: `update(rollout)` keeps the best reply per prompt and trains on them with
    `superhf_loss`. `self.last` holds the latest superbatch's kept replies and their rewards."""

    def __init__(self, model, tokenizer, prompts, reward_fn: RewardFn, config: OnlineConfig | None = None,
                 superhf: Config | None = None, ref_model=None):
        super().__init__(model, tokenizer, prompts, reward_fn, config or ONLINE, ref_model)
        self.superhf = superhf or Config()
        self.last: dict = {}

    def prior_logits(self, batch: dict) -> torch.Tensor:
        """Logits [B, L, V] of the prior: the reference copy, or this LoRA model with its adapter disabled."""
        prior = self.model if self.ref_model is None else self.ref_model
        adapter_off = self.model.disable_adapter() if self.ref_model is None else nullcontext()
        with torch.no_grad(), eval_mode(prior), adapter_off:
            return prior(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    def update(self, rollout: Rollout) -> dict:
        c = self.superhf
        kept = keep_best(rollout.grouped(rollout.rewards), rollout.answers, c.top_k, c.skip_ties)
        nll_sum, kls, n_steps = 0.0, [], 0
        for start in range(0, len(kept), c.minibatch_size):
            idx = torch.tensor(kept[start:start + c.minibatch_size], device=self.device)
            batch = {k: v[idx] for k, v in rollout.batch.items()}
            width = int(batch["attention_mask"].sum(1).max())  # drop the columns that are padding in every row
            batch = {k: v[:, :width] for k, v in batch.items()}
            prior = self.prior_logits(batch)
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss, nll, kl = superhf_loss(logits, prior, batch["labels"], c.kl_coef)
            self.optimizer.zero_grad()
            loss.backward()
            if c.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                               c.max_grad_norm)
            self.optimizer.step()
            nll_sum, n_steps = nll_sum + nll.item(), n_steps + 1
            kls += kl.detach().tolist()
        kept_answers = [rollout.answers[i] for i in kept]
        self.last = {"records": [rollout.records[i] for i in kept], "answers": kept_answers,
                     "rewards": [rollout.rewards[i].item() for i in kept]}
        metrics = {"kept": len(kept), "kept_reward": sum(self.last["rewards"]) / max(1, len(kept)),
                   "nll": nll_sum / max(1, n_steps), "kl": sum(kls) / max(1, len(kls))}
        if all(r.get("skill") in SKILLS for r in rollout.records):  # tiny-world prompts: the checker can grade
            gold = [check(r, a) for r, a in zip(rollout.records, rollout.answers)]
            metrics.update(gold_accuracy=sum(gold) / len(gold),
                           kept_gold_accuracy=sum(gold[i] for i in kept) / max(1, len(kept)))
        return {**metrics,
                "meteor_similarity": meteor_similarity(rollout.answers, pairs=16, seed=len(self.history),
                                                       groups=[r.get("id") for r in rollout.records]),
                "distinct_1": distinct_n(rollout.answers, 1), "distinct_2": distinct_n(rollout.answers, 2)}

    def settings(self) -> dict:  # a checkpoint of another kl_coef (or top_k, ...) is not resumed silently
        return {**super().settings(), "superhf": self.superhf.__dict__}

    def state(self) -> dict:
        return {**super().state(), "superhf": self.superhf.__dict__}


# ----------------------------------------------------------------------------------------------------
# `sftkit train superhf`


def reward_function(name: str, device: str | None = None) -> RewardFn:
    """A reward by name: "gold" (the tiny world's checker: 1 right, 0 wrong), "judgement" (the PPO paper's +1 / -1 / -3,
    for judgement tasks), "rm:PATH" (a reward model saved with save_pretrained, e.g. one trained with
    `sftkit.reward`) or "package.module:function"."""
    return load_reward(name, device=device)


def default_data(reward: str = REWARD) -> tuple[list[dict], str]:
    """`sftkit train superhf` without --data: the tiny world's train prompts (whatever the reward)."""
    records = load_world("train")
    return records, f"tiny-world train split: {len(records)} prompts"


def run(model, tokenizer, prompts: list[dict], online: OnlineConfig, config: Config | None = None,
        reward_fn: RewardFn | None = None) -> SuperHF:
    """Train `model` (a LoRA model: its disabled adapter is the KL prior) with SuperHF for `online.steps`
    superbatches on `prompts`; returns the loop (its `history`, `peak_mem_mb`)."""
    loop = SuperHF(model, tokenizer, prompts, reward_fn or load_reward("gold"), online, config)
    loop.run()
    return loop


def required(reward: str | None = None) -> dict[str, str]:
    """The fields `sftkit train superhf --data FILE` needs in each record."""
    return REQUIRED


SPEC = MethodSpec("superhf", "online", PAPER, Config, data="prompts", required=required, default_data=default_data,
                  run=run, online=ONLINE, lora=LORA, reward=REWARD, reward_function=reward_function)
