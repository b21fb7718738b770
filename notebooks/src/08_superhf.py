# %% [markdown]
# # 08 · SuperHF: best-of-N supervision with a KL prior, against PPO on a proxy of known quality
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
# - why a reward proxy must pass one test before any of this can help: best-of-N under the proxy must pick
#   better replies than a random sample;
# - what *reward hacking* looks like when the proxy has a known, exploitable flaw: the proxy's score climbs
#   while the answers get worse, measured exactly because the tiny world has a gold checker;
# - how to read the paper's trade-off as a curve of proxy reward against gold accuracy, one point per KL
#   setting, for SuperHF and for PPO on the same proxy and the same sampled replies, and how to compare two
#   such curves with a confidence interval.
#
# **Where the paper claims its effect:** a reward model that is a useful but imperfect proxy; the
# claim is a better reward / reward-hacking trade-off than PPO. Here the proxy's quality is a controlled
# variable rather than an accident of training: it is the gold checker with the labels of a fixed share of the
# prompts flipped (section 2), so it is useful (best-of-N under it beats a random sample, printed before any
# training) and exploitable in a known place.
#
# **Headline claims, named before running** (test split, `sftkit.stats.compare`; the rest is secondary, with
# Holm-adjusted p-values):
# 1. the paper's first claim: SuperHF (kl 0.35, the official coefficient) reaches a higher proxy reward than PPO
#    (β 0.2, the paper's and TRL's initial coefficient) on the same proxy and the same number of sampled
#    replies, measured on the greedy test answers;
# 2. the paper's trade-off claim: at the highest proxy reward both methods' curves reach, SuperHF keeps more gold
#    accuracy than PPO (each curve linearly interpolated between its KL settings and its start policy).
#
# **What varies across seeds:** everything random in the pipeline except the base model and the proxy: each
# seed trains its own start policy (the SFT batch order), its own adapters, its own prompt order and every
# sampled reply. The base model is the committed tiny model, and the proxy is a fixed program.
#
# **Runtime** (2-core laptop CPU): about 14 minutes with the settings below (each seed's start policy and
# precondition check, then 7 runs per seed: PPO's three take three quarters of the time), under 2 minutes with
# `SFTKIT_LIGHT=1` (one seed, two settings per method, a third of the superbatches: what `make test` runs).
# On a GPU (not measured yet), set `MODEL_NAME` to a Hugging Face chat model and `DEVICE = "cuda"`: the same
# cells run.
#
# Settings (the cell is tagged `parameters`):

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)
START_STEPS = 100          # each seed's start policy: SFT on the world's train split, stopped early (room to improve)
STEPS = 20 if LIGHT else 60  # superbatches per SuperHF run; PPO gets the same number of steps and replies
PROMPTS_PER_STEP = 2       # prompt accumulation (official: 2)
SAMPLES = 16               # replies per prompt, the N of best-of-N (official: 16)
LR = 1e-3                  # SuperHF's constant learning rate, PPO's too (official: 2e-5, cosine, on 7B); exercise 2
KL_COEFS = (0.0, 0.35) if LIGHT else (0.0, 0.35, 1.0)  # SuperHF's KL sweep; official default 0.35
PPO_BETAS = (0.05, 0.2) if LIGHT else (0.05, 0.2, 1.0)  # PPO's KL coefficients (fixed; paper / TRL start: 0.2)
BLIND = None               # the proxy's blind spot (it prefers any wrong reply to the right one there): None = the two
                           # skills the start policies answer best on dev (section 2), or a tuple of skill names
MAX_NEW_TOKENS = 32        # longest sampled reply (the world's answers are shorter)
CHECK_EVERY = 4 if LIGHT else 2  # the precondition check uses every k-th dev prompt

# %%
# %matplotlib inline
import math
import time
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from sftkit import plots, results, stats
from sftkit.data import load_world
from sftkit.evaluate import evaluate, sample_answers
from sftkit.experiment import BASELINE
from sftkit.methods import ppo, superhf
from sftkit.model import fresh_lora, load_model, pick_device, set_seed
from sftkit.online import gold_reward
from sftkit.train import train
from sftkit.world import check

T0 = time.time()
DEVICE = pick_device(DEVICE)
TRAIN, DEV, TEST = load_world("train"), load_world("dev"), load_world("test")
CHECK = DEV[::CHECK_EVERY]
print(f"device {DEVICE}; train {len(TRAIN)} prompts; precondition on {len(CHECK)} dev prompts; test {len(TEST)} prompts")

# %% [markdown]
# ## 1. Why SuperHF exists
#
# RLHF as InstructGPT did it trains a reward model on human preferences and then optimizes the policy
# against it with PPO: a value head, advantages, clipped ratios, a KL penalty (notebook 07 builds all of it).
# PPO is powerful but fiddly and expensive, and it *will* find whatever the reward model mistakenly likes:
# reward hacking.
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
         ("proxy reward", "scores every reply\n(here: a known flaw)"), ("keep the best", "top-1 reply per prompt"),
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
# ## 2. A proxy of known quality, and the precondition
#
# In RLHF the proxy is a reward model learned from human comparisons, and it is wrong in places nobody has
# mapped. Here the proxy's flaw is chosen, so that hacking it can be measured: `superhf.BlindSpotProxy` is the
# gold checker (1 right, 0 wrong) on every skill except the ones in `BLIND`, where its labels are flipped:
# any wrong reply scores 1 and the right one 0, like a reward model that learned those skills backwards.
# `BLIND` names two skills the start policies have already learned, so a policy that exploits the flaw loses
# gold accuracy there that it had: the two with the best greedy accuracy on the dev prompts of the precondition
# check, mean over seeds (chosen on `dev`, never on `test`). On the other skills the proxy is exact, so it is
# *useful*: best-of-N under it can find a right reply the policy samples only rarely.
#
# Each seed's start policy is the tiny base model after `START_STEPS` steps of plain SFT (notebook 01's recipe,
# stopped early so there is room to improve).

# %%
START, GREEDY = {}, {}
for seed in SEEDS:
    base, tokenizer = load_model(MODEL_NAME, device=DEVICE)
    set_seed(seed)
    START[seed] = train(base, tokenizer, TRAIN, replace(BASELINE, steps=START_STEPS, seed=seed)).model
    GREEDY[seed] = [r["correct"] for r in evaluate(START[seed], tokenizer, CHECK, max_new_tokens=MAX_NEW_TOKENS)]
dev_skill = {skill: np.mean([GREEDY[s][i] for s in SEEDS for i, r in enumerate(CHECK) if r["skill"] == skill])
             for skill in sorted({r["skill"] for r in CHECK})}
BLIND = BLIND or tuple(sorted(sorted(dev_skill, key=lambda k: (-dev_skill[k], k))[:2]))
print("start policies' greedy accuracy on dev, by skill: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in
                                                                        sorted(dev_skill.items(), key=lambda kv: -kv[1])))
PROXY = superhf.BlindSpotProxy(BLIND)
print(plots.source_of(superhf.BlindSpotProxy))
print(f"the proxy: {PROXY.__name__}; flipped prompts: {sum(r['skill'] in BLIND for r in TEST)} of {len(TEST)} test, "
      f"{sum(r['skill'] in BLIND for r in TRAIN)} of {len(TRAIN)} train")

# %% [markdown]
# Before any training on the proxy, the precondition SuperHF rests on: sample `SAMPLES` replies per dev prompt
# at temperature 1.0, top-p 0.95 (SuperHF's sampling) and compare, in gold accuracy, the reply the proxy picks with a random sample (the first of the N), with greedy decoding,
# and with the reply the gold checker would pick (a right reply among the N, "pass@N"). The proxy's accuracy is
# measured on the policy's *own* samples: the share of (right, wrong) reply pairs to the same prompt that it
# ranks the way the checker does (a tie counts as a miss).

# %%
PRE = {}
BON, RANDOM, PASS = f"best-of-{SAMPLES}, proxy picks", "a random sample", f"best-of-{SAMPLES}, gold picks (pass@{SAMPLES})"
for seed in SEEDS:
    set_seed(seed)
    groups = sample_answers(START[seed], tokenizer, CHECK, n=SAMPLES, temperature=1.0, top_p=0.95, seed=seed,
                            max_new_tokens=MAX_NEW_TOKENS)
    picked = superhf.best_of_n(PROXY, CHECK, groups)
    PRE[seed] = {"greedy decoding": GREEDY[seed],
                 RANDOM: [check(r, g[0]) for r, g in zip(CHECK, groups)],
                 BON: [check(r, a) for r, a in zip(CHECK, picked)],
                 PASS: [any(check(r, a) for a in g) for r, g in zip(CHECK, groups)],
                 "agreement": superhf.pair_agreement(PROXY, CHECK, groups)}


def pre_table(key, mask=None):
    # per-item gold outcomes (seeds, items) of one way of answering the dev prompts
    table = np.array([PRE[s][key] for s in SEEDS], dtype=float)
    return table if mask is None else table[:, mask]


blind_dev = np.array([r["skill"] in BLIND for r in CHECK])
print("gold accuracy on dev (mean over seeds): " + "; ".join(
    f"{key} {100 * pre_table(key).mean():.1f}% (flipped skills {100 * pre_table(key, blind_dev).mean():.1f}%, "
    f"the others {100 * pre_table(key, ~blind_dev).mean():.1f}%)" for key in ("greedy decoding", RANDOM, BON, PASS)))
share = [PRE[s]["agreement"][0] for s in SEEDS]
print(f"the proxy ranks {100 * np.mean(share):.1f}% of the start policies' own (right, wrong) reply pairs the way the "
      f"checker does (mean over seeds; {int(np.mean([PRE[s]['agreement'][1] for s in SEEDS]))} pairs per seed)")
PRECONDITION = stats.compare(pre_table(BON), pre_table(RANDOM))
print("Precondition, best-of-N under the proxy vs a random sample:", PRECONDITION.sentence(BON, RANDOM))
print("  and vs greedy decoding:", stats.compare(pre_table(BON), pre_table("greedy decoding")).sentence(BON, "greedy"))
print("The precondition " + {
    "above": "holds: imitating the proxy's picks has something better than the policy's own samples to learn.",
    "below": "FAILS: the proxy's picks are worse than a random sample, so imitating them can only hurt, and nothing "
             "below can be read as a test of SuperHF.",
    "inconclusive": "is not shown (the interval includes 0; with one seed it always does): read what follows as a "
                    "demonstration, not as a test of SuperHF."}[PRECONDITION.verdict])

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
# replies and keeps the top-scored one per prompt; with `skip_ties` (on by default) it keeps nothing of a prompt
# whose replies all score the same, so a 0/1 reward never makes the loop imitate a reply it scored 0 only
# because every reply did.
#
# Where this differs from the official loop, on purpose: the KL and the NLL are read exactly at the positions
# that predict reply tokens (the official mask is the unshifted labels, one position late, and also counts
# padding); gradients are clipped at norm 1 (the official loop does not clip); the learning rate is constant
# (official: cosine with 32 warm-up superbatches); ties are skipped. The code, as it runs (`keep_best`,
# `prior_kl` and `superhf_loss` in `sftkit/methods/superhf.py`):

# %%
for fn in (superhf.keep_best, superhf.prior_kl, superhf.superhf_loss):
    print(plots.source_of(fn))
print("defaults:", superhf.Config(), "| LoRA:", superhf.LORA)

# %% [markdown]
# ## 4. The runs: SuperHF's KL sweep, PPO's KL sweep, and an oracle
#
# Per seed, from that seed's start policy, one after the other (so their costs are measured on the same
# machine state):
#
# | row | reward it optimizes | what it does |
# |---|---|---|
# | SuperHF, kl_coef ∈ `KL_COEFS` | the proxy | `STEPS` superbatches of `PROMPTS_PER_STEP` × `SAMPLES` replies, one optimizer step per 2 kept replies, learning rate `LR` |
# | SuperHF oracle (kl 0.35) | the gold checker | the same loop with a reward that cannot be hacked (ties skipped: it never imitates a wrong reply) |
# | PPO + LoRA, β ∈ `PPO_BETAS` | the proxy | `STEPS` steps of `PROMPTS_PER_STEP` × `SAMPLES` prompts, one reply each, sampled like SuperHF's; one optimizer step per step (one epoch, one minibatch); notebook 07's adapter (r=16, alpha 32); SuperHF's learning rate `LR` (not tuned for either method; notebook 07 tunes PPO's rate on dev) |
#
# Both methods see the same number of sampled replies. PPO takes one optimizer step per step; SuperHF at most
# one per superbatch, fewer when ties are skipped (section 7 counts them: SuperHF took fewer), so SuperHF does
# not win by taking more gradient steps, while PPO may gain something from its extra ones. PPO's KL penalty is a fixed β here. TRL's adaptive controller targets 6 nats per reply with a
# horizon of 10,000 replies: on replies of a few tokens that target barely constrains anything, and in a run of
# this length the controller can move β by only a few percent. The mean KL each run reached per reply token is
# in the cost table (section 7).

# %%
ONLINE = replace(superhf.ONLINE, steps=STEPS, prompts_per_step=PROMPTS_PER_STEP, samples_per_prompt=SAMPLES,
                 lr=LR, max_new_tokens=MAX_NEW_TOKENS)
BATCH = PROMPTS_PER_STEP * SAMPLES  # sampled replies per step, both methods
PPO_ONLINE = replace(ppo.ONLINE, steps=STEPS, prompts_per_step=BATCH, samples_per_prompt=1, temperature=ONLINE.temperature,
                     top_p=ONLINE.top_p, max_new_tokens=MAX_NEW_TOKENS)
PPO_CONFIG = ppo.Config(kl_target=None, ppo_epochs=1, minibatch_size=BATCH)
ORACLE = "SuperHF oracle kl=0.35"
ARMS = {**{f"SuperHF kl={kl}": ("superhf", PROXY, superhf.Config(kl_coef=kl)) for kl in KL_COEFS},
        ORACLE: ("superhf", gold_reward, superhf.Config(kl_coef=0.35)),
        **{f"PPO beta={b}": ("ppo", PROXY, replace(PPO_CONFIG, init_kl_coef=b)) for b in PPO_BETAS}}


def judged(model):
    # greedy test answers: per-item gold outcomes and per-item proxy rewards
    rows = evaluate(model, tokenizer, TEST, max_new_tokens=MAX_NEW_TOKENS)
    return {"rows": rows, "gold": np.array([r["correct"] for r in rows], dtype=float),
            "proxy": PROXY(TEST, [r["prediction"] for r in rows]).numpy()}


def trained(method, reward, config, seed):
    torch.manual_seed(seed)
    if method == "superhf":
        return superhf.SuperHF(fresh_lora(START[seed], superhf.LORA), tokenizer, TRAIN, reward, replace(ONLINE, seed=seed), config)
    return ppo.PPO(fresh_lora(START[seed], ppo.LORA), tokenizer, TRAIN, reward, replace(PPO_ONLINE, seed=seed), config)


RUNS = {"start policy": {}, **{label: {} for label in ARMS}}
for seed in SEEDS:
    clock = time.time()
    RUNS["start policy"][seed] = judged(START[seed])
    for label, (method, reward, config) in ARMS.items():
        loop = trained(method, reward, config, seed)
        loop.run()
        RUNS[label][seed] = {**judged(loop.model), "history": loop.history, "peak_mb": loop.peak_mem_mb,
                             "seconds": sum(h["seconds"] for h in loop.history)}
    print(f"seed {seed} ({time.time() - clock:.0f}s), test gold / proxy: " + "; ".join(
        f"{label} {100 * run[seed]['gold'].mean():.1f}% / {run[seed]['proxy'].mean():.3f}" for label, run in RUNS.items()))


# %% [markdown]
# ## 5. The trade-off: proxy reward against gold accuracy
#
# Each point is one setting: the proxy's mean reward of its greedy test answers (what was optimized) against
# their gold accuracy (what we want), the mean over seeds with the seeds' range as bars. Each method's curve runs
# from the start policy through its KL settings, from the strongest KL penalty to the weakest (none, for SuperHF). A point to the right
# gained proxy reward; a point lower lost gold accuracy. Reward hacking is the curve bending down as it moves
# right. On the right, the proxy reward of the sampled replies during training (a moving average over 10 steps,
# mean over seeds): the training reward of the paper's first claim. Read SuperHF's lines there with care: within
# a seed its runs draw the same prompts in the same order, two per superbatch, so they rise and fall together
# with which prompts came up rather than with what was learned; PPO's 32 prompts per step average that out.

# %%
def point(label, seed):
    return RUNS[label][seed]["proxy"].mean(), RUNS[label][seed]["gold"].mean()


SUPERHF = [f"SuperHF kl={kl}" for kl in sorted(KL_COEFS, reverse=True)]
PPO_ARMS = [f"PPO beta={b}" for b in sorted(PPO_BETAS, reverse=True)]
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5))
for name, labels, color in (("SuperHF", SUPERHF, "C0"), ("PPO", PPO_ARMS, "C3")):
    chain = ["start policy", *labels]
    xy = np.array([[point(label, s) for s in SEEDS] for label in chain])  # [settings, seeds, 2]
    mean = xy.mean(1)
    ax.errorbar(mean[:, 0], mean[:, 1], xerr=[mean[:, 0] - xy[:, :, 0].min(1), xy[:, :, 0].max(1) - mean[:, 0]],
                yerr=[mean[:, 1] - xy[:, :, 1].min(1), xy[:, :, 1].max(1) - mean[:, 1]], color=color, marker="o",
                capsize=3, label=name)
    for label, (x, y) in zip(chain[1:], mean[1:]):
        ax.annotate(label.split(" ", 1)[1], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8, color=color)
    for label, style in zip(labels, ("-", "--", ":")):
        curve = np.mean([plots.moving_average([h["reward"] for h in RUNS[label][s]["history"]], 10) for s in SEEDS], axis=0)
        ax2.plot((np.arange(len(curve)) + 10) * BATCH / 1000, curve, color=color, ls=style, label=label)
ox, oy = np.mean([point(ORACLE, s) for s in SEEDS], axis=0)
ax.scatter([ox], [oy], marker="*", s=150, color="k", label=ORACLE + " (trained on gold)", zorder=3)
sx, sy = np.mean([point("start policy", s) for s in SEEDS], axis=0)
ax.annotate("start", (sx, sy), textcoords="offset points", xytext=(-30, -12), fontsize=8)
ax.set(xlabel="proxy reward of the greedy test answers", ylabel="gold test accuracy",
       title="the trade-off (mean over seeds; bars: the seeds' range)")
ax.legend(fontsize=8)
ax2.set(xlabel="sampled replies (thousands)", ylabel="mean proxy reward of the sampled replies",
        title="training reward (moving average over 10 steps)")
ax2.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# Where the answers went: gold accuracy on the flipped skills (the blind spot, where a higher proxy reward means
# wrong answers) and on the others (where the proxy is exact), mean over seeds.

# %%
FLIPPED = np.array([r["skill"] in BLIND for r in TEST])


def items(label, key="gold", mask=None):
    # per-item scores (seeds, items) of one row on test: "gold" outcomes or "proxy" rewards, optionally a subset
    table = np.array([RUNS[label][s][key] for s in SEEDS])
    return table if mask is None else table[:, mask]


lines = ["| row | proxy reward | gold accuracy | gold, flipped skills | gold, other skills |", "|---|---|---|---|---|"]
for label in RUNS:
    lines.append(f"| {label} | {items(label, 'proxy').mean():.3f} | {100 * items(label).mean():.1f}% | "
                 f"{100 * items(label, mask=FLIPPED).mean():.1f}% | {100 * items(label, mask=~FLIPPED).mean():.1f}% |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 6. Verdicts
#
# **Headline 1** compares proxy rewards item by item (the proxy scores each test answer 0 or 1, so
# `stats.compare` treats it like exact match). **Headline 2** needs a point on each curve at the same proxy
# reward: the target is the highest seed-mean proxy reward that *both* methods reach with some setting; each
# seed's curve (its start policy and its settings, in order of proxy reward) is interpolated linearly at that
# reward (`superhf.gold_at_proxy`; a seed whose curve stops short takes its end point), and the two methods'
# per-seed values are compared with `stats.compare_means` (unpaired: interpolated accuracies have no per-item
# outcomes; the item part is the binomial one of the test split's size).

# %%
MAIN_SHF, MAIN_PPO = "SuperHF kl=0.35", "PPO beta=0.2"
print(stats.RULE)
H1 = stats.compare(items(MAIN_SHF, "proxy"), items(MAIN_PPO, "proxy"))
print("\nHeadline 1 (proxy reward of the greedy test answers):", H1.sentence("SuperHF kl 0.35", "PPO β 0.2", unit="x0.01 reward"))


def curve_points(labels, seed):
    return [point("start policy", seed)] + [point(label, seed) for label in labels]


TARGET = min(max(np.mean([point(label, s)[0] for s in SEEDS]) for label in labels) for labels in (SUPERHF, PPO_ARMS))
MATCHED = {name: [superhf.gold_at_proxy(curve_points(labels, s), TARGET) for s in SEEDS]
           for name, labels in (("SuperHF", SUPERHF), ("PPO", PPO_ARMS))}
H2 = stats.compare_means(MATCHED["SuperHF"], MATCHED["PPO"], n=len(TEST), why="interpolated between runs")
print(f"Headline 2 (gold test accuracy at proxy reward {TARGET:.3f}, the highest both curves reach):",
      H2.sentence("SuperHF", "PPO"))

SECONDARY = {
    "SuperHF kl 0.35 vs its start policy, gold": stats.compare(items(MAIN_SHF), items("start policy")),
    "PPO β 0.2 vs its start policy, gold": stats.compare(items(MAIN_PPO), items("start policy")),
    "the oracle vs its start policy, gold": stats.compare(items(ORACLE), items("start policy")),
    "the oracle vs SuperHF kl 0.35 on the proxy, gold": stats.compare(items(ORACLE), items(MAIN_SHF)),
    f"SuperHF without KL (kl {min(KL_COEFS)}) vs its start policy, gold on the flipped skills":
        stats.compare(items(SUPERHF[-1], mask=FLIPPED), items("start policy", mask=FLIPPED)),
    f"PPO with the weakest KL (β {min(PPO_BETAS)}) vs its start policy, gold on the flipped skills":
        stats.compare(items(PPO_ARMS[-1], mask=FLIPPED), items("start policy", mask=FLIPPED)),
    f"SuperHF kl {min(KL_COEFS)} vs kl {max(KL_COEFS)}, gold on the flipped skills":
        stats.compare(items(SUPERHF[-1], mask=FLIPPED), items(SUPERHF[0], mask=FLIPPED)),
    f"PPO β {min(PPO_BETAS)} vs β {max(PPO_BETAS)}, gold on the flipped skills":
        stats.compare(items(PPO_ARMS[-1], mask=FLIPPED), items(PPO_ARMS[0], mask=FLIPPED)),
}
print(f"\nSecondary, test ({len(SECONDARY)} comparisons; Holm-adjusted p):")
for (name, c), p in zip(SECONDARY.items(), stats.holm([c.p_value for c in SECONDARY.values()])):
    print(f"  {name}: {c.mean_a * 100:.1f} vs {c.mean_b * 100:.1f}, {c.summary()}; p_Holm = {p:.2g}")


# %% [markdown]
# **What we saw** (the committed run: 3 seeds; the lines above are the evidence for each sentence).
#
# - *The proxy is useful and its flaw is visible before training.* The flipped skills, chosen on dev, are `code`
#   and `sentiment`, which every start policy answered right on dev. Best-of-N under the proxy beats both a random
#   sample and greedy decoding (the precondition lines, both "above"), but on the flipped skills its picks are
#   worse than a random sample: the flaw an optimizer can exploit is there in the numbers of section 2.
# - *Headline 1 is inconclusive.* PPO's greedy test answers score a higher mean proxy reward than SuperHF's
#   (49.3 against 43.5 hundredths), with the same sampled replies, but the interval includes 0 and the design
#   detects only gaps of about 15 hundredths. PPO also took more optimizer steps (section 7).
# - *Headline 2 is inconclusive.* The only proxy reward both curves reach is SuperHF's highest (its KL-free run);
#   there SuperHF's interpolated gold accuracy is lower than PPO's (50.7 against 58.2), but the interval is wide
#   (MDE 22 points: each seed has its own start policy, and interpolated accuracies have no per-item pairing).
#   This run cannot tell which method has the better trade-off.
# - *Both methods hack the proxy, and the KL coefficient controls it.* On the flipped skills, where the start
#   policies are at 99.3%, PPO with the weakest penalty falls to 0.0% on every seed while its proxy reward
#   climbs highest: "below" its start policy and below its strongest-β run, both after the Holm correction.
#   SuperHF drifts the same way, by less: 63.7% without a KL term, 77.3% at 0.35, 89.7% at 1.0. Without the KL
#   term it is below its start policy by its own interval (-35.7 points [-61.0, -10.4]) but not after the Holm
#   correction, and the direct test against its strongest KL is inconclusive.
# - *The loop itself does not help in this budget.* The oracle run, whose reward cannot be hacked and which never
#   imitates a wrong reply, is not distinguishable from its start policy: the replies it keeps, sampled at
#   temperature 1.0, add little to a policy already trained on the gold answers.
#
# **The paper's claims next to ours.** Mukobi et al. report (abstract; their models are LLaMA-7B-based, their
# reward models trained on human preference data) that SuperHF exceeds PPO-based RLHF on the training objective, trades high reward
# against low reward hacking (which they measure with METEOR similarity) more easily and favourably, improves
# downstream calibration, and performs the same as RLHF in their GPT-4-based evaluation. The verdicts above test
# the first two here, with a gold checker where the paper has no ground truth:
#
# | paper | here |
# |---|---|
# | SuperHF's training reward above PPO's | headline 1, and the training-reward panel of section 5 |
# | a favourable reward / hacking trade-off | headline 2: gold accuracy at a common proxy reward, on curves over each method's KL settings |
# | reward hacking measured with METEOR similarity (mode collapse) | not used: the tiny world's answers are one or a few words, so METEOR between replies to different prompts measures little; gold accuracy on the flipped skills measures hacking directly |
#
# Why the tiny world can disagree with the paper: the proxy here is exact except where it is exactly wrong, much
# sharper than a learned reward model's mix of small errors; each run is short (the paper's runs see thousands of
# prompts, SuperHF here keeps at most one reply for each of `STEPS` × `PROMPTS_PER_STEP` prompts, fewer after ties); and the start policy samples
# worse replies at temperature 1.0 than it decodes greedily, so imitating samples, even good ones, is noisy
# supervision.

# %% [markdown]
# ## 7. What it cost
#
# Wall time and peak memory (above the start of the run) per run, optimizer steps, and the mean KL to the prior
# per reply token that each run reached. The two KL columns are not the same quantity: SuperHF's is the exact
# KL(prior ‖ policy) over the vocabulary on its kept replies; PPO's is the sampled log-ratio (an estimate of
# KL(policy ‖ prior)) on all its replies.

# %%
def optimizer_steps(label, seed):
    history = RUNS[label][seed]["history"]
    if label.startswith("PPO"):
        return len(history) * PPO_CONFIG.ppo_epochs * math.ceil(BATCH / PPO_CONFIG.minibatch_size)
    return sum(math.ceil(h["kept"] / superhf.Config().minibatch_size) for h in history)


def kl_per_token(label, seed):
    history = RUNS[label][seed]["history"]
    if label.startswith("PPO"):
        return np.mean([h["kl"] / h["reply_tokens"] for h in history])
    return np.mean([h["kl"] for h in history if h["kept"]])


lines = ["| row | seconds per run | optimizer steps | mean KL to the prior per reply token | peak memory above start, MB |",
         "|---|---|---|---|---|"]
for label in ARMS:
    lines.append(f"| {label} | {np.mean([RUNS[label][s]['seconds'] for s in SEEDS]):.1f} | "
                 f"{np.mean([optimizer_steps(label, s) for s in SEEDS]):.0f} | "
                 f"{np.mean([kl_per_token(label, s) for s in SEEDS]):.4f} | {np.mean([RUNS[label][s]['peak_mb'] for s in SEEDS]):.0f} |")
display(Markdown("\n".join(lines)))
shf_s, ppo_s = (np.mean([RUNS[label][s]["seconds"] for s in SEEDS]) for label in (MAIN_SHF, MAIN_PPO))
print(f"PPO took {ppo_s / shf_s:.1f}x SuperHF's wall time for the same {STEPS * BATCH} sampled replies")


# %%
def show(label, seed, start):
    rows = RUNS[label][seed]["rows"]
    start = min(start, max(0, len(rows) - 8))
    display(HTML(plots.samples_html({label: rows}, ids=[TEST[i]["id"] for i in range(start, start + 8)])))


widgets.interact(show, label=list(RUNS), seed=list(SEEDS), start=widgets.IntSlider(0, 0, len(TEST) - 8, step=8));

# %% [markdown]
# *Reading without running?* The explorer above needs a live kernel (a notebook opened from a fresh clone, or on a code host, shows one line of text in its place). Below is its first view as a plain output; run the notebook to explore.

# %%
show("start policy", SEEDS[0], 0)  # the explorer's first view, as a static table

# %%
saved = []
for label, run in RUNS.items():
    method = "superhf" if label.startswith("SuperHF") else "ppo" if label.startswith("PPO") else "sft"
    for seed, out in run.items():
        tags = dict(notebook="08_superhf", method=method, variant=label, model=MODEL_NAME, seed=seed, device=DEVICE,
                    steps=STEPS if label in ARMS else START_STEPS, train_seconds=out.get("seconds"),
                    peak_mem_mb=out.get("peak_mb"))
        if out.get("seconds"):
            tags["step_time_s"] = out["seconds"] / STEPS
        saved += results.rows_from_eval(out["rows"], **tags)
        saved.append(results.metric_row("proxy_reward", out["proxy"].mean(), "test", n=len(TEST),
                                         items=results.encode_items(out["proxy"].tolist()),
                                         items_key=results.items_key([r["id"] for r in TEST]), **tags))
for name, method in (("SuperHF", "superhf"), ("PPO", "ppo")):
    for seed, value in zip(SEEDS, MATCHED[name]):
        saved.append(results.metric_row("gold_at_matched_proxy", value, "test", notebook="08_superhf", method=method,
                                         variant=f"{name} (KL sweep)", model=MODEL_NAME, seed=seed, device=DEVICE,
                                         n=len(TEST)))
print("saved", results.save("08_superhf", saved).name, f"({len(saved)} rows); whole notebook {(time.time() - T0) / 60:.1f} min"
      + (" (light profile)" if LIGHT else ""))

# %% [markdown]
# ## Exercises
#
# Hints and worked solutions are folded: click to open. The solutions are code to paste into a new cell
# after the cells they name; none of them runs by default.
#
# **1.** Make the proxy worse: flip the four skills the start policies answer best on dev instead of two, and
# rerun section 2's precondition check. Does best-of-N under the proxy still beat a random sample? What should happen to SuperHF if it
# does not?
#
# <details><summary>Hint</summary>
#
# The flipped skills are ones the start policy mostly gets right, so on them best-of-N under the proxy almost
# always finds a wrong reply. The more of them, the more the proxy's picks lose there what they gain elsewhere.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# worse = superhf.BlindSpotProxy(tuple(sorted(dev_skill, key=lambda k: (-dev_skill[k], k))[:4]))
# groups = sample_answers(START[0], tokenizer, CHECK, n=SAMPLES, temperature=1.0, top_p=0.95, seed=0,
#                         max_new_tokens=MAX_NEW_TOKENS)
# picked = superhf.best_of_n(worse, CHECK, groups)
# print("best-of-N", np.mean([check(r, a) for r, a in zip(CHECK, picked)]),
#       "random sample", np.mean([check(r, g[0]) for r, g in zip(CHECK, groups)]))
# ```
# When the precondition fails, SuperHF imitates replies worse than the policy's own: gold accuracy can only fall.
# </details>
#
# **2.** The learning rate was not tuned here (SuperHF and PPO share `LR`). Try `LR` in {3e-4, 3e-3} with kl
# 0.35 on `dev` (not `test`).
#
# <details><summary>Hint</summary>
#
# Each superbatch keeps at most 2 replies, and the LoRA scale (alpha / r = 8) multiplies every step: too large a
# rate and each noisy kept reply moves the policy a lot, too small and 60 superbatches barely move it (the KL
# column of the history stays near 0).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# for lr in (3e-4, 1e-3, 3e-3):
#     loop = superhf.SuperHF(fresh_lora(START[0], superhf.LORA), tokenizer, TRAIN, PROXY, replace(ONLINE, lr=lr),
#                            superhf.Config(kl_coef=0.35))
#     loop.run()
#     dev_rows = evaluate(loop.model, tokenizer, DEV, max_new_tokens=MAX_NEW_TOKENS)
#     print(lr, "dev", np.mean([r["correct"] for r in dev_rows]), "final KL", loop.history[-1]["kl"])
# ```
# Pick the rate with the best dev accuracy; only then read its test row.
# </details>
#
# **3.** PPO with TRL's adaptive KL controller: give PPO `kl_target=6.0` (nats per reply) and then a target
# scaled to these replies' length, and watch `kl_coef` in its history. Does β move?
#
# <details><summary>Hint</summary>
#
# The controller multiplies β by at most 1 + 0.2 × (replies per step) / horizon per step. Compare that with the
# number of steps here.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# for target, horizon in ((6.0, 10000), (0.5, 500)):
#     loop = trained("ppo", PROXY, replace(PPO_CONFIG, kl_target=target, kl_horizon=horizon), 0)
#     loop.run()
#     print(target, horizon, "beta from", loop.history[0]["kl_coef"], "to", loop.history[-1]["kl_coef"],
#           "KL per reply", np.mean([h["kl"] for h in loop.history]))
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
# rm:PATH` uses a reward model saved with `save_pretrained` (notebook 05 trains one), and
# `package.module:function` any function of (records, replies).
#
# ```bash
# sftkit train sft --output runs/start --steps 100
# sftkit train superhf --model runs/start --output runs/superhf --steps 60 --lr 1e-3 --kl-coef 0.35 --reward gold
# ```
