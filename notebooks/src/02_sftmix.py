# %% [markdown]
# # 02 · SFTMix: confidence maps from training dynamics, and a Mixup recipe
#
# **Paper:** *SFTMix: Elevating Language Model Instruction Tuning with Mixup Recipe*, Yuxin Xiao et al.,
# [arXiv 2410.05248](https://arxiv.org/abs/2410.05248). No official code is public; everything here follows the
# paper's description, and the details it leaves open are marked as **the tutorial's choice**.
#
# Plain SFT (next-token prediction, NTP) treats every training example alike. SFTMix first asks a reference
# model *how confident* it becomes on each example during training, splits the data at the median into a
# confident and a relatively unconfident half, and then trains with an extra **Mixup** term that interpolates
# the last-layer hidden states (and the labels) of confident / unconfident pairs. The idea: smooth the model's
# behaviour between the examples it finds easy and those it finds hard, so it overfits the easy ones less and
# generalises the hard ones better.
#
# **What you will learn**
# - how to record *training dynamics*: each example's response perplexity at several checkpoints of an NTP run;
#   SFTMix's confidence (minus the mean perplexity) and its median split; and Dataset Cartography's map (mean and
#   std of the gold response's probability), with its easy-to-learn, ambiguous and hard-to-learn regions;
# - which skills of the tiny world the model finds easy, and how the median split falls across skills;
# - how Mixup on hidden states works for a language model: response alignment, truncation, Beta(0.5, 0.5)
#   weights, mixed labels, and a batch sampler that balances the two halves;
# - where the paper claims the method works (a model that over-fits its fine-tuning data), how to show over-fitting
#   (the train/dev loss gap opening), and how SFTMix compares with plain SFT there, at two data sizes, over
#   several seeds that each draw their own data;
# - the control that separates "confidence matters" from "any Mixup regularizes": the same Mixup on a random
#   split of the data; and what SFTMix costs per step (the balanced sampler and the Mixup term, separately).
#
# **Runtime:** about 14 minutes on 2 CPU cores with the embedded tiny model (a reference run for the map, the
# cost comparison, then 24 runs of 120 steps: three arms, 5 seeds at 16 records per skill and 3 at 64, each SFTMix
# run with its own 40-step reference run); the light profile (`SFTKIT_LIGHT=1`) about 2. On a GPU with a 0.5B Hub
# model (set `MODEL_NAME`) the protocol and the code are the same; it has not been timed here.

# %% tags=["parameters"]
# Parameters (papermill can override these). MODEL_NAME: "tiny" (embedded), a local path, or a Hub id.
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"
DEVICE = None  # None: CUDA, else Apple's mps, else CPU
SEEDS = (0,) if LIGHT else (0, 1, 2, 3, 4)  # the headline regime (PER_SKILL[0]); each seed draws its own data
CONTRAST_SEEDS = (0,) if LIGHT else (0, 1, 2)  # the contrast regime (PER_SKILL[1])
PER_SKILL = (16,) if LIGHT else (16, 64)  # training records per skill in section 4 (of 240): over-fits, less so
STEPS = 30 if LIGHT else 120  # every arm's budget in section 4 (batch 32): 24 passes over 160 records, 6 over 640
REFERENCE_STEPS = 50 if LIGHT else 100  # section 1's reference run on the whole train split (for the map)
CHECKPOINTS = 3  # C: perplexity checkpoints of a reference run
MU = 0.2  # weight of the Mixup term (paper: 0.2)
ALPHA = 0.5  # lambda ~ Beta(alpha, alpha) (paper: 0.5)
COST_STEPS = 10 if LIGHT else 25  # optimizer steps per timing run in the cost comparison

# %%
import html
import time
from collections import defaultdict
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from sftkit import results
from sftkit.data import load_world, pad_collate, per_skill_draw, tokenize_dataset
from sftkit.experiment import BASELINE, Arm, fit_probe, run_arms
from sftkit.methods import get
from sftkit.methods.sftmix import BalancedSampler, mixup_loss, pair_rows, training_dynamics
from sftkit.model import load_model, pick_device, set_seed
from sftkit.plots import fit_curves, split_bars
from sftkit.results import compare_rows
from sftkit.stats import RULE, holm
from sftkit.train import BucketSampler, Probe, example_length, mean_padded_length, train
from sftkit.world import EVAL_SPLITS, SKILLS

CONFIG = BASELINE  # sections 1-3: the suite's shared recipe on the whole train split
SFTMIX = get("sftmix")  # the registered method (a MethodSpec): .trainer, .config (its knobs), .paper
MIX = SFTMIX.config(mu=MU, alpha=ALPHA)  # the paper's knobs; section 4's runs and the exercises change one
set_seed(0)
train_records = load_world("train")
tokenizer = load_model(MODEL_NAME, tokenizer_only=True)
dataset = tokenize_dataset(tokenizer, train_records, CONFIG.max_length)
print(f"{len(dataset)} training examples; budget: {CONFIG.steps} steps of batch {CONFIG.batch_size}, "
      f"lr {CONFIG.lr}, device {pick_device(DEVICE)}")

# %matplotlib inline

# %% [markdown]
# ## 1 · Training dynamics: a reference NTP run
#
# SFTMix needs, for every training example, a measure of how well a model trained on the data *fits* it. The paper
# trains a reference model with plain NTP and, at C checkpoints, computes each example's **response perplexity**
# $\text{PPL}_c(x) = \exp\big(\tfrac{1}{|y|}\sum_t -\log p_c(y_t \mid x, y_{<t})\big)$ (answer tokens only). SFTMix's
# confidence, which decides the split, is minus its mean:
#
# $$\text{conf}_\text{SFTMix}(x) = -\frac{1}{C}\sum_{c=1}^{C} \text{PPL}_c(x).$$
#
# For the **map** we use Dataset Cartography's axes (Swayamdipta et al. 2020, [arXiv 2009.10795](https://arxiv.org/abs/2009.10795)):
# the probability the model gives the gold output, here the per-token geometric mean $p_c(x) = 1/\text{PPL}_c(x)
# \in (0, 1]$, and its mean and standard deviation over the checkpoints:
#
# $$\hat\mu(x) = \frac{1}{C}\sum_{c=1}^{C} p_c(x) \ \ (\text{confidence}), \qquad
# \hat\sigma(x) = \sqrt{\frac{1}{C}\sum_{c=1}^{C} \big(p_c(x) - \hat\mu(x)\big)^2} \ \ (\text{variability}).$$
#
# Why not the std of the perplexity? Perplexity is unbounded and its std grows with its mean (an example that
# goes from PPL 40 to 4 varies by more than one that goes from 1.2 to 1.0), so "variable" and "unconfident" would
# pick the same examples and the map would be one curve. Both map axes lie in [0, 1]. The split below still uses
# perplexity, as the paper does (`Dynamics.confidence`); the map uses `Dynamics.map_coordinates`.
#
# `sftkit.methods.sftmix.training_dynamics` trains the reference model with the same recipe as SFT and records the
# perplexities with a Trainer callback (`PerplexityRecorder`, which reuses `sftkit.losses.token_nll`). The paper
# takes checkpoints at the end of each epoch; here the reference run is `REFERENCE_STEPS` steps long (the
# tutorial's choice, to save time) with `CHECKPOINTS` evenly spaced checkpoints.

# %%
set_seed(0)
reference, _ = load_model(MODEL_NAME, device=DEVICE)
start = time.time()
dynamics = training_dynamics(reference, tokenizer, train_records, replace(CONFIG, steps=REFERENCE_STEPS),
                             CHECKPOINTS, dataset=dataset)
reference_seconds = time.time() - start
del reference
ppl = dynamics.perplexity.numpy()  # [C, N]
conf = dynamics.confidence.numpy()  # SFTMix's confidence: minus the mean perplexity (decides the split)
prob = dynamics.probability.numpy()  # [C, N] gold-response probability 1/PPL, for the map
map_conf, map_var = (t.numpy() for t in dynamics.map_coordinates)  # mean and std of prob over checkpoints
is_conf = dynamics.confident.numpy()
split = dynamics.split()  # record index -> confident?
skills = np.array([train_records[i]["skill"] for i in dynamics.index])
print(f"reference run: {REFERENCE_STEPS} steps in {reference_seconds:.0f}s; perplexity of {ppl.shape[1]} examples "
      f"at steps {dynamics.steps}")
print("median perplexity per checkpoint:", np.round(np.median(ppl, 1), 3))

# %% [markdown]
# ### Confidence and the median split
#
# SFTMix's split is at the median of its confidence (minus the mean perplexity, as in the paper): the more
# confident half is $D^c$, the rest $D^u$ ("relatively unconfident": on this world many of them are still learned
# fairly well). The x-axis is logarithmic in the mean perplexity because a few examples stay far from learned.

# %%
mean_ppl = -conf
threshold = np.median(mean_ppl)
fig, ax = plt.subplots(figsize=(7, 3))
bins = np.geomspace(mean_ppl.min(), mean_ppl.max(), 60)
ax.hist(mean_ppl[is_conf], bins=bins, color="tab:blue", label=f"confident half D^c ({is_conf.sum()})")
ax.hist(mean_ppl[~is_conf], bins=bins, color="tab:orange", label=f"unconfident half D^u ({(~is_conf).sum()})")
ax.axvline(threshold, color="k", ls="--", label=f"median (mean PPL {threshold:.3f})")
ax.set(xscale="log", xlabel="mean response perplexity over checkpoints  (confidence = minus this)",
       ylabel="examples", title="confidence histogram and the median split")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ### A Dataset-Cartography map
#
# Swayamdipta et al. (2020) plot each example's variability (x) against its confidence (y), both from the gold
# output's probability, and name three regions: *easy-to-learn* (high confidence, low variability), *hard-to-learn*
# (low confidence, low variability) and *ambiguous* (high variability). They select them as the top / bottom 33%
# of each measure; here the regions are made disjoint with thresholds computed from this run (the tutorial's
# choice): *ambiguous* = variability in the top third; of the rest, *easy-to-learn* = confidence in the top third,
# *hard-to-learn* = confidence in the bottom third; what is left is *in between*. The cell prints the thresholds,
# how many examples fall in each region, which skills dominate it, and how much of it lies in SFTMix's confident
# half $D^c$. Colour = skill.
#
# The split does not use this map's y-axis: it uses minus the mean *perplexity*, and the mean of $1/\text{PPL}$
# orders examples a little differently (Jensen's inequality), so the second line printed compares the two
# orderings.

# %%
colours = {s: plt.cm.tab10(i) for i, s in enumerate(SKILLS)}
cuts = {"variability": np.quantile(map_var, 2 / 3), "high confidence": np.quantile(map_conf, 2 / 3),
        "low confidence": np.quantile(map_conf, 1 / 3)}  # the tutorial's thresholds: terciles of this run
ambiguous = map_var >= cuts["variability"]
named = {"easy-to-learn": ~ambiguous & (map_conf >= cuts["high confidence"]), "ambiguous": ambiguous,
         "hard-to-learn": ~ambiguous & (map_conf <= cuts["low confidence"])}
named["in between"] = ~(named["easy-to-learn"] | named["ambiguous"] | named["hard-to-learn"])
rank = lambda a: np.argsort(np.argsort(a))  # noqa: E731
print("thresholds: " + ", ".join(f"{k} {v:.3f}" for k, v in cuts.items()))
print(f"SFTMix confidence (-mean PPL) vs map confidence (mean 1/PPL): Spearman rho "
      f"{np.corrcoef(rank(conf), rank(map_conf))[0, 1]:.3f}; the map's top half holds "
      f"{100 * is_conf[map_conf >= np.median(map_conf)].mean():.0f}% D^c examples")
for name, mask in named.items():
    top = ", ".join(f"{s} {n}" for s, n in zip(*np.unique(skills[mask], return_counts=True)) if n >= 0.15 * mask.sum())
    print(f"{name:14s} {mask.sum():5d} examples ({100 * is_conf[mask].mean():3.0f}% in D^c); mostly {top}")


def cartography(ax, highlight=None, picked=None):
    ax.scatter(map_var, map_conf, s=6, c=[colours[s] for s in skills], alpha=0.2 if highlight is not None else 0.5)
    if highlight is not None and len(highlight):
        ax.scatter(map_var[highlight], map_conf[highlight], s=14, c=[colours[s] for s in skills[highlight]],
                   edgecolors="k", linewidths=0.4)
    if picked is not None:
        ax.scatter(map_var[picked], map_conf[picked], s=200, marker="*", c="red", edgecolors="k")
    v = cuts["variability"]
    ax.axvline(v, color="k", ls="--", lw=0.8)
    for name in ("high confidence", "low confidence"):
        ax.plot([0, v], [cuts[name]] * 2, color="k", ls="--", lw=0.8)
    box = dict(facecolor="white", alpha=0.8, edgecolor="none")
    for text, x, y, ha, va in [("easy-to-learn", 0.01, 0.99, "left", "top"), ("hard-to-learn", 0.01, 0.01, "left", "bottom"),
                               ("ambiguous", 0.99, 0.99, "right", "top")]:
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=9, weight="bold", bbox=box)
    ax.set(xlim=(0, 0.5), ylim=(-0.1, 1.1), xlabel="variability: std over checkpoints of p = 1/PPL",
           ylabel="confidence: mean over checkpoints of p")


fig, ax = plt.subplots(figsize=(8, 4.5))
cartography(ax)
for s in SKILLS:
    ax.scatter([], [], c=[colours[s]], label=s)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="skill")
ax.set_title("data map of the train split (dashed: the region thresholds)")
plt.show()

# %% [markdown]
# ### Which skills are confident?
#
# The share of each skill's examples that land in the confident half: the split is far from uniform across
# skills, so balanced confident / unconfident batches also mix skills.

# %%
share = {s: is_conf[skills == s].mean() for s in SKILLS}
fig, ax = plt.subplots(figsize=(8, 2.8))
ax.bar(list(share), [100 * v for v in share.values()], color=[colours[s] for s in share])
ax.axhline(50, color="k", ls="--", lw=0.8)
ax.set(ylabel="% in confident half", ylim=(0, 100), title="share of confident examples per skill")
plt.xticks(rotation=30)
plt.show()
print("  ".join(f"{s} {100 * v:.0f}%" for s, v in share.items()))

# %% [markdown]
# ### Trajectories
#
# How a few examples' gold-response probability $p = 1/\text{PPL}$ evolves over the checkpoints: the two most
# confident, the two least confident and the two most variable on the map (the explorer's table below lists the
# perplexities). The cell checks that the least confident and the most variable are
# different examples.

# %%
order = np.argsort(-map_conf)  # most confident first
examples = {"most confident": order[:2], "least confident": order[-2:], "most variable": np.argsort(map_var)[-2:]}
shared = set(examples["least confident"]) & set(examples["most variable"])
print(f"examples shown both as least confident and as most variable: {len(shared)}")


def answer_of(j):
    return train_records[dynamics.index[j]]["answer"]


def trajectories(ax, rows, bold=None):
    for k, j in enumerate(rows):  # marker and line style vary so that identical trajectories stay visible
        ax.plot(dynamics.steps, prob[:, j], marker="os^vD<>p"[k % 8], ls=("-", "--", ":", "-.")[k % 4],
                ms=8 - 2 * (k % 3), color=colours[skills[j]], lw=3 if j == bold else 1.2, alpha=0.8,
                label=f"{skills[j]} #{dynamics.index[j]}: {answer_of(j)[:18]!r}")
    ax.set(ylim=(0, 1.02), xlabel="reference-run step", ylabel="p = 1/PPL of the gold response",
           xticks=dynamics.steps)


fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
for ax, (name, rows) in zip(axes, examples.items()):
    trajectories(ax, rows)
    ax.set(title=name, ylabel=ax.get_ylabel() if ax is axes[0] else "")
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Explore the map
#
# Pick a region (the map's named regions, or SFTMix's halves) and a skill; the slider picks one example of the
# selection (sorted from most to least confident on the map). You see where the selection sits on the map, the
# picked example (red star), the trajectories of the first eight and their text, with the perplexity per
# checkpoint and the half the split put it in. The static map and trajectories above show the same regions for
# readers of the saved notebook, where the widget does not run; the cell below the widget checks that its regions
# are disjoint.

# %%
regions = {**named, "confident half (D^c)": is_conf, "unconfident half (D^u)": ~is_conf,
           "all": np.ones(len(map_conf), bool)}


def selection(region, skill):
    sel = np.flatnonzero(regions[region] & ((skills == skill) if skill != "all" else True))
    return sel[np.argsort(-map_conf[sel])]


def explore(region, skill, point):
    sel = selection(region, skill)
    if not len(sel):
        print("no example in this selection")
        return
    picked = sel[min(point, len(sel) - 1)]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    cartography(a, highlight=sel, picked=picked)
    a.set_title(f"{region}: {len(sel)} examples")
    trajectories(b, list(sel[:8]) + ([picked] if picked not in sel[:8] else []), bold=picked)
    b.legend(fontsize=7)
    plt.show()
    rows = []
    for j in [picked] + [j for j in sel[:8] if j != picked]:
        r = train_records[dynamics.index[j]]
        rows.append(f"<tr><td>{html.escape(r['skill'])}</td><td>{html.escape(r['messages'][0]['content'])}</td>"
                    f"<td><code>{html.escape(r['answer'])}</code></td><td>{' → '.join(f'{p:.2f}' for p in ppl[:, j])}</td>"
                    f"<td>{'D^c' if is_conf[j] else 'D^u'}</td></tr>")
    display(HTML("<table><tr><th>skill</th><th>prompt</th><th>answer</th><th>PPL per checkpoint</th><th>half</th></tr>"
                 + "".join(rows) + "</table>"))


widgets.interact(explore, region=list(regions), skill=["all", *SKILLS],
                 point=widgets.IntSlider(value=0, min=0, max=999, description="example #"));

# %% [markdown]
# *Reading without running?* The explorer above needs a live kernel (a notebook opened from a fresh clone, or on a code host, shows it as one grey line). Below is its first view as a plain output; run the notebook to explore.

# %%
explore(list(regions)[0], "all", 0)  # the explorer's first view, as a static figure and table

# %%
first = {name: selection(name, "all")[:1].tolist() for name in named if named[name].any()}
overlap = sum(int((named[a] & named[b]).sum()) for a in named for b in named if a < b)
print(f"examples in two named regions at once: {overlap}; first example shown per region (dataset row): {first}")

# %% [markdown]
# ## 2 · The Mixup regularizer
#
# **Batches.** `BalancedSampler` orders the data in blocks of one batch: half confident, half unconfident
# examples (reshuffled every epoch), so every batch holds as many of each. `SFTMixTrainer` plugs it into
# `transformers.Trainer` by overriding `_get_train_sampler`, and looks up each example's half through the
# `index` field that `tokenize_dataset` keeps.
#
# **Pairs and alignment.** Within a batch, confident and unconfident examples are paired at random. For a pair
# we take the last-layer hidden states $Z^c, Z^u$ at the positions that predict a response token, aligned at the
# response start and truncated to the shorter response (the paper leaves the alignment open: **the tutorial's
# choice**). The hidden states are the *input of the LM head*, captured with a forward hook during the NTP
# forward pass, so any Hugging Face causal LM works and no second forward pass is needed.
#
# **Mixing.** $\lambda_p \sim \text{Beta}(\alpha, \alpha)$ with $\alpha = 0.5$, one per pair $p$ (per pair or per batch
# is unknown: the tutorial's choice). With $L_p$ the shorter response length of the pair and $z^c_{p,t}, z^u_{p,t}$
# the hidden states at the $t$-th response position of each row, the mixed state goes through the LM head
# ($\text{head}(z) = W z$, plus the final logit soft-cap of models that have one) and the target is the mixed
# one-hot label; the loss is a token mean over all mixed positions of the batch:
#
# $$\tilde z_{p,t} = \lambda_p z^c_{p,t} + (1-\lambda_p)\, z^u_{p,t}, \qquad
# \mathcal{L}_\text{Mixup} = \frac{1}{\sum_p L_p}\sum_{p}\sum_{t=1}^{L_p}
# \Big[\lambda_p\, \text{CE}\big(\text{head}(\tilde z_{p,t}),\, y^c_{p,t}\big) + (1-\lambda_p)\, \text{CE}\big(\text{head}(\tilde z_{p,t}),\, y^u_{p,t}\big)\Big].$$
#
# The full objective adds it to the NTP loss of the same forward pass (a token mean over the batch's response tokens):
#
# $$\mathcal{L} = \mathcal{L}_\text{NTP} + \mu\, \mathcal{L}_\text{Mixup}, \qquad
# \mathcal{L}_\text{NTP} = \frac{1}{|R|}\sum_{(b,t) \in R} -\log p_\theta(y_{b,t} \mid y_{b,<t}), \qquad \mu = 0.2$$
#
# ($R$: the response tokens of the batch; "Mixup only", exercise 4, sets the NTP weight to 0). The two cells
# below print the code that computes each: `mixup_loss` line by line matches $\mathcal{L}_\text{Mixup}$
# (`keep` is $t \le L_p$, `weights` is $\lambda_p$), and `SFTMixTrainer.forward_loss` (the one forward pass; the shared `NTPTrainer.compute_loss` calls it) adds
# `ntp_weight` $\times$ `ntp` and `mu` $\times$ `mixup`.
#
# Beta(0.5, 0.5) is U-shaped: most pairs are mixed lightly towards one side.

# %%
import inspect

from sftkit.methods.sftmix import SFTMixTrainer

display(Markdown(f"```python\n{inspect.getsource(mixup_loss)}```"))

# %%
display(Markdown(f"```python\n{inspect.getsource(SFTMixTrainer.forward_loss)}```"))

# %%
# NBVAL_CHECK_OUTPUT
sampler = BalancedSampler([split[ex["index"]] for ex in dataset], CONFIG.batch_size, seed=0)
batch_rows = list(sampler)[:CONFIG.batch_size]
print(f"first batch: {sum(split[dataset[i]['index']] for i in batch_rows)} confident + "
      f"{sum(not split[dataset[i]['index']] for i in batch_rows)} unconfident; {len(sampler)} examples per epoch")

# %%
model, _ = load_model(MODEL_NAME, device=DEVICE)
batch = {k: v.to(model.device) for k, v in pad_collate([dataset[i] for i in batch_rows], tokenizer.pad_token_id).items()}
captured = {}
hook = model.get_output_embeddings().register_forward_pre_hook(lambda m, a: captured.update(hidden=a[0]))
with torch.no_grad():
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
hook.remove()
conf_rows, unconf_rows = pair_rows(torch.tensor([split[i] for i in batch["index"].tolist()]), torch.Generator().manual_seed(0))
with torch.no_grad():
    for lam in (1.0, 0.5, 0.0):
        value = mixup_loss(model, captured["hidden"], batch["labels"], conf_rows, unconf_rows,
                           torch.full((len(conf_rows),), lam, device=model.device))
        print(f"lambda = {lam}: Mixup loss of the untrained base model {value:.4f}")
lams = torch.distributions.Beta(ALPHA, ALPHA).sample((20000,))
fig, ax = plt.subplots(figsize=(5, 2.2))
ax.hist(lams.numpy(), bins=40)
ax.set(xlabel="lambda", ylabel="draws", title=f"Beta({ALPHA}, {ALPHA})")
plt.show()
del model

# %% [markdown]
# ## 3 · Cost: SFTMix against NTP in the same run
#
# Short trainings of each on the same data, alternated: every round runs NTP, the balanced sampler alone and
# SFTMix back to back, so all three see the same machine load; the first round warms up and is not counted. The
# step time is the median per optimizer step over the counted rounds and the peak memory is measured while
# training (on CPU: the growth of the process's resident memory, a coarse measure). Every ratio printed is
# computed from the times printed in the same cell. SFTMix adds an LM-head pass over the paired response positions
# and a few gathers; it reuses the NTP forward's hidden states. The target is at most 1.3x the NTP step time.
#
# A second, less obvious cost is the batch sampler. Plain SFT here draws its batches from length-sorted groups
# (`TrainConfig.bucket`, notebook 01), which pads much less than random batches (compare the padded batch lengths
# printed below). The balanced sampler can only sort each half by length separately; when the two halves differ in
# length (the first line printed below), every batch pads its shorter half up to the longer one. The second timing
# run, SFTMix with mu = 0 (the sampler without the Mixup term), separates the two costs. Sorting the halves over
# larger groups (`bucket`) would remove most of that padding, but it also makes batches more single-skill, which
# can cost accuracy: exercise 6 measures it.

# %%
lengths = [example_length(ex) for ex in dataset]
halves = {name: [l for l, ex in zip(lengths, dataset) if split[ex["index"]] == flag]
          for name, flag in (("confident", True), ("unconfident", False))}
orders = {"random (bucket=1)": list(BucketSampler(lengths, CONFIG.batch_size, 1, seed=0)),
          "NTP": list(BucketSampler(lengths, CONFIG.batch_size, CONFIG.bucket, seed=0)),
          "balanced": list(BalancedSampler([split[ex["index"]] for ex in dataset], CONFIG.batch_size, seed=0,
                                           lengths=lengths, bucket=CONFIG.bucket))}
print("mean tokens per example: " + ", ".join(f"{k} {np.mean(v):.1f}" for k, v in halves.items())
      + "; padded batch length: " + ", ".join(f"{k} {mean_padded_length(o, lengths, CONFIG.batch_size):.1f}"
                                                for k, o in orders.items()))


def timed(trainer_cls, kwargs=None, config=CONFIG):
    """(median step time s, peak memory MB) of a COST_STEPS-step run of `trainer_cls` with `config`."""
    set_seed(0)
    model, _ = load_model(MODEL_NAME, device=DEVICE)
    result = train(model, tokenizer, train_records, replace(config, steps=COST_STEPS), trainer_cls=trainer_cls,
                   dataset=dataset, trainer_kwargs=kwargs)
    return result.step_time_s, result.peak_mem_mb


SAMPLER_ONLY = replace(MIX, mu=0)  # the balanced sampler without the Mixup term
SAMPLER = f"balanced sampler only ({SAMPLER_ONLY.variant()})"
cost = defaultdict(list)
for round_ in range(3):  # round 0 warms up the allocator and is not counted
    for name, cls, kwargs in [("NTP", get("sft").trainer, None),
                              (SAMPLER, SFTMIX.trainer, {**SAMPLER_ONLY.trainer_kwargs(), "confident": split}),
                              ("SFTMix", SFTMIX.trainer, {**MIX.trainer_kwargs(), "confident": split})]:
        measured = timed(cls, kwargs)
        if round_:
            cost[name].append(measured)
step = {k: float(np.median([t for t, _ in v])) for k, v in cost.items()}
mem = {k: float(np.max([m for _, m in v])) for k, v in cost.items()}
for k in cost:
    print(f"{k:30s} {1000 * step[k]:6.1f} ms/step   peak memory {mem[k]:7.1f} MB")
print(f"SFTMix / NTP step time: {step['SFTMix'] / step['NTP']:.2f}x (target <= 1.3x); "
      f"peak memory {mem['SFTMix'] / max(mem['NTP'], 1e-9):.2f}x")
print(f"  = balanced batches {step[SAMPLER] / step['NTP']:.2f}x  x  the Mixup term {step['SFTMix'] / step[SAMPLER]:.2f}x")

# %% [markdown]
# ## 4 · Where the paper claims it: a model that over-fits
#
# **The paper's setting.** SFTMix fine-tunes 7-8B models for 3 epochs on Alpaca-52K and argues that plain NTP
# *over-fits the confident examples* there: the model memorises what it already finds easy, and the Mixup term,
# which interpolates confident with unconfident examples, is a regularizer against that. So the claim lives where
# NTP over-fits its fine-tuning data. On the whole train split (2,400 records, notebook 01) plain SFT is already
# near the ceiling on `test` and there is little over-fitting to prevent; here the data is small instead:
#
# - **regimes:** `PER_SKILL` training records per skill, drawn afresh for each seed (`sftkit.data.per_skill_draw`),
#   all arms `STEPS` steps of batch 32. With 16 per skill that is 160 records seen about 24 times each: the model
#   learns them by heart. 64 per skill is the contrast, where the same budget is about 6 passes.
# - **arms:** NTP (plain SFT); SFTMix (mu = 0.2, alpha = 0.5), whose confidence split comes from a reference NTP
#   run on *that seed's* data (`reference_steps` = a third of the budget, `CHECKPOINTS` checkpoints; the trainer runs
#   it when no split is given; these splits are not section 1's map, which used the whole train split, and
#   nothing prints their composition); and **SFTMix with random halves** (`halves="random"`): the same balanced batches
#   and the same Mixup term, but the two halves are a random median split. If confidence matters, SFTMix beats
#   its random-halves twin; if any Mixup regularizes, both beat NTP.
# - **seeds:** each seed draws its own data, its own reference run and its own batch order; the start model is the
#   one committed base model. 5 seeds in the headline regime, 3 in the contrast.
# - **over-fitting shown, not assumed:** for the first seed of each arm a `Probe` measures, every `STEPS // 6` steps,
#   the answer NLL on the records trained on and on `dev`, and dev exact match (`sftkit.experiment.fit_probe`).
#
# **Headline claims, named before running** (test split, 16 records per skill, each tested at the 5% level):
# (1) SFTMix above NTP; (2) SFTMix above SFTMix with random halves. Everything else is secondary
# (Holm-adjusted) or exploratory.

# %%
LIMITED = replace(BASELINE, steps=STEPS, warmup_steps=min(BASELINE.warmup_steps, STEPS // 10))
MIX_LIMITED = replace(MIX, reference_steps=STEPS // 3, reference_checkpoints=CHECKPOINTS)
dev_records = load_world("dev")


def arms(per_skill):
    """The three arms of one regime, trained on the same per-seed draws."""
    draw, note = per_skill_draw(per_skill), f"{per_skill} per skill"
    return {"NTP": Arm("sft", None, draw, note), "SFTMix": Arm("sftmix", MIX_LIMITED, draw, note),
            "SFTMix, random halves": Arm("sftmix", replace(MIX_LIMITED, halves="random"), draw, note)}


def probes(per_skill, first_seed):
    """The over-fitting probe, on the first seed only (it costs a few seconds per probe)."""
    draw = per_skill_draw(per_skill)
    return lambda seed: [Probe(fit_probe(tokenizer, draw(seed), dev_records), max(1, STEPS // 6))] if seed == first_seed else []


REGIMES = {}
for per_skill, seeds in zip(PER_SKILL, (SEEDS, CONTRAST_SEEDS)):
    print(f"{per_skill} records per skill ({len(SKILLS) * per_skill} per seed), {STEPS} steps: "
          f"{STEPS * LIMITED.batch_size / (len(SKILLS) * per_skill):.0f} passes; seeds {list(seeds)}")
    REGIMES[per_skill] = run_arms(arms(per_skill), seeds, MODEL_NAME, LIMITED, device=DEVICE,
                                  callbacks=probes(per_skill, seeds[0]))

# %% [markdown]
# ### Does NTP over-fit here, and does SFTMix change that?
#
# Left: the answer NLL per token on the records trained on (dashed) and on `dev` (solid), first seed of each arm,
# on a logarithmic axis; right: dev exact match. Over-fitting shows as the dashed line falling far below the solid
# one: the model learns its own records by heart while dev stops improving (dev need not get *worse* for that).
# Where the three arms' lines coincide, the arms fit identically. One seed per arm; the printout gives the
# end-of-training numbers (the "gap" is dev NLL minus train NLL).

# %%
for per_skill, runs in REGIMES.items():
    first = {label: run.training[min(run.training)].history for label, run in runs.items()}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
    fit_curves(first, axes, title=f"{per_skill} records per skill, seed {min(runs['NTP'].training)}: answer NLL "
                                  "(log scale), train dashed, dev solid")
    plt.tight_layout()
    plt.show()
    for label, history in first.items():
        points = [h for h in history if "dev_nll" in h]
        end, best = points[-1], max(points, key=lambda h: h["dev_em"])
        print(f"{per_skill:3d}/skill {label:22s} end: train NLL {end['train_nll']:.3f}, dev NLL {end['dev_nll']:.3f} "
              f"(gap {end['dev_nll'] - end['train_nll']:.2f}), dev EM {100 * end['dev_em']:.1f}% "
              f"(best {100 * best['dev_em']:.1f}% at step {best['step']})")

# %%
ROWS = {f"{label}, {per_skill}/skill": run.rows for per_skill, runs in REGIMES.items() for label, run in runs.items()}
display(Markdown(results.split_table(ROWS)))
fig, axes = plt.subplots(1, len(REGIMES), figsize=(7 * len(REGIMES), 3.5), squeeze=False)
for ax, (per_skill, runs) in zip(axes[0], REGIMES.items()):
    split_bars({label: run.rows for label, run in runs.items()}, ax=ax,
               title=f"{per_skill} records per skill (mean ± std over {len(next(iter(runs.values())).training)} seeds)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · Verdicts
#
# Each verdict is one paired comparison on the same test items (`compare_rows`, which calls
# `sftkit.stats.compare`): the difference, its 95% interval over seeds and items, n and the smallest difference
# the design could detect (MDE). The two headline claims first; then the secondary comparisons with Holm-adjusted
# p-values: the same two questions in the contrast regime, and whether random-halves Mixup alone beats NTP
# ("any Mixup regularizes"). The shift splits are exploratory (see the table above): no verdicts; their seed
# spreads are as large as most of their gaps.

# %%
SMALL = PER_SKILL[0]
HEADLINE = {"SFTMix vs NTP": ("SFTMix", "NTP"), "SFTMix vs random halves": ("SFTMix", "SFTMix, random halves")}
headline = {name: compare_rows(REGIMES[SMALL][a].rows, REGIMES[SMALL][b].rows) for name, (a, b) in HEADLINE.items()}
print(f"Headline, test, {SMALL} records per skill:")
for name, c in headline.items():
    print("  " + c.sentence(*HEADLINE[name]))
pairs = [(k, a, b) for k in PER_SKILL for a, b in (*HEADLINE.values(), ("SFTMix, random halves", "NTP"))
         if (k, a, b) not in {(SMALL, a_, b_) for a_, b_ in HEADLINE.values()}]
secondary = [compare_rows(REGIMES[k][a].rows, REGIMES[k][b].rows) for k, a, b in pairs]
print(f"\nSecondary, test ({len(pairs)} comparisons; Holm-adjusted p):")
for (k, a, b), c, p in zip(pairs, secondary, holm([c.p_value for c in secondary])):
    print(f"  {k}/skill: {c.sentence(a, b)} p_Holm = {p:.2g}")

# %% [markdown]
# ## What we saw
#
# The table is measured in this run (exact match %, mean ± std over seeds). The last column quotes what the paper
# reports for its own, very different setting (Alpaca-52K, 7-8B models, MT-Bench / AlpacaEval-2 length-controlled
# win rate): not comparable numbers, only the *direction and size* the paper claims. Step time is compared only in
# section 3, where the methods were timed alternately in one run.

# %%
saved = [r for rows in ROWS.values() for r in rows]
print("saved", results.save("02_sftmix", saved).name)
paper = {"NTP": "Llama-3.1-8B 4.36 / 8.65; Mistral-7B 4.62 / 9.18",
         "SFTMix": "Llama-3.1-8B 4.58 / 10.32; Mistral-7B 4.91 / 9.50"}
table = ["| arm | records per skill | seeds | " + " | ".join(f"{s} EM %" for s in EVAL_SPLITS)
         + " | the paper reports (MT-Bench / AlpacaEval-2 LC) |", "|---|---|---|" + "---|" * len(EVAL_SPLITS) + "---|"]
for per_skill, runs in REGIMES.items():
    for label, run in runs.items():
        (row,) = results.summary(run.rows)  # one (method, variant): seeds, mean ± std per split
        table.append(f"| {label} | {per_skill} | {row['seeds']} | " + " | ".join(row[s] for s in EVAL_SPLITS)
                     + f" | {paper.get(label, '–')} |")
display(Markdown("\n".join(table)))

# %%
ratio = step["SFTMix"] / step["NTP"]
lines = [f"- **{name}** (headline, {SMALL}/skill): {c.summary()}" for name, c in headline.items()]
lines += [f"- {k}/skill, {a} vs {b}: {c.summary()}" for (k, a, b), c in zip(pairs, secondary)]
lines.append(f"- **cost**: {ratio:.2f}x the NTP step time ({'within' if ratio <= 1.3 else 'over'} the 1.3x target), "
             f"{mem['SFTMix'] / max(mem['NTP'], 1e-9):.2f}x the peak memory, plus the reference run "
             f"({reference_seconds:.0f}s for the whole train split here, a one-off cost per data set). Of that, the "
             f"balanced batches account for {step[SAMPLER] / step['NTP']:.2f}x and the Mixup term for "
             f"{step['SFTMix'] / step[SAMPLER]:.2f}x.")
vs_ntp, vs_random = headline["SFTMix vs NTP"], headline["SFTMix vs random halves"]
said = {"above": "above", "below": "below", "inconclusive": "not distinguishable from"}
end = {label: [h for h in run.training[min(run.training)].history if "dev_nll" in h][-1]
       for label, run in REGIMES[SMALL].items()}
fit = (f"First seed, step {end['NTP']['step']}: train NLL " + ", ".join(f"{k} {v['train_nll']:.3f}" for k, v in end.items())
       + "; dev minus train NLL " + ", ".join(f"{k} {v['dev_nll'] - v['train_nll']:.2f}" for k, v in end.items())
       + " (one run each, no interval).")
bound = (f" A gain over NTP larger than {vs_ntp.ci[1] * 100:+.1f} points is ruled out at 95%."
         if vs_ntp.verdict == "inconclusive" and np.isfinite(vs_ntp.ci[1]) else "")
verdict = (f"Where NTP memorises its data ({SMALL} records per skill), SFTMix is {said[vs_ntp.verdict]} NTP "
           f"({vs_ntp.summary()}) and {said[vs_random.verdict]} the same Mixup on random halves "
           f"({vs_random.summary()}).{bound} {fit}")
display(Markdown("**Verdict.** " + verdict + "\n\n" + "\n".join(lines) + "\n\n*" + RULE + "*"))

# %% [markdown]
# **How to read it.** The curves answer the first question: whether NTP over-fits at 16 records per skill (the
# training NLL falls far below the dev NLL, which flattens) and whether either Mixup arm keeps the two closer. The headline verdicts answer the paper's claim in the regime it names; the random-halves arm says
# whether a gain (or a loss) comes from the *confidence* split or from Mixup as such. Where a verdict is
# "inconclusive", its MDE is the size of effect this design could have shown and the interval's upper end the
# largest gain it leaves open; a smaller effect may exist. The arms share each seed's data draw, but the
# comparison does not pair seeds, so its intervals err on the wide side.
#
# Differences from the paper that remain: its models have billions of parameters and were pretrained on open text, its data
# are open-ended instructions judged by GPT-4, and its over-fitting is of 52K noisy, redundant examples over 3
# epochs. The tiny world's labels are exact and clean, and its skills are different tasks: a mixed hidden state
# of a `reverse` and a `code` example is asked to predict a blend of two unrelated answers, which interpolates between tasks,
# not between easy and hard versions of one task (the per-skill share of section 1 shows how the halves fall).
#
# ## Exercises
#
# Each exercise has a hint and a worked solution (click to open). The solutions are code to paste into a new cell
# after running the notebook; they reuse its variables (`REGIMES`, `MIX_LIMITED`, `LIMITED`, `SMALL`, ...) and print
# their verdicts with `compare_rows`, so they take a few training runs each.
#
# **1.** Give the reference run the whole budget and 6 checkpoints (`reference_steps=STEPS`,
# `reference_checkpoints=6`): does SFTMix's result in the over-fitting regime change?
#
# <details><summary>Hint</summary>
#
# The reference run is a knob of `MIX_LIMITED`; an `Arm` with the changed knobs on `per_skill_draw(SMALL)` and
# `run_arms` do the rest. Compare with `REGIMES[SMALL]["SFTMix"].rows`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# long_ref = replace(MIX_LIMITED, reference_steps=STEPS, reference_checkpoints=6)
# run = run_arms({"SFTMix, long reference": Arm("sftmix", long_ref, per_skill_draw(SMALL), f"{SMALL} per skill, long reference")},
#                SEEDS, MODEL_NAME, LIMITED, device=DEVICE)["SFTMix, long reference"]
# print(compare_rows(run.rows, REGIMES[SMALL]["SFTMix"].rows).sentence("long reference", "SFTMix"))
# ```
#
# A reference run as long as the training run fits almost every example of 160 (the curves of section 4): the
# late checkpoints see every record memorised, so the early ones decide the ordering, and the split may move
# towards a random one. Compare the result with the random-halves arm as well.
# </details>
#
# **2.** Split by *variability* instead of confidence (the Dataset-Cartography recipe): pair the ambiguous
# (high-variability) half with the low-variability half, in the over-fitting regime.
#
# <details><summary>Hint</summary>
#
# Each seed trains on its own draw, so each seed needs its own split: for each seed, run `training_dynamics` on
# `per_skill_draw(SMALL)(seed)` with `replace(LIMITED, steps=STEPS // 3, seed=seed)`, turn
# `dynamics.map_coordinates[1]` (variability) into a median split with `sftkit.methods.sftmix.median_split`, and pass
# it as `trainer_kwargs={"confident": ...}` to `run_method` for that one seed; collect the rows of all seeds.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.experiment import run_method
# from sftkit.methods.sftmix import median_split
#
# rows = []
# for seed in SEEDS:
#     records = per_skill_draw(SMALL)(seed)
#     set_seed(seed)
#     ref, _ = load_model(MODEL_NAME, device=DEVICE)
#     dyn = training_dynamics(ref, tokenizer, records, replace(LIMITED, steps=STEPS // 3, seed=seed), CHECKPOINTS)
#     low_variability = dict(zip(dyn.index, median_split(-dyn.map_coordinates[1]).tolist()))  # True: less variable
#     rows += run_method("sftmix", (seed,), MODEL_NAME, LIMITED, method_config=MIX_LIMITED, train_records=records,
#                        note=f"{SMALL} per skill, variability split", trainer_kwargs={"confident": low_variability},
#                        device=DEVICE, predictions=False).rows
# print(compare_rows(rows, REGIMES[SMALL]["SFTMix"].rows).sentence("variability split", "confidence split"))
# ```
#
# The trainer does not care what the two halves mean: it only balances and pairs them. The low-variability half
# holds both easy-to-learn and hard-to-learn examples (see the map), so each pair mixes an ambiguous example with
# one the model either always or never gets right.
# </details>
#
# **3.** Draw one lambda per batch instead of per pair, or align the responses at their *end* instead of their
# start, and compare, in the over-fitting regime.
#
# <details><summary>Hint</summary>
#
# `SFTMixTrainer.forward_loss` (printed in section 2) draws `self.beta.sample((pairs,))`: replace `self.beta` with
# an object whose `sample` repeats one draw. For the end alignment you need not rewrite `mixup_loss`: hide
# (`IGNORE`) the first response targets of the longer row of each pair, then the start alignment of what is left
# is the end alignment of the original. `run_arms` only runs registered methods, so train a custom trainer class
# with `sftkit.train.train`, evaluate with `sftkit.evaluate.evaluate` and turn the rows into results rows with
# `sftkit.results.rows_from_eval`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from unittest.mock import patch
#
# from sftkit.data import IGNORE
# from sftkit.evaluate import evaluate
# from sftkit.methods import sftmix as sftmix_module
# from sftkit.results import rows_from_eval
#
#
# def custom_rows(trainer_cls, seeds=SEEDS):
#     """Test results of a custom SFTMix trainer class: same draws, budget, knobs and seeds as section 4."""
#     rows = []
#     for seed in seeds:
#         set_seed(seed)
#         model, _ = load_model(MODEL_NAME, device=DEVICE)
#         result = train(model, tokenizer, per_skill_draw(SMALL)(seed), replace(LIMITED, seed=seed),
#                        trainer_cls=trainer_cls, trainer_kwargs=MIX_LIMITED.trainer_kwargs())
#         rows += rows_from_eval(evaluate(result.model, tokenizer, load_world("test"), predictions=False), seed=seed)
#     return rows
#
#
# class OneDraw:
#     """Stands in for the trainer's Beta(alpha, alpha): one draw, repeated for every pair of the batch."""
#     def __init__(self, alpha):
#         self.beta = torch.distributions.Beta(float(alpha), float(alpha))
#
#     def sample(self, shape):
#         return self.beta.sample(()).expand(shape)
#
#
# class PerBatchLambda(SFTMIX.trainer):
#     def __init__(self, *args, **kwargs):
#         super().__init__(*args, **kwargs)
#         self.beta = OneDraw(ALPHA)
#
#
# def mixup_loss_end(model, hidden, labels, confident_rows, unconfident_rows, lam):
#     """`mixup_loss` with each pair's responses aligned at their end."""
#     positions, counts = sftmix_module.response_positions(labels)
#     labels = labels.clone()  # the NTP loss keeps the original labels
#     for c, u in zip(confident_rows.tolist(), unconfident_rows.tolist()):
#         longer, extra = (c, counts[c] - counts[u]) if counts[c] > counts[u] else (u, counts[u] - counts[c])
#         labels[longer, positions[longer, :int(extra)] + 1] = IGNORE
#     return mixup_loss(model, hidden, labels, confident_rows, unconfident_rows, lam)
#
#
# class EndAligned(SFTMIX.trainer):
#     def compute_loss(self, *args, **kwargs):
#         with patch.object(sftmix_module, "mixup_loss", mixup_loss_end):
#             return super().compute_loss(*args, **kwargs)
#
#
# for name, cls in [("one lambda per batch", PerBatchLambda), ("end-aligned", EndAligned)]:
#     print(compare_rows(custom_rows(cls), REGIMES[SMALL]["SFTMix"].rows).sentence(name, "SFTMix"))
# ```
#
# With one lambda per batch, a batch's Mixup term is either almost all confident or almost all unconfident
# (Beta(0.5, 0.5) is U-shaped), so the regularizer's strength swings from step to step. End alignment mixes the
# *last* tokens of two answers (each ending with the end-of-turn token) instead of the first ones; which of the two
# pairs more alike states is what the comparison tests.
# </details>
#
# **4.** More regularization: in the over-fitting regime, run SFTMix with mu = 1.0 (the paper finds it worse than
# 0.2 on its data) and "Mixup only" (no NTP term, `ntp_weight=0`). Does a stronger Mixup close the train/dev gap,
# and at what price in test accuracy?
#
# <details><summary>Hint</summary>
#
# Two `Arm`s with `replace(MIX_LIMITED, mu=1.0)` and `replace(MIX_LIMITED, mu=1.0, ntp_weight=0.0)`; pass
# `callbacks=probes(SMALL, SEEDS[0])` to `run_arms` to get their curves, and plot them with `fit_curves` beside
# SFTMix's (`REGIMES[SMALL]["SFTMix"].training[SEEDS[0]].history`).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# draw, note = per_skill_draw(SMALL), f"{SMALL} per skill"
# stronger = run_arms({"mu = 1.0": Arm("sftmix", replace(MIX_LIMITED, mu=1.0), draw, note),
#                      "Mixup only": Arm("sftmix", replace(MIX_LIMITED, mu=1.0, ntp_weight=0.0), draw, f"{note}, Mixup only")},
#                     SEEDS, MODEL_NAME, LIMITED, device=DEVICE, callbacks=probes(SMALL, SEEDS[0]))
# fit_curves({"SFTMix (mu = 0.2)": REGIMES[SMALL]["SFTMix"].training[SEEDS[0]].history,
#             **{label: run.training[SEEDS[0]].history for label, run in stronger.items()}})
# plt.show()
# for label, run in stronger.items():
#     print(compare_rows(run.rows, REGIMES[SMALL]["SFTMix"].rows).sentence(label, "SFTMix (mu = 0.2)"))
# ```
#
# The Mixup targets are blends of two answers, so a larger mu pulls the model away from either answer: the gap may
# close because the training loss stays higher, not because dev gets better. Read both lines of the curves.
# </details>
#
# **5.** On a GPU, set `MODEL_NAME` to a small Hub instruct model (e.g. a 0.5B one) and rerun: the same hook
# captures its hidden states.
#
# <details><summary>Hint</summary>
#
# Only the parameters cell changes (or papermill's `-p MODEL_NAME ...`). From the command line,
# `sftkit train sftmix --model <id> --output out/` runs the reference run inside the trainer's setup, and
# `--confidence-file file.jsonl` (written by `Dynamics.save`) reuses a split, e.g. one from a smaller model.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"  # in the parameters cell; then run all cells
# ```
#
# or, reusing this notebook's tiny-model split for the larger model (the paper's transfer setting):
#
# ```python
# from sftkit.io import runs_dir  # runs/ in the repository, or a directory of your own on a shared server
#
# path = runs_dir() / "confidence.jsonl"
# dynamics.save(path)
# print(f"sftkit train sftmix --model Qwen/Qwen2.5-0.5B-Instruct --confidence-file {path} --output {runs_dir() / 'sftmix-qwen'}")  # run in a shell
# ```
#
# `head_logits` applies the model's own LM head (and Gemma-style logit soft-capping), and the hook sits on the
# output embedding's input, so no model-specific code is needed.
# </details>
#
# **6.** Train SFTMix with `replace(LIMITED, bucket=16)`: the balanced batches should pad less; measure whether
# the step time drops.
# What happens to test accuracy in the over-fitting regime, and why (look at which skills share a batch)?
#
# <details><summary>Hint</summary>
#
# Measure three things: the padded batch length and the number of skills per batch of `BalancedSampler(...,
# bucket=16)` against `bucket=4` (on section 1's full-data `split`); the step time with `timed(..., config=...)`,
# alternating the two settings as section 3 does; and test accuracy over `SEEDS` with `run_arms` and `compare_rows`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# def skills_per_batch(order):
#     batches = [order[s:s + CONFIG.batch_size] for s in range(0, len(order), CONFIG.batch_size)]
#     return np.mean([len({train_records[dataset[i]["index"]]["skill"] for i in b}) for b in batches])
#
#
# flags = [split[ex["index"]] for ex in dataset]
# for b in (4, 16):
#     order = list(BalancedSampler(flags, CONFIG.batch_size, seed=0, lengths=lengths, bucket=b))
#     print(f"bucket {b:2d}: padded batch length {mean_padded_length(order, lengths, CONFIG.batch_size):.1f}, "
#           f"{skills_per_batch(order):.1f} skills per batch")
# kwargs = {**MIX.trainer_kwargs(), "confident": split}
# times = defaultdict(list)
# for round_ in range(3):  # alternated; round 0 is a warm-up
#     for b in (4, 16):
#         t, _ = timed(SFTMIX.trainer, kwargs, config=replace(CONFIG, bucket=b))
#         if round_:
#             times[b].append(t)
# t4, t16 = (float(np.median(times[b])) for b in (4, 16))
# print(f"step time: bucket 4 {1000 * t4:.1f} ms, bucket 16 {1000 * t16:.1f} ms, ratio {t16 / t4:.2f}x")
# run16 = run_arms({"bucket=16": Arm("sftmix", MIX_LIMITED, per_skill_draw(SMALL), f"{SMALL} per skill, bucket 16")},
#                  SEEDS, MODEL_NAME, replace(LIMITED, bucket=16), device=DEVICE)["bucket=16"]
# print(compare_rows(run16.rows, REGIMES[SMALL]["SFTMix"].rows).sentence("bucket=16", "bucket=4"))
# ```
#
# Where length tracks skill, sorting larger groups by length fills each half of a batch with fewer skills (the
# skills-per-batch column shows how many): cheaper steps, but gradients from fewer tasks at a time.
# </details>
#

# %% [markdown]
# **7. Check yourself: write the Mixup loss.** Write `my_mixup_loss(head, hidden, labels, confident_rows, unconfident_rows, lam)` from the equation of
# section 2, pair by pair: `head` is the LM head (a module H -> V), `hidden` [B, T, H] its input, `labels` [B, T],
# and pair p mixes row `confident_rows[p]` with row `unconfident_rows[p]` with weight `lam[p]`. Check it with
# `check_loss(my_mixup_loss, "sftmix")`.
#
# <details><summary>Hint</summary>
#
# The hidden state at position t predicts the label at t + 1, so a row's answer positions are the t with
# `labels[row, t + 1] != IGNORE`. Keep the first L_p of each row (the shorter answer's length), mix, apply `head`,
# and sum both cross-entropies weighted by lam and 1 - lam; divide by the number of mixed positions of all pairs.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import torch.nn.functional as F
#
# from sftkit.checks import check_loss
# from sftkit.data import IGNORE
#
#
# def my_mixup_loss(head, hidden, labels, confident_rows, unconfident_rows, lam):
#     total, positions = 0.0, 0
#     for c, u, w in zip(confident_rows.tolist(), unconfident_rows.tolist(), lam.tolist()):
#         at_c = (labels[c, 1:] != IGNORE).nonzero().flatten()  # t whose next label is an answer token
#         at_u = (labels[u, 1:] != IGNORE).nonzero().flatten()
#         n = min(len(at_c), len(at_u))                          # L_p: aligned at the start, the shorter answer
#         at_c, at_u = at_c[:n], at_u[:n]
#         logits = head(w * hidden[c, at_c] + (1 - w) * hidden[u, at_u])  # [L_p, V]
#         total = total + w * F.cross_entropy(logits, labels[c, at_c + 1], reduction="sum") \
#                       + (1 - w) * F.cross_entropy(logits, labels[u, at_u + 1], reduction="sum")
#         positions += n
#     return total / positions
#
#
# check_loss(my_mixup_loss, "sftmix")
# ```
#
# The library's `mixup_loss` does the same for all pairs at once with a padded [P, R] index; the loop is easier
# to read and gives the same number.
# </details>
