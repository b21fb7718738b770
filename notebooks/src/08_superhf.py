# %% [markdown]
# # 08 · SuperHF: best-of-N supervision with a KL prior, and reward hacking you can see
#
# **Paper:** Gabriel Mukobi, Peter Chatain, Su Fong, Robert Windesheim, Gitta Kutyniok, Kush Bhatia, Silas
# Alberti, *SuperHF: Supervised Iterative Learning from Human Feedback*, arXiv
# [2310.16763](https://arxiv.org/abs/2310.16763); official code
# [openfeedback/superhf](https://github.com/openfeedback/superhf) (`src/superhf/training.py`). This notebook
# follows that loop: 2 prompts per superbatch, 16 replies each at temperature 1.0 and top-p 0.95, the top-1
# reply per prompt kept, LoRA r=4, alpha=32, dropout 0.05 on the q and v projections, and the KL term as the
# official code computes it, with the few differences listed in section 3.
#
# **What you will learn**
# - how SuperHF replaces PPO's policy gradient with plain supervised learning on the best of many samples,
#   and why it still needs a KL term to the starting model;
# - what *reward hacking* looks like when the reward is a learned proxy: the proxy's score climbs while the
#   answers get worse, measured here exactly because the tiny world has a gold checker;
# - how the KL coefficient trades proxy reward against gold accuracy and against *mode collapse* (METEOR
#   similarity between replies to different prompts, the paper's metric);
# - how SuperHF compares with best-of-N sampling (no training), with SFT on gold answers, and with PPO on the
#   same proxy and the same number of sampled replies, including what each costs.
#
# **Runtime** (2-core laptop CPU): about 25 minutes with the settings below, about 5 minutes with
# `SFTKIT_LIGHT=1` (one seed, two KL coefficients, fewer superbatches, half of each evaluation split: what
# `make test` runs). On a GPU (not measured yet), set `MODEL_NAME` to a Hugging Face chat model and
# `DEVICE = "cuda"`: the same cells run.
#
# Settings (the cell is tagged `parameters`):

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)
START_STEPS = 100          # the starting policy: SFT on the world's train split, stopped early (room to improve)
STEPS = 12 if LIGHT else 60  # superbatches per SuperHF run
PROMPTS_PER_STEP = 2       # prompt accumulation (official: 2)
SAMPLES = 16               # replies per prompt, the N of best-of-N (official: 16)
LR = 3e-3                  # constant (official: 2e-5, cosine, on 7B models); not tuned here, see exercise 2
KL_COEFS = (0.0, 0.35) if LIGHT else (0.0, 0.1, 0.35, 1.0)  # the sweep; official default 0.35
MAX_NEW_TOKENS = 32        # longest sampled reply (the world's answers are shorter)
RM_PAIRS, RM_NOISE = 400, 0.1  # the proxy reward model: preference pairs, share of them flipped
RM_STEPS = 60 if LIGHT else 100  # its training steps
EVAL_EVERY = 2 if LIGHT else 1  # evaluate on every k-th record of each split (light profile: half)

# %%
# %matplotlib inline
import time
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from sftkit import plots, results
from sftkit.data import load_world
from sftkit.evaluate import evaluate, sample_answers
from sftkit.experiment import BASELINE
from sftkit.methods import ppo, superhf
from sftkit.model import fresh_lora, load_model, pick_device, set_seed
from sftkit.online import gold_reward
from sftkit.results import compare, fmt_mean_std, mean_std
from sftkit.reward import noisy_pairs, pair_accuracy, reward_fn, reward_model_from, score_answers, train_reward_model
from sftkit.train import TrainConfig, train
from sftkit.world import EVAL_SPLITS, SKILLS, check, world_pairs

T0 = time.time()
set_seed(0)
DEVICE = pick_device(DEVICE)
TRAIN, DEV = load_world("train"), load_world("dev")
EVAL = [r for s in EVAL_SPLITS for r in load_world(s)[::EVAL_EVERY]]
TEST = [r for r in EVAL if r["split"] == "test"]
print(f"device {DEVICE}; train {len(TRAIN)} prompts; evaluated on " + ", ".join(
    f"{s} {sum(r['split'] == s for r in EVAL)}" for s in EVAL_SPLITS))

# %% [markdown]
# ## 1. Why SuperHF exists
#
# RLHF as InstructGPT did it trains a reward model on human preferences and then optimizes the policy
# against it with PPO: a value head, advantages, clipped ratios, an adaptive KL penalty (notebook 07 builds
# all of it). PPO is powerful but fiddly and expensive, and it *will* find whatever the reward model
# mistakenly likes: reward hacking.
#
# SuperHF keeps the reward model and drops the reinforcement learning. Each **superbatch** it samples many
# replies per prompt from the current policy, lets the reward model pick the best one, and fine-tunes on the
# winners with the ordinary next-token loss. Iterated, that climbs the reward like a policy-gradient method
# would, but every update is supervised learning. What stops it from drifting into replies the reward model
# overrates is a **KL term** to the starting model, computed without a second copy: the prior is the same
# network with its LoRA adapter switched off.
#
# The loop, as `sftkit.methods.superhf.SuperHF` runs it:

# %%
fig, ax = plt.subplots(figsize=(11, 2.6))
boxes = [("P prompts", "prompt accumulation\n(2)"), ("S replies each", "temperature 1.0, top-p 0.95\n(16, one generate call)"),
         ("reward model", "scores every reply\n(a learned proxy)"), ("keep the best", "top-1 reply per prompt"),
         ("fine-tune LoRA", "NLL on kept replies\n+ kl_coef * KL(prior || policy)")]
for i, (title, sub) in enumerate(boxes):
    x = i * 2.2
    ax.add_patch(plt.Rectangle((x, 0), 1.8, 1.2, fill=True, color=f"C{i}", alpha=0.18))
    ax.text(x + 0.9, 0.85, title, ha="center", va="center", fontsize=11, weight="bold")
    ax.text(x + 0.9, 0.38, sub, ha="center", va="center", fontsize=8)
    if i < len(boxes) - 1:
        ax.annotate("", xy=(x + 2.2, 0.6), xytext=(x + 1.8, 0.6), arrowprops=dict(arrowstyle="->"))
ax.annotate("", xy=(0.9, 1.25), xytext=(4 * 2.2 + 0.9, 1.25),
            arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=0.12", color="0.4"))
ax.text(4.4 + 0.9, 1.75, "next superbatch: sample from the updated policy", ha="center", fontsize=9, color="0.3")
ax.set(xlim=(-0.2, 10.8), ylim=(-0.2, 2.0)); ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. The starting policy and a proxy reward model
#
# The policy starts from the tiny base model after `START_STEPS` steps of plain SFT on the world's skills
# (notebook 01's recipe, stopped early so there is room to improve). Its greedy answers are scored by the
# gold checker; its samples at temperature 1.0, which SuperHF trains on, are noisier.

# %%
base, tokenizer = load_model(MODEL_NAME, device=DEVICE)
START = train(base, tokenizer, TRAIN, replace(BASELINE, steps=START_STEPS)).model
START_ROWS = evaluate(START, tokenizer, EVAL, max_new_tokens=MAX_NEW_TOKENS)
greedy = {s: np.mean([r["correct"] for r in START_ROWS if r["split"] == s]) for s in EVAL_SPLITS}
dev_samples = sample_answers(START, tokenizer, DEV, n=4, temperature=1.0, top_p=0.95, seed=0, max_new_tokens=MAX_NEW_TOKENS)
sampled = np.mean([check(r, a) for r, group in zip(DEV, dev_samples) for a in group])
print(f"start policy ({START_STEPS} SFT steps), greedy exact match: " + ", ".join(f"{s} {100 * v:.1f}%" for s, v in greedy.items()))
print(f"dev replies sampled at temperature 1.0 (4 per prompt): {100 * sampled:.1f}% right")

# %% [markdown]
# In RLHF the reward model is learned from human comparisons, and it is wrong in places. We build one the
# same way notebook 05 does: pairs of a gold answer (chosen) against the start policy's own wrong samples or
# a corruption (rejected), `RM_PAIRS` of them with a share `RM_NOISE` flipped (labellers who disagree), and a
# scalar head on the start policy trained with the Bradley-Terry loss. The gold checker then tells us how good
# this proxy is on pairs it never saw.

# %%
pair_prompts = [r for skill in SKILLS for r in [x for x in TRAIN if x["skill"] == skill][:32]]
own = sample_answers(START, tokenizer, pair_prompts, n=4, temperature=1.0, seed=0, max_new_tokens=MAX_NEW_TOKENS)
rm_pairs = noisy_pairs(world_pairs(pair_prompts, own, corruptions=1, max_sampled=2, seed=0), RM_PAIRS, RM_NOISE, seed=0)
RM, _ = reward_model_from(START, tokenizer, device=DEVICE, seed=0)
RM = train_reward_model(RM, tokenizer, rm_pairs, TrainConfig(steps=RM_STEPS, batch_size=16, lr=1e-3, warmup_steps=4,
                                                            seed=0)).model
PROXY = reward_fn(RM, tokenizer)
held_out = world_pairs(DEV, samples=None, corruptions=1, seed=1)
print(f"proxy reward model: {len(rm_pairs)} pairs ({RM_NOISE:.0%} flipped), {RM_STEPS} steps; it ranks the gold "
      f"answer first on {100 * pair_accuracy(RM, tokenizer, held_out):.1f}% of {len(held_out)} held-out dev pairs")

# %% [markdown]
# ## 3. The SuperHF loss
#
# For the kept replies $y_i$ of a minibatch (official: 2 per minibatch, one optimizer step each),
#
# $$\mathcal{L} = \underbrace{-\frac{1}{\sum_i |y_i|}\sum_i \sum_{t \in y_i} \log \pi_\theta(y_{i,t} \mid x_i, y_{i,<t})}_{\texttt{nll}}
# \;+\; \texttt{kl\_coef}\sum_i \max\!\Big(0,\; \frac{1}{|y_i|}\sum_{t \in y_i} \mathrm{KL}\big(\pi_{prior}(\cdot \mid s_t)\,\|\,\pi_\theta(\cdot \mid s_t)\big)\Big)$$
#
# where $\pi_{prior}$ is the same model with its LoRA adapter disabled and the KL at each reply position is
# exact over the vocabulary, $\sum_v \pi_{prior}(v)\,(\log \pi_{prior}(v) - \log \pi_\theta(v))$. The official
# code adds each reply's KL to the minibatch loss one at a time, so the term is a **sum** over the minibatch
# (with 2 replies per minibatch, `kl_coef = 0.35` weighs like 0.7 on a mean). `keep_best` drops empty
# replies and keeps the top-scored one per prompt.
#
# Where this differs from the official loop, on purpose: the KL and the NLL are read exactly at the positions
# that predict reply tokens (the official mask is the unshifted labels, one position late, and also counts
# padding); gradients are clipped at norm 1 (the official loop does not clip); the learning rate is constant
# (official: cosine with 32 warm-up superbatches). The code, as it runs:

# %%
for fn in (superhf.keep_best, superhf.prior_kl, superhf.superhf_loss):
    print(plots.source_of(fn))
print("defaults:", superhf.Config(), "| LoRA:", superhf.LORA)


# %% [markdown]
# ## 4. The runs: a KL sweep, an oracle, PPO and SFT, same prompts and seeds
#
# Per seed, one after the other (so their costs are measured on the same machine state):
#
# | row | reward it optimizes | what it does |
# |---|---|---|
# | SuperHF, kl_coef ∈ `KL_COEFS` | the proxy | `STEPS` superbatches of `PROMPTS_PER_STEP` × `SAMPLES` replies |
# | SuperHF oracle (kl 0.35) | the gold checker (1 right, 0 wrong) | the same loop with a reward that cannot be hacked |
# | PPO + LoRA (notebook 07's) | the proxy | the same number of sampled replies, 16 prompts × 1 reply per step, sampled like SuperHF's (temperature 1.0, top-p 0.95); its own LoRA (r=16, alpha 32, dropout 0.05), learning rate (1e-3) and PPO settings |
# | SFT on gold answers | none: gold labels | LoRA r=4 on the same number of (prompt, gold answer) examples as SuperHF keeps |
#
# Every run starts from the start policy with a fresh LoRA adapter; the adapter-disabled model is each
# one's prior. While training we record, per superbatch (or PPO step), the proxy reward and the gold accuracy
# of the sampled replies and the METEOR similarity of replies to different prompts.

# %%
class Watched:
    # a reward function that also records the gold accuracy of every batch it scores (for PPO's curves)
    def __init__(self, fn):
        self.fn, self.gold, self.__name__ = fn, [], getattr(fn, "__name__", "reward")

    def __call__(self, records, answers):
        self.gold.append(np.mean([check(r, a) for r, a in zip(records, answers)]))
        return self.fn(records, answers)


def judged(model, seed, history=None, seconds=None, peak=None):
    rows = evaluate(model, tokenizer, EVAL, max_new_tokens=MAX_NEW_TOKENS)
    test_replies = [r["prediction"] for r in rows if r["split"] == "test"]
    return {"rows": rows, "history": history or [], "seconds": seconds, "peak_mb": peak,
            "proxy": score_answers(RM, tokenizer, TEST, test_replies).mean().item(),
            "meteor": superhf.meteor_similarity(test_replies, pairs=200, seed=seed)}


ONLINE = replace(superhf.ONLINE, steps=STEPS, prompts_per_step=PROMPTS_PER_STEP, samples_per_prompt=SAMPLES,
                 lr=LR, max_new_tokens=MAX_NEW_TOKENS)
REPLIES = STEPS * PROMPTS_PER_STEP * SAMPLES  # sampled replies per run, the budget every online row gets
PPO_STEPS = REPLIES // 16
LABELS = {kl: f"SuperHF kl={kl}" for kl in KL_COEFS}
RUNS = {label: {} for label in [*LABELS.values(), "SuperHF oracle kl=0.35", "PPO + LoRA", "SFT on gold answers"]}
for seed in SEEDS:
    start = time.time()
    for kl in KL_COEFS:
        torch.manual_seed(seed)
        loop = superhf.SuperHF(fresh_lora(START, superhf.LORA), tokenizer, TRAIN, PROXY, replace(ONLINE, seed=seed),
                               superhf.Config(kl_coef=kl))
        loop.run()
        RUNS[LABELS[kl]][seed] = judged(loop.model, seed, loop.history,
                                        sum(h["seconds"] for h in loop.history), loop.peak_mem_mb)
    torch.manual_seed(seed)
    oracle = superhf.SuperHF(fresh_lora(START, superhf.LORA), tokenizer, TRAIN, gold_reward, replace(ONLINE, seed=seed),
                             superhf.Config(kl_coef=0.35))
    oracle.run()
    RUNS["SuperHF oracle kl=0.35"][seed] = judged(oracle.model, seed, oracle.history,
                                                  sum(h["seconds"] for h in oracle.history), oracle.peak_mem_mb)
    torch.manual_seed(seed)
    watched = Watched(PROXY)
    loop = ppo.PPO(fresh_lora(START, ppo.LORA), tokenizer, TRAIN, watched,
                   replace(ppo.ONLINE, steps=PPO_STEPS, temperature=ONLINE.temperature, top_p=ONLINE.top_p,
                           max_new_tokens=MAX_NEW_TOKENS, seed=seed))
    loop.run()
    ppo.checked_finite(loop.history)
    history = [{**h, "gold_accuracy": g} for h, g in zip(loop.history, watched.gold)]
    RUNS["PPO + LoRA"][seed] = judged(loop.model, seed, history, sum(h["seconds"] for h in loop.history),
                                      loop.peak_mem_mb)
    gold_examples = [TRAIN[i] for i in np.random.default_rng(seed).choice(len(TRAIN), STEPS * PROMPTS_PER_STEP, replace=False)]
    sft = train(fresh_lora(START, superhf.LORA), tokenizer, gold_examples,
                TrainConfig(steps=STEPS, batch_size=PROMPTS_PER_STEP, lr=LR, warmup_steps=0, seed=seed))
    RUNS["SFT on gold answers"][seed] = judged(sft.model, seed, seconds=sft.seconds, peak=sft.peak_mem_mb)
    print(f"seed {seed}: " + "; ".join(f"{label} test {100 * np.mean([r['correct'] for r in run[seed]['rows'] if r['split'] == 'test']):.1f}%"
                                        for label, run in RUNS.items()) + f" ({time.time() - start:.0f}s)")

# %% [markdown]
# ### Best-of-N without training
#
# The cheapest use of a reward model needs no training at all: sample `SAMPLES` replies per test prompt from
# the start policy and answer with the one the proxy scores highest. With the gold checker in the proxy's
# place the same procedure gives an upper bound (a right reply among the N, "pass@N").

# %%
BEST_OF_N = {"best-of-N (proxy picks)": {}, "best-of-N (gold picks, pass@N)": {}}
for seed in SEEDS:
    groups = sample_answers(START, tokenizer, TEST, n=SAMPLES, temperature=1.0, top_p=0.95, seed=seed,
                            max_new_tokens=MAX_NEW_TOKENS)
    flat = [a for g in groups for a in g]
    scores = score_answers(RM, tokenizer, [r for r in TEST for _ in range(SAMPLES)], flat).view(len(TEST), SAMPLES)
    picked = [g[i] for g, i in zip(groups, scores.argmax(1).tolist())]
    BEST_OF_N["best-of-N (proxy picks)"][seed] = {
        "rows": [{"split": "test", "skill": r["skill"], "correct": check(r, a), "prediction": a} for r, a in zip(TEST, picked)],
        "proxy": scores.max(1).values.mean().item(), "meteor": superhf.meteor_similarity(picked, pairs=200, seed=seed)}
    BEST_OF_N["best-of-N (gold picks, pass@N)"][seed] = {
        "rows": [{"split": "test", "skill": r["skill"], "correct": any(check(r, a) for a in g)} for r, g in zip(TEST, groups)]}
print(", ".join(f"{label}: test {fmt_mean_std([np.mean([r['correct'] for r in run[s]['rows']]) for s in SEEDS])}"
                for label, run in BEST_OF_N.items()) + f" (N = {SAMPLES}, {len(TEST)} test prompts)")


# %% [markdown]
# ## 5. Over the superbatches: proxy reward, gold accuracy, diversity
#
# One figure, four panels on a shared x axis (sampled replies, so PPO's steps of 16 replies line up with
# SuperHF's superbatches of 32). Each line is the mean over seeds of a moving average over 10 superbatches
# (PPO: 20 steps), the same window of replies. Top: what is optimized (the proxy; the oracle optimizes gold,
# so it is not drawn there) and what we want (gold). Bottom: mode collapse, as METEOR similarity between
# replies to different prompts (higher = more alike) and as distinct-1, unique words over all words of the
# step's replies (lower = more repetition; most answers here are one word, so distinct-2 is mostly undefined);
# PPO logs neither.

# %%
def seed_mean_curve(label, key, per_step, window):
    # x: sampled replies (thousands) at the end of each window; y: the mean over seeds of the smoothed curve
    y = np.mean([plots.moving_average([h[key] for h in RUNS[label][s]["history"]], window) for s in SEEDS], axis=0)
    return (np.arange(len(y)) + window) * per_step / 1000, y


fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True)
panels = [("reward", "proxy reward of the sampled replies", "mean proxy reward"),
          ("gold_accuracy", "gold accuracy of the sampled replies", "share right"),
          ("meteor_similarity", "METEOR similarity, replies to different prompts", "mean METEOR (higher: more alike)"),
          ("distinct_1", "distinct words of the sampled replies", "unique / all words (distinct-1)")]
styles = {label: dict(color=f"C{i}", marker="os^D"[i], mfc="none", alpha=0.85) for i, label in enumerate(LABELS.values())}
styles["SuperHF oracle kl=0.35"] = dict(color="k", ls="--", alpha=0.85)
styles["PPO + LoRA"] = dict(color="C6", ls=":", lw=2)
for ax, (key, title, ylabel) in zip(axes.flat, panels):
    for label, style in styles.items():
        per_step, window = (16, 20) if label == "PPO + LoRA" else (PROMPTS_PER_STEP * SAMPLES, 10)
        if key not in RUNS[label][SEEDS[0]]["history"][0] or (label.startswith("SuperHF oracle") and key == "reward"):
            continue  # PPO logs no METEOR or distinct-1; the oracle's reward is gold accuracy, not the proxy
        ax.plot(*seed_mean_curve(label, key, per_step, window), label=label, markevery=5, **style)
    ax.set(title=title, ylabel=ylabel)
for ax in axes[1]:
    ax.set_xlabel("sampled replies (thousands)")
axes[0, 1].set_ylim(-0.02, 1.02)
axes[0, 1].legend(fontsize=8)  # the gold panel has every row
plt.tight_layout(); plt.show()

# %% [markdown]
# The greedy test answers of seed 0's trained models next to the start policy's (the explorer further down
# shows any of them):

# %%
examples = {"start policy": START_ROWS, **{label: RUNS[label][SEEDS[0]]["rows"] for label in [*LABELS.values(), "PPO + LoRA"]}}
ids = [r["id"] for r in START_ROWS if r["split"] == "test"][::60][:8]
display(HTML(plots.samples_html(examples, ids=ids)))


# %% [markdown]
# ## 6. What we saw
#
# Greedy exact match of every row on `test` and the four shifts (mean ± std over seeds), with the proxy's
# mean score of the greedy test answers and their METEOR similarity. The best-of-N rows are test only, and
# their proxy column is the proxy's score of the reply it picked, the maximum over the N samples, not of a
# greedy answer.

# %%
def rows_of(run):
    return [row for seed in run for row in results.rows_from_eval(run[seed]["rows"], seed=seed)]


table_runs = {"start policy": {0: {"rows": START_ROWS}}, **RUNS, **BEST_OF_N}
START_EXTRA = {"proxy": score_answers(RM, tokenizer, TEST, [r["prediction"] for r in START_ROWS if r["split"] == "test"]).mean().item(),
               "meteor": superhf.meteor_similarity([r["prediction"] for r in START_ROWS if r["split"] == "test"], pairs=200)}
table_runs["start policy"][0].update(START_EXTRA)


def column(key):
    # mean ± std over seeds, three decimals (both are small numbers, unlike the accuracies)
    out = {}
    for label, run in table_runs.items():
        if key in next(iter(run.values())):
            values = [run[s][key] for s in run]
            m, sd = mean_std(values)
            out[label] = f"{m:.3f} ± {sd:.3f}" if len(values) > 1 else f"{m:.3f}"
    return out


display(Markdown(results.split_table({label: rows_of(run) for label, run in table_runs.items()},
                                     extra={"proxy reward (test)": column("proxy"), "METEOR similarity (test)": column("meteor")})))


# %%
def test_acc(label):
    run = table_runs[label]
    return [np.mean([r["correct"] for r in run[s]["rows"] if r["split"] == "test"]) for s in run]


def proxy_of(label):
    return [table_runs[label][s]["proxy"] for s in table_runs[label]]


def meteor_of(label):
    return [table_runs[label][s]["meteor"] for s in table_runs[label]]


def training_reward(label, key="reward"):
    # per seed, the mean of a logged value (default: the proxy reward of the sampled replies) over the last
    # quarter of training
    out = []
    for s in SEEDS:
        history = RUNS[label][s]["history"]
        out.append(float(np.mean([h[key] for h in history[-max(1, len(history) // 4):]])))
    return out


print(results.RULE)
lines = []
start_acc = test_acc("start policy")[0]
ORACLE = "SuperHF oracle kl=0.35"
for label in [*LABELS.values(), "PPO + LoRA"]:  # every row trained on the proxy
    c = compare(test_acc(label), [start_acc])
    up = compare(proxy_of(label), proxy_of("start policy"))
    vs_oracle = compare(test_acc(label), test_acc(ORACLE))
    hacked = up.verdict == "above" and c.verdict == "below" and vs_oracle.verdict == "below"
    lines.append(f"- **{label}**, greedy test answers: proxy reward {up.mean_a:+.3f} vs the start policy's {up.mean_b:+.3f} "
                 f"({up.verdict} by the rule, spread {up.spread:.3f}); {c.sentence('gold accuracy', 'the start policy')} "
                 f"Against the oracle run: {vs_oracle.verdict} ({100 * vs_oracle.gap:+.1f} points)."
                 + (" **Reward hacking**: the proxy's score rose while gold accuracy fell, below what training on the gold"
                    " reward reached." if hacked else ""))
if 0.0 in LABELS and 0.35 in LABELS:
    g, m = compare(test_acc(LABELS[0.35]), test_acc(LABELS[0.0])), compare(meteor_of(LABELS[0.35]), meteor_of(LABELS[0.0]))
    lines.append(f"- **The KL term** (0.35 vs 0): {g.sentence('gold test accuracy at 0.35', 'at 0')} "
                 f"METEOR similarity of the greedy test answers at 0.35 is {m.verdict} at 0 by the rule "
                 f"({m.mean_a:.3f} vs {m.mean_b:.3f}; gap {m.gap:+.3f}; seed std up to {m.spread:.3f}).")
MAIN = LABELS.get(0.35, LABELS[KL_COEFS[-1]])  # the official coefficient
o = compare(test_acc(ORACLE), test_acc(MAIN))
oracle_start = compare(test_acc(ORACLE), [start_acc])
lines.append(f"- **Oracle vs proxy reward** (kl 0.35): {o.sentence('the oracle', 'the proxy run')} "
             f"{oracle_start.sentence('The oracle', 'the start policy')}")
p_reward = compare(training_reward(MAIN), training_reward("PPO + LoRA"))
p_proxy = compare(proxy_of(MAIN), proxy_of("PPO + LoRA"))
p_gold = compare(test_acc(MAIN), test_acc("PPO + LoRA"))
lines.append(f"- **SuperHF (kl 0.35) vs PPO**, same proxy, same sampling and {REPLIES} sampled replies each: proxy reward "
             f"of the sampled replies over the last quarter of training, SuperHF {p_reward.mean_a:+.3f}, PPO {p_reward.mean_b:+.3f} "
             f"(SuperHF is {p_reward.verdict} PPO by the rule, spread {p_reward.spread:.3f}); of the greedy test answers "
             f"{p_proxy.mean_a:+.3f} vs {p_proxy.mean_b:+.3f} ({p_proxy.verdict}). Gold test accuracy: {p_gold.sentence('SuperHF', 'PPO')}")
if 0.0 in LABELS:
    words = compare(training_reward(LABELS[0.0], key="distinct_1"), training_reward(ORACLE, key="distinct_1"))
    alike = compare(training_reward(LABELS[0.0], key="meteor_similarity"), training_reward(ORACLE, key="meteor_similarity"))
    lines.append(f"- **What kl=0 turned into**, sampled replies over the last quarter of training: distinct-1 "
                 f"{words.mean_a:.3f} vs the oracle's {words.mean_b:.3f} ({words.verdict} by the rule, spread {words.spread:.3f}); "
                 f"METEOR similarity {alike.mean_a:.3f} vs {alike.mean_b:.3f} ({alike.verdict}). "
                 + ("More varied words and no more alike across prompts: a drift into many different wrong replies, "
                    "not a collapse onto one." if words.verdict == "above" and alike.verdict != "above" else
                    "Replies more alike across prompts: mode collapse." if alike.verdict == "above" else ""))
s = compare(test_acc("SFT on gold answers"), [start_acc])
vs_sft = compare(test_acc(MAIN), test_acc("SFT on gold answers"))
lines.append(f"- **SFT on {STEPS * PROMPTS_PER_STEP} gold answers** (what labels buy, the same LoRA, steps and prompt count): "
             f"{s.sentence('SFT', 'the start policy')} {vs_sft.sentence('SuperHF (kl 0.35)', 'SFT')} So SuperHF "
             + ("beats" if vs_sft.verdict == "above" else "does not beat") + " SFT on gold labels here.")
b = compare(test_acc("best-of-N (proxy picks)"), [start_acc])
lines.append(f"- **Best-of-{SAMPLES} with the proxy** (no training): {b.sentence('best-of-N', 'greedy start')}")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ### A control for the KL term: is it just a smaller step?
#
# The KL term keeps the policy near its prior, and so does a smaller learning rate. Before crediting the term,
# the plainer cause has to be ruled out: kl=0 at a third of the learning rate, with the same seeds, prompts,
# proxy and superbatches. Its results are in `results/08_superhf_kl_control.jsonl`, written by the code below
# run as a script on the same start policy and proxy (that script reproduced this notebook's kl=0 and kl=0.35
# rows exactly); set `RUN_KL_CONTROL = True` to train it here.

# %%
RUN_KL_CONTROL = False  # True: train the control here (3 runs, about 2 minutes on 2 cores); False: read its file
CONTROL_LR = 1e-3
if RUN_KL_CONTROL:
    control_rows = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        loop = superhf.SuperHF(fresh_lora(START, superhf.LORA), tokenizer, TRAIN, PROXY,
                               replace(ONLINE, seed=seed, lr=CONTROL_LR), superhf.Config(kl_coef=0.0))
        loop.run()
        tags = dict(notebook="08_superhf_kl_control", method="superhf", variant=f"SuperHF kl=0.0 lr={CONTROL_LR}",
                    model=MODEL_NAME, seed=seed, device=DEVICE, steps=STEPS)
        control_rows += results.rows_from_eval(evaluate(loop.model, tokenizer, TEST, max_new_tokens=MAX_NEW_TOKENS), **tags)
        control_rows.append(results.metric_row("mean_kl_to_prior", float(np.mean([h["kl"] for h in loop.history])),
                                               "train", **tags))
    results.save("08_superhf_kl_control", control_rows)
saved = results.load()
control = results.accuracies(saved, "test", notebook="08_superhf_kl_control", metric="exact_match")
control_kl = [r["value"] for r in saved if r["notebook"] == "08_superhf_kl_control" and r["metric"] == "mean_kl_to_prior"]
with_kl = results.accuracies(saved, "test", notebook="08_superhf", variant="SuperHF kl=0.35", metric="exact_match")
without = results.accuracies(saved, "test", notebook="08_superhf", variant="SuperHF kl=0.0", metric="exact_match")
print(f"test exact match over {len(control)} seeds: kl=0 at lr {CONTROL_LR} {fmt_mean_std(control)} (mean KL to the prior "
      f"over training {np.mean(control_kl):.3f}); kl=0.35 at lr 3e-3 {fmt_mean_std(with_kl)}; kl=0 at lr 3e-3 {fmt_mean_std(without)}")
c = compare(control, with_kl)
print(c.sentence(f"kl=0 at lr {CONTROL_LR}", "kl=0.35 at lr 3e-3") + " " + (
    "The KL term protects more than a smaller step does." if c.verdict == "below" else
    "A smaller step alone protects gold accuracy at least as well: what the KL term buys here is staying near the "
    "prior, which a lower learning rate buys too; this run does not show a benefit of the KL term beyond that."))

# %% [markdown]
# **Reading the run.** The KL coefficient orders the SuperHF rows: the less the policy is held to its prior,
# the further its gold accuracy falls; the control above says whether the KL term does more than a smaller
# learning rate would. Without the KL term the figure shows no collapse onto one reply; the
# "what kl=0 turned into" line above says whether its replies drifted into many different wrong answers
# instead (a failure the weak proxy does not punish). PPO on the same proxy is the textbook picture of
# overoptimization when its line above reports reward hacking: its proxy reward climbs for most of the run while
# the gold accuracy of its samples falls. The oracle run, which cannot hack anything, tells how much of a
# drop comes from the loop itself: a few hundred kept samples at temperature 1.0 are noisier supervision than
# the gold answers the start policy learned from. And the cheapest use of this proxy, best-of-N at inference,
# is a warning before any training starts: when it picks worse answers than greedy decoding, imitating its
# picks cannot help.

# %% [markdown]
# **The paper's claims next to ours.** Mukobi et al. (abstract) report, on LLaMA-7B with reward models
# trained on human preference data, that SuperHF exceeds PPO-based RLHF on the training objective, trades
# high reward against low reward hacking (which they measure with METEOR similarity) more easily and
# favourably, improves downstream calibration, and performs the same as RLHF in their GPT-4-based
# evaluation. The verdicts above test the first two here, with a gold checker where the paper has no ground
# truth:
#
# | paper | here |
# |---|---|
# | SuperHF's training reward above PPO's | the "SuperHF (kl 0.35) vs PPO" line, proxy reward |
# | a favourable reward / hacking trade-off, the KL term keeping METEOR low | "The KL term" line, the kl sweep in the figure and the table, and the smaller-step control |
# | (not measurable there) reward hacking as lost true quality | the kl lines: proxy reward vs gold accuracy, against the oracle run |
#
# Why the tiny world can disagree with the paper: the proxy here is small and trained on a few hundred pairs,
# so it is much easier to exploit than a reward model trained on human data; each run here is short (the
# paper's runs see thousands of prompts) and SuperHF trains on only one reply per prompt while PPO updates on
# every sampled reply; and exact match punishes any drift from the one gold string, which a learned reward
# does not.

# %% [markdown]
# ### The trade-off, seed by seed
#
# Each point is one trained model: the proxy's score of its greedy test answers (what was optimized) against
# its gold test accuracy (what we want), coloured by METEOR similarity. The start policy and the best-of-N
# row are references.

# %%
fig, ax = plt.subplots(figsize=(8, 4.6))
markers = {label: m for label, m in zip([*LABELS.values(), "SuperHF oracle kl=0.35", "PPO + LoRA", "SFT on gold answers",
                                         "best-of-N (proxy picks)", "start policy"], "os^Dv*PXh")}
top = max(0.05, max(v for label in markers for v in meteor_of(label)))  # the colour scale spans what was measured
for label, marker in markers.items():
    x, y = proxy_of(label), test_acc(label)
    sc = ax.scatter(x, y, c=meteor_of(label), cmap="viridis", vmin=0, vmax=top, marker=marker, s=70, edgecolor="k",
                    label=label + (" (x: the max over N)" if label.startswith("best-of-N") else ""))
ax.set(xlabel="proxy reward of greedy test answers", ylabel="gold test accuracy", ylim=(-0.02, 1.02),
       title="proxy reward vs gold accuracy (colour: METEOR similarity)")
plt.colorbar(sc, ax=ax, label="METEOR similarity (higher: less diverse)")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.25, 0.5))
plt.tight_layout(); plt.show()

# %% [markdown]
# ### What it cost
#
# Wall time and peak memory (above the start of the run) per run, measured in the same loop, the rows
# alternating per seed; per 1000 sampled replies for the online rows.

# %%
lines = ["| row | seconds per run | seconds per 1000 sampled replies | peak memory above start, MB |", "|---|---|---|---|"]
for label, run in RUNS.items():
    seconds, peak = [run[s]["seconds"] for s in SEEDS], [run[s]["peak_mb"] for s in SEEDS]
    per_k = f"{1000 * np.mean(seconds) / REPLIES:.1f}" if label != "SFT on gold answers" else "–"
    lines.append(f"| {label} | {np.mean(seconds):.1f} | {per_k} | {np.mean(peak):.0f} |")
display(Markdown("\n".join(lines)))
shf, ppo_s = np.mean([RUNS[MAIN][s]["seconds"] for s in SEEDS]), np.mean([RUNS["PPO + LoRA"][s]["seconds"] for s in SEEDS])
print(f"PPO took {ppo_s / shf:.1f}x SuperHF's wall time for the same {REPLIES} sampled replies")


# %%
def show(label, seed, start):
    rows = [r for r in table_runs[label][seed]["rows"] if r.get("split") == "test"]
    start = min(start, max(0, len(rows) - 8))
    display(HTML(plots.samples_html({label: rows}, ids=[TEST[i]["id"] for i in range(start, start + 8)])))


widgets.interact(show, label=[l for l in table_runs if "gold picks" not in l and l != "best-of-N (proxy picks)"],
                 seed=list(SEEDS), start=widgets.IntSlider(0, 0, len(TEST) - 8, step=8));

# %% [markdown]
# *Reading without running?* The explorer above needs a live kernel (a notebook opened from a fresh clone, or on a code host, shows one line of text in its place). Below is its first view as a plain output; run the notebook to explore.

# %%
show("start policy", SEEDS[0], 0)  # the explorer's first view, as a static table

# %%
saved = []
for label, run in table_runs.items():
    method = "superhf" if label.startswith("SuperHF") else "ppo" if label.startswith("PPO") else "sft" if "SFT" in label or label == "start policy" else "best-of-n"
    for seed, out in run.items():
        tags = dict(notebook="08_superhf", method=method, variant=label, model=MODEL_NAME, seed=seed, device=DEVICE,
                    steps=STEPS if method == "superhf" else PPO_STEPS if method == "ppo" else None,
                    train_seconds=out.get("seconds"), peak_mem_mb=out.get("peak_mb"))
        if tags["steps"] and out.get("seconds"):
            tags["step_time_s"] = out["seconds"] / tags["steps"]
        saved += results.rows_from_eval(out["rows"], **tags)
        for metric, key in (("proxy_reward", "proxy"), ("meteor_similarity", "meteor")):
            if key in out:
                saved.append(results.metric_row(metric, out[key], "test", **tags))
print("saved", results.save("08_superhf", saved).name, f"({len(saved)} rows); whole notebook {(time.time() - T0) / 60:.1f} min"
      + (" (light profile)" if LIGHT else ""))

# %% [markdown]
# ## Exercises
#
# Hints and worked solutions are folded: click to open. The solutions are code to paste into a new cell
# after the cells they name; none of them runs by default.
#
# **1.** Make the proxy better (`RM_NOISE = 0`, `RM_PAIRS = 800`) and rerun sections 2 to 6. Does the kl=0
# run still hack the proxy, and does SuperHF with kl 0.35 now improve gold accuracy?
#
# <details><summary>Hint</summary>
#
# A better proxy ranks more of the policy's own samples the way the checker does, so the best-of-16 choice is
# right more often. Compare the proxy's held-out pair accuracy and the "best-of-N (proxy picks)" row first:
# if best-of-N does not beat greedy, SuperHF has nothing good to imitate.
# </details>
#
# <details><summary>Solution</summary>
#
# Change the parameters cell and rerun from it (about 20 minutes), or for one seed and two coefficients:
#
# ```python
# rm_pairs = noisy_pairs(world_pairs(pair_prompts, own, corruptions=1, max_sampled=2, seed=0), 800, 0.0, seed=0)
# RM = train_reward_model(reward_model_from(START, tokenizer, device=DEVICE, seed=0)[0], tokenizer, rm_pairs,
#                         TrainConfig(steps=RM_STEPS, batch_size=16, lr=1e-3, warmup_steps=4, seed=0)).model
# PROXY = reward_fn(RM, tokenizer)
# print("held-out pair accuracy", pair_accuracy(RM, tokenizer, held_out))
# for kl in (0.0, 0.35):
#     loop = superhf.SuperHF(fresh_lora(START, superhf.LORA), tokenizer, TRAIN, PROXY, ONLINE, superhf.Config(kl_coef=kl))
#     loop.run()
#     out = judged(loop.model, 0)
#     print(kl, "test", np.mean([r["correct"] for r in out["rows"] if r["split"] == "test"]), "proxy", out["proxy"])
# ```
# </details>
#
# **2.** The learning rate was not tuned. Try `LR` in {1e-3, 1e-2} with kl 0.35 on `dev` (not `test`).
#
# <details><summary>Hint</summary>
#
# Too small and the adapter barely moves in 60 superbatches (the KL column of the history stays near 0); too
# large and even the KL term cannot hold the policy: watch the gold accuracy of the samples.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# for lr in (1e-3, 3e-3, 1e-2):
#     loop = superhf.SuperHF(fresh_lora(START, superhf.LORA), tokenizer, TRAIN, PROXY, replace(ONLINE, lr=lr),
#                            superhf.Config(kl_coef=0.35))
#     loop.run()
#     dev_rows = evaluate(loop.model, tokenizer, DEV, max_new_tokens=MAX_NEW_TOKENS)
#     print(lr, "dev", np.mean([r["correct"] for r in dev_rows]), "final KL", loop.history[-1]["kl"])
# ```
# Pick the rate with the best dev accuracy; only then read its test row.
# </details>
#
# **3.** Is the KL term's effect just a smaller step? Run kl 0 with a learning rate lowered until its mean KL
# to the prior over the run matches the kl 0.35 run's, and compare gold accuracy and METEOR.
#
# <details><summary>Hint</summary>
#
# `np.mean([h["kl"] for h in loop.history])` is the run's mean KL to the prior. A penalty pulls back only
# where the policy moves away from the prior; a smaller learning rate slows every direction equally.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# target = np.mean([h["kl"] for h in RUNS[LABELS[0.35]][SEEDS[0]]["history"]])
# for lr in (LR / 3, LR / 10):
#     loop = superhf.SuperHF(fresh_lora(START, superhf.LORA), tokenizer, TRAIN, PROXY, replace(ONLINE, lr=lr),
#                            superhf.Config(kl_coef=0.0))
#     loop.run()
#     out = judged(loop.model, 0)
#     print(lr, "mean KL", np.mean([h["kl"] for h in loop.history]), "(target", target, ") test",
#           np.mean([r["correct"] for r in out["rows"] if r["split"] == "test"]), "METEOR", out["meteor"])
# ```
# </details>
#
# **4. Check yourself: write the KL to the prior.** Write `my_prior_kl(logits, prior_logits, mask)`: `logits` [B, T, V] of the policy (the adapter on),
# `prior_logits` [B, T, V] of the prior (the adapter off), `mask` [B, T] 1.0 on reply tokens; it returns one KL
# per reply, [B] (section 3). Check it with `check_piece(my_prior_kl, "superhf-prior-kl")`.
#
# <details><summary>Hint</summary>
#
# KL(prior || policy) at a token is sum_v p_prior(v) (log p_prior(v) - log p_policy(v)) over the whole
# vocabulary (`log_softmax` of each); average it over each reply's tokens.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import torch.nn.functional as F
#
# from sftkit.checks import check_piece
#
#
# def my_prior_kl(logits, prior_logits, mask):
#     log_prior, log_policy = F.log_softmax(prior_logits, -1), F.log_softmax(logits, -1)
#     per_token = (log_prior.exp() * (log_prior - log_policy)).sum(-1)  # [B, T]
#     return (per_token * mask).sum(1) / mask.sum(1)                    # mean over each reply's tokens
#
#
# check_piece(my_prior_kl, "superhf-prior-kl")
# ```
#
# The direction matters: weighting by the prior's probabilities penalizes the policy for dropping what the prior
# says, which is what keeps the filtered fine-tuning from collapsing onto a few high-reward replies.
# </details>
#
# ## Run it from the command line
#
# `sftkit train superhf` runs the same loop with the official adapter (LoRA r=4, alpha 32, q/v) on any model.
# Without `--data` it uses the tiny world's train prompts and the gold checker as the reward; `--reward
# rm:PATH` uses a reward model saved with `save_pretrained` (for example `RM.save_pretrained("runs/rm")`
# and the tokenizer beside it), and `package.module:function` any function of (records, replies).
#
# ```bash
# sftkit train sft --output runs/start --steps 100
# sftkit train superhf --model runs/start --output runs/superhf --steps 60 --lr 3e-3 --kl-coef 0.35 --reward rm:runs/rm
# ```
