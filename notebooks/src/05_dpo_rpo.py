# %% [markdown]
# # 05 · Preference optimization: DPO, RPO, and overoptimization you can measure
#
# **Papers.** *Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial
# Regularizer* (Liu et al., arXiv 2405.16436; official code `YSLIU627/Regularized-Preference-Optimization`),
# which proposes **RPO**, built on *Direct Preference Optimization: Your Language Model is Secretly a Reward
# Model* (Rafailov et al., arXiv 2305.18290), **DPO**.
#
# SFT shows a model good answers. Preference optimization also shows it **bad** ones: for a prompt, a
# *chosen* and a *rejected* response, and the model learns to prefer the first. DPO does it without a reward
# model or sampling during training; RPO adds an SFT term on the chosen response, which the paper proves
# guards against *overoptimization*: getting better at the preference signal while getting worse at what we
# actually want, when the preference data covers little of what the policy can say.
#
# **What you will learn**
# - where RPO's claim lives (a start model with headroom, pairs built on its own answers, training long enough
#   that DPO drifts) and how to build that regime in the tiny world;
# - the DPO loss and both official RPO variants ("sum" and "mean"), as plain functions of summed response
#   log-probabilities under the policy and a frozen reference;
# - a fair comparison: every preference method tuned on `dev` over the same learning-rate grid, five seeds that each
#   start from their **own** SFT model and their own pairs, and the control that separates preference learning
#   from the plainer cause (more SFT on the chosen answers);
# - the classic picture of DPO training on fixed held-out pairs: chosen and rejected log-probabilities;
# - overoptimization, separated from over-training: runs on pairs labelled by a proxy reward model of measured
#   accuracy, against twins on the same pairs labelled by the gold checker;
# - how TRL's options relate to the two official RPO variants.
#
# **Runtime:** the last cell prints this run's wall time (13.7 to 15.3 minutes in two runs on 2 CPU cores for the full profile;
# the light profile, `SFTKIT_LIGHT=1`, used by CI, about 2). On a GPU with a Hub model (set `MODEL_NAME`) the
# protocol and the code are the same; it has not been timed here.
#

# %% tags=["parameters"]
# Parameters (papermill can override these). MODEL_NAME: "tiny" (embedded), a local path, or a Hub id.
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"
DEVICE = None  # None: CUDA, else Apple's mps, else CPU
SEEDS = (0,) if LIGHT else (0, 1, 2, 3, 4)  # each seed: its own SFT start, data draw, pairs and batch order
OVEROPT_SEEDS = (0,) if LIGHT else (0, 1, 2)  # section 6's seeds (a proxy reward model per seed)
START_PER_SKILL = 16  # the SFT start's training records per skill (notebook 02's small-data regime)
START_STEPS = 30 if LIGHT else 120  # the SFT start's steps (batch 32, the suite's SFT recipe otherwise)
PAIR_PROMPTS = 16 if LIGHT else 40  # fresh train prompts per skill whose sampled answers make the pairs
PROXY_PROMPTS = 8 if LIGHT else 48  # more fresh prompts per skill (section 6's seeds): the proxy's data, held-out pairs
N_SAMPLES = 4  # answers sampled per prompt from the start model, temperature 1
STEPS = 20 if LIGHT else 60  # optimizer steps of every preference (and control) run
BATCH_PAIRS = 16  # pairs per batch (each pair is 2 sequences)
BETA = 0.1  # DPO's beta for every run (exercise 1 changes it)
LR_GRID = (1e-4,) if LIGHT else (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)  # the same grid for every method, tuned on dev (seed 0)
CONTROL_LR = 1e-3  # the control's lr: the suite's SFT recipe (BASELINE.lr), not tuned
PUSHED_LR = 1e-3  # section 6: a learning rate high enough that DPO on gold labels drifts (over-training)
PROXY_NOISE = 0.2  # share of the proxy's training pairs whose labels are flipped (disagreeing labellers)
PROXY_STEPS = 60
PROBE_EVERY = 10  # held-out pair probe interval (first seed only)

# %%
import copy
import inspect
import random
import time
from collections import Counter
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from sftkit import results
from sftkit.data import load_world, pad_collate, pair_collate, per_skill_draw, tokenize_pairs
from sftkit.evaluate import evaluate, sample_answers
from sftkit.experiment import BASELINE, train_settings, variant_name
from sftkit.losses import dpo_loss, ntp_loss, rpo_loss, sequence_logprob
from sftkit.methods import get
from sftkit.methods.dpo import heldout_pair_probe
from sftkit.model import load_model, pick_device, set_seed
from sftkit.plots import split_bars
from sftkit.results import compare_rows, rows_from_eval
from sftkit.reward import noisy_pairs, relabel, reward_model_from, score_answers, train_reward_model
from sftkit.stats import RULE, compare, holm
from sftkit.train import Probe, TrainConfig, train
from sftkit.world import EVAL_SPLITS, SKILLS, check, onpolicy_pairs

T0 = time.perf_counter()
device = pick_device(DEVICE)
splits = {s: load_world(s) for s in ("train", "dev", *EVAL_SPLITS)}
eval_records = [r for s in EVAL_SPLITS for r in splits[s]]
print({s: len(r) for s, r in splits.items()})

# %matplotlib inline

# %% [markdown]
# ## 1. Where the claim lives, and the start models
#
# RPO's theory is about **limited coverage**: the preference data covers a small part of what the policy can
# say, so DPO, which only sees *differences* between chosen and rejected, can lower the chosen likelihood
# and move probability to responses no pair covers; the SFT term holds the chosen responses up. The paper
# shows it on 7B chat models judged on AlpacaEval-2 (the official recipes: Mistral-7B's SFT model of the
# zephyr-7b-beta recipe on UltraFeedback pairs, and Gemma-7B's SFT model of the zephyr-7b-gemma recipe on
# argilla/dpo-mix-7k). As a recipe for a small experiment: **a start model with headroom, mostly on-policy
# pairs, and training long enough that DPO drifts**; the control is DPO on the same pairs and seeds.
#
# Our start: the suite's SFT recipe (`sftkit.experiment.BASELINE`: lr, schedule, batch 32) on only
# `START_PER_SKILL` records per skill for `START_STEPS` steps: notebook 02's small-data regime, where SFT is
# far from the ceiling. **Each seed draws its own records and trains its own start model**, then samples
# `N_SAMPLES` answers at temperature 1 on fresh train prompts; so a seed varies the start model, the data
# draw, the pairs and the batch order, and the spread over seeds is the spread of the whole recipe.

# %%
START = replace(BASELINE, steps=START_STEPS, warmup_steps=max(1, START_STEPS // 10))
START_VARIANT = f"start ({START_PER_SKILL} per skill, {START_STEPS} steps)"
draw = per_skill_draw(START_PER_SKILL)
train_pool = {skill: [r for r in splits["train"] if r["skill"] == skill] for skill in SKILLS}
starts, rows, wrong_rate = {}, [], {}  # seed -> start model; schema rows of every run; seed -> share of wrong samples
pairs, proxy_pairs = {}, {}  # seed -> pairs from the start model's samples (training) / pairs from other prompts (proxy, held-out probe)
for seed in SEEDS:
    set_seed(seed)
    records = draw(seed)
    model, tokenizer = load_model(MODEL_NAME, device=DEVICE)
    run = train(model, tokenizer, records, replace(START, seed=seed))
    starts[seed] = run.model
    rows += rows_from_eval(evaluate(run.model, tokenizer, eval_records, predictions=False), method="sft", variant=START_VARIANT,
                           model=str(MODEL_NAME), seed=seed, steps=START_STEPS, train_config=train_settings(START),
                           step_time_s=run.step_time_s, peak_mem_mb=run.peak_mem_mb, train_seconds=run.seconds,
                           device=device)
    used, rng = {r["id"] for r in records}, random.Random(seed)
    extra = PROXY_PROMPTS if seed in OVEROPT_SEEDS else 0  # only section 6's seeds need a proxy
    fresh = {s: rng.sample([r for r in train_pool[s] if r["id"] not in used], PAIR_PROMPTS + extra) for s in SKILLS}
    prompts = [r for s in SKILLS for r in fresh[s][:PAIR_PROMPTS]] + [r for s in SKILLS for r in fresh[s][PAIR_PROMPTS:]]
    samples = sample_answers(run.model, tokenizer, prompts, n=N_SAMPLES, temperature=1.0, seed=seed)
    cut = PAIR_PROMPTS * len(SKILLS)
    pairs[seed], proxy_pairs[seed] = onpolicy_pairs(prompts[:cut], samples[:cut]), onpolicy_pairs(prompts[cut:], samples[cut:])
    wrong_rate[seed] = float(np.mean([not check(r, s) for r, ss in zip(prompts, samples) for s in ss]))
    test = results.accuracies(rows, "test", variant=START_VARIANT)[-1]
    print(f"seed {seed}: start trained in {run.seconds:.0f}s, test {100 * test:.1f}%, {100 * wrong_rate[seed]:.0f}% of samples "
          f"wrong; {len(pairs[seed])} training pairs from {cut} prompts" + (f", {len(proxy_pairs[seed])} more for the proxy" if extra else ""))

# %% [markdown]
# ## 2. On-policy preference pairs
#
# A pair needs a *chosen* and a *rejected* answer to the same prompt. Both come from the start model's own
# samples wherever they can (`sftkit.world.onpolicy_pairs`): the **rejected** answer is always one of its
# wrong samples (judged by the gold checker), what the model is actually tempted to say; the **chosen**
# answer is one of its right samples ("on-policy") or, when none of its samples is right, the gold answer
# ("gold-chosen"). Prompts where every sample is right give no pair: there is nothing to prefer. The
# first seed's pairs (read the two columns: where the start model rarely answers right, most pairs are
# gold-chosen, so their rejected side is on-policy but their chosen side is not):

# %%
counts = Counter((p["skill"], p["source"]) for p in pairs[SEEDS[0]])
table = ["| skill | on-policy (both sides sampled) | gold-chosen (no right sample) |", "|---|---|---|"]
table += [f"| {s} | {counts[(s, 'on-policy')]} | {counts[(s, 'gold-chosen')]} |" for s in SKILLS]
display(Markdown("\n".join(table) + f"\n\n**{len(pairs[SEEDS[0]])} pairs** (seed {SEEDS[0]}); pairs per seed: "
                 + ", ".join(f"{len(p)}" for p in pairs.values())))


# %%
def pairs_html(rows):
    cell = "<td style='font-family:monospace'>{}</td>"
    body = "".join("<tr>" + f"<td>{p['skill']}</td><td>{p['source']}</td><td>{p['prompt'][-1]['content']}</td>"
                   + cell.format(p["chosen"][0]["content"]) + cell.format(repr(p["rejected"][0]["content"]))
                   + "</tr>" for p in rows)
    return HTML("<table><tr><th>skill</th><th>source</th><th>prompt</th><th>chosen</th><th>rejected</th></tr>"
                + body + "</table>")


def show_pairs(skill, source, start):
    rows = [p for p in pairs[SEEDS[0]] if p["skill"] == skill and p["source"] == source]
    display(pairs_html(rows[start:start + 5]) if rows else "no pairs of this kind")


widgets.interact(show_pairs, skill=list(SKILLS), source=["on-policy", "gold-chosen"],
                 start=widgets.IntSlider(0, 0, 40, step=5));

# %% [markdown]
# *Reading without running?* The explorer above needs a live kernel (a notebook opened from a fresh clone, or on a code host, shows one line of text in its place). Below is its first view as a plain output; run the notebook to explore.

# %%
show_pairs("add", "on-policy", 0)  # the explorer's first view, as a static table

# %% [markdown]
# ## 3. The losses
#
# With $\log\pi(y)$ the **sum** of the token log-probabilities of response $y$ (prompt tokens excluded), a
# frozen reference $\pi_{\text{ref}}$ (the start model) and the implicit reward
# $r(y) = \beta\,[\log\pi(y) - \log\pi_{\text{ref}}(y)]$:
#
# $$\mathcal L_{\text{DPO}} = -\log\sigma\big(r(y_w) - r(y_l)\big)$$
#
# RPO adds an SFT term on the chosen response $y_w$. The official code has two variants:
#
# | variant (`reduction`) | per-batch loss | official defaults |
# |---|---|---|
# | `sum` (the paper's runs) | $\text{mean}_i\,[\mathcal L_{\text{DPO},i} - \beta\,\eta\,\log\pi(y_{w,i})]$ | $\eta = 0.005$, $\beta = 0.01$ or $0.05$ |
# | `mean` (the README: "generally better") | $\text{mean}_i\,\mathcal L_{\text{DPO},i} + \eta\,\text{mean}_i\,\big[-\log\pi(y_{w,i}) / \lvert y_{w,i}\rvert\big]$ | $\eta = 0.2$, $\beta = 0.5$ |
#
# Both are plain functions in `sftkit.losses`; chosen and rejected go through the model in **one** forward
# pass (the batch is `[chosen; rejected]`), and the reference is a frozen copy (or, for a LoRA model, the
# same model with its adapter disabled: no second copy in memory).

# %%
print(inspect.getsource(dpo_loss))
print(inspect.getsource(rpo_loss))

# %% [markdown]
# Two checks you can do by hand. At the start of training the policy *is* the reference, so every margin is
# 0 and the DPO loss is $\log 2 \approx 0.693$ whatever the data. And in a two-pair batch with
# $\beta = 0.5$, policy log-probs chosen $(-2, -3)$, rejected $(-4, -3)$ and reference log-probs all $-3$,
# the margins are $2$ and $0$, so the losses are $\log(1 + e^{-1}) = 0.3133$ and $\log 2 = 0.6931$:

# %%
# NBVAL_CHECK_OUTPUT
chosen, rejected, ref = torch.tensor([-2.0, -3.0]), torch.tensor([-4.0, -3.0]), torch.tensor([-3.0, -3.0])
lengths = torch.tensor([2, 3])
print("DPO per pair       :", dpo_loss(chosen, rejected, ref, ref, beta=0.5).numpy().round(4))
print("RPO sum,  eta 0.1  :", round(rpo_loss(chosen, rejected, ref, ref, lengths, 0.5, 0.1, "sum").item(), 4),
      "= mean(DPO) + 0.5 * 0.1 * mean(2, 3)")
print("RPO mean, eta 0.2  :", round(rpo_loss(chosen, rejected, ref, ref, lengths, 0.5, 0.2, "mean").item(), 4),
      "= mean(DPO) + 0.2 * mean(2/2, 3/3)")

# %% [markdown]
# The weight of the SFT term decides whether RPO differs from DPO at all. Per pair, DPO pulls the chosen
# log-probability up with weight $\beta\,\sigma(-\text{margin})$ ($\beta/2$ at the start), RPO-sum adds
# $\beta\eta$, RPO-mean adds $\eta / \lvert y_w\rvert$. At the official η the ratio of the SFT pull to DPO's
# initial pull is:

# %%
collate = lambda rows: pad_collate(rows, tokenizer.pad_token_id)  # noqa: E731
pair_batch = pair_collate(tokenize_pairs(tokenizer, pairs[SEEDS[0]], BASELINE.max_length), collate)  # [chosen; rejected]
mean_len = (pair_batch["labels"][:len(pairs[SEEDS[0]]), 1:] != -100).sum(1).float().mean().item()  # response tokens
for reduction in ("sum", "mean"):
    cfg = get("rpo").config(reduction=reduction, beta=BETA)
    pull = BETA * cfg.eta if reduction == "sum" else cfg.eta / mean_len
    print(f"RPO-{reduction:4s} (beta {BETA:g}, official eta {cfg.eta:g}): SFT pull {pull:.4f} per token of the chosen "
          f"answer vs DPO's {BETA / 2:.3f} at the start: {pull / (BETA / 2):.2f}x (mean chosen length {mean_len:.1f} tokens)")

# %% [markdown]
# ## 4. Tuning on dev, the same grid for every method
#
# Three preference methods, DPO, RPO-sum and RPO-mean (each RPO variant with its official η), all with
# β = `BETA`, `STEPS` steps of `BATCH_PAIRS` pairs, from the first seed's start model on its pairs, one run
# per learning rate in `LR_GRID`, scored by exact match on the **full `dev` split**. A best point at the edge of
# the grid would mean the grid is too narrow; the table says where each method's chosen point lies. Ties go to
# the smaller rate, so check the row too: in this run RPO-mean is as high at the grid's largest rate as at the
# chosen one, so its plateau reaches the edge and larger rates were not tried.
#
# Each method is registered (`sftkit.methods.get("dpo")`, `get("rpo")`); its knobs live in its `Config`, and the
# results file records the Config's variant string plus the learning rate.

# %%
METHODS = {"DPO": ("dpo", get("dpo").config(beta=BETA)),
           "RPO-sum": ("rpo", get("rpo").config(reduction="sum", beta=BETA)),
           "RPO-mean": ("rpo", get("rpo").config(reduction="mean", beta=BETA))}


def preference_run(label, seed, lr, train_pairs, probe=None, steps=STEPS):
    """`label`'s method (METHODS) from a fresh copy of seed's start model, which is also its frozen reference."""
    method, cfg = METHODS[label]
    config = TrainConfig(steps=steps, batch_size=BATCH_PAIRS, lr=lr, warmup_steps=max(1, steps // 10), seed=seed,
                         logging_steps=10)
    return train(copy.deepcopy(starts[seed]), tokenizer, train_pairs, config, trainer_cls=get(method).trainer,
                 dataset=tokenize_pairs(tokenizer, train_pairs, BASELINE.max_length),
                 trainer_kwargs={**cfg.trainer_kwargs(), "probe": probe, "probe_every": PROBE_EVERY})


def dev_accuracy(model):
    return float(np.mean([r["correct"] for r in evaluate(model, tokenizer, splits["dev"], predictions=False)]))


start_dev = dev_accuracy(starts[SEEDS[0]])
tune_dev = {(label, lr): dev_accuracy(preference_run(label, SEEDS[0], lr, pairs[SEEDS[0]]).model)
            for label in METHODS for lr in LR_GRID}
TUNED = {label: max(LR_GRID, key=lambda lr: tune_dev[label, lr]) for label in METHODS}  # first in grid order on a tie
lines = ["| method | " + " | ".join(f"lr {lr:g}" for lr in LR_GRID) + " | best point |", "|---" * (len(LR_GRID) + 2) + "|"]
lines += [f"| {m} | " + " | ".join(("**{:.1f}**" if lr == TUNED[m] else "{:.1f}").format(100 * tune_dev[m, lr])
                                   for lr in LR_GRID)
          + f" | {'at the edge of the grid' if len(LR_GRID) > 1 and TUNED[m] in (LR_GRID[0], LR_GRID[-1]) else 'inside'} |"
          for m in METHODS]
display(Markdown(f"Full-dev exact match % (seed {SEEDS[0]}, {STEPS} steps; its start model: {100 * start_dev:.1f}%); "
                 "bold: chosen.\n\n" + "\n".join(lines)))
gap = max(abs(tune_dev["RPO-sum", lr] - tune_dev["DPO", lr]) for lr in LR_GRID)
print(f"RPO-sum vs DPO at the same lr: at most {100 * gap:.1f} points apart on dev over the grid")

# %% [markdown]
# ## 5. DPO and RPO against their start and against more SFT, five seeds
#
# **Headline claims, named before running** (test split, paired on the same items, `sftkit.stats.compare`):
#
# 1. **RPO above DPO** (the paper: AlpacaEval-2 LC 23.28 vs 21.15 for zephyr, 15.51 vs 15.36 for gemma). Our RPO is
#    the `mean` variant, which the official README recommends: at the official η the `sum` variant's SFT pull is
#    about a hundredth of DPO's (section 3), and the tuning table shows it tracking DPO at every learning rate.
# 2. **DPO above its start model** (DPO's own claim: preference optimization improves the SFT model).
#
# Every arm, on every seed, starts from that seed's start model and sees the same pairs for `STEPS` steps of
# `BATCH_PAIRS`, each preference arm at its dev-tuned learning rate. **The control** is the plainer cause: the pairs bring
# prompts the start never trained on, with right answers on the chosen side, so part of any gain may be plain
# SFT on those answers. *Continued SFT on the chosen answers* trains the same steps on the same prompts' chosen
# responses, at the suite's SFT learning rate (`CONTROL_LR`).
#
# On the first seed each run is probed every `PROBE_EVERY` steps on fixed held-out pairs (the first 64 of its
# proxy pairs, which no policy trains on): the summed log-probabilities of their chosen and rejected answers.

# %%
heldout = proxy_pairs[SEEDS[0]][:64]
heldout_batch = pair_collate(tokenize_pairs(tokenizer, heldout, BASELINE.max_length), collate)
probe_fn = heldout_pair_probe(starts[SEEDS[0]], heldout_batch, beta=BETA)
CONTROL = "continued SFT on the chosen answers"
ARMS = {CONTROL: CONTROL_LR, "DPO": TUNED["DPO"], "RPO-mean": TUNED["RPO-mean"]}  # label -> lr
VARIANTS = {START_VARIANT: START_VARIANT, CONTROL: f"continued on the chosen answers (lr {CONTROL_LR:g})"}
VARIANTS |= {label: variant_name(METHODS[label][1], note=f"lr {ARMS[label]:g}, tuned on dev") for label in ("DPO", "RPO-mean")}
METHOD_OF = {START_VARIANT: "sft", CONTROL: "sft", "DPO": "dpo", "RPO-mean": "rpo"}
histories = {}  # label -> the first seed's probe history


def chosen_sft(seed, lr, train_pairs, callbacks=None):
    """The control: plain SFT of seed's start model on the chosen side of `train_pairs`, same steps and batch."""
    records = [{"messages": p["prompt"] + p["chosen"]} for p in train_pairs]
    config = TrainConfig(steps=STEPS, batch_size=BATCH_PAIRS, lr=lr, warmup_steps=max(1, STEPS // 10), seed=seed,
                         logging_steps=10)
    return train(copy.deepcopy(starts[seed]), tokenizer, records, config, callbacks=callbacks)


def evaluated(label, seed, run, variant=None):
    """Schema rows of a trained arm on test and the shifts (per-item outcomes included)."""
    return rows_from_eval(evaluate(run.model, tokenizer, eval_records, predictions=False), method=METHOD_OF[label],
                          variant=variant or VARIANTS[label], model=str(MODEL_NAME), seed=seed, steps=STEPS,
                          train_config=train_settings(TrainConfig(**run.config)), step_time_s=run.step_time_s,
                          peak_mem_mb=run.peak_mem_mb, train_seconds=run.seconds, device=device)


for seed in SEEDS:
    first = seed == SEEDS[0]
    for label, lr in ARMS.items():
        if label == CONTROL:
            run = chosen_sft(seed, lr, pairs[seed], callbacks=[Probe(probe_fn, PROBE_EVERY)] if first else None)
        else:
            run = preference_run(label, seed, lr, pairs[seed], probe=probe_fn if first else None)
        rows += evaluated(label, seed, run)
        if first:
            histories[label] = run.history
    print(f"seed {seed}: " + ", ".join(f"{label} {100 * results.accuracies(rows, 'test', variant=VARIANTS[label], seed=seed)[0]:.1f}%"
                                       for label in (START_VARIANT, *ARMS)) + " on test")


# %% [markdown]
# ### The classic picture, on fixed held-out pairs
#
# Left: the summed log-probability of the held-out pairs' chosen (solid) and rejected (dashed) answers under
# each policy, first seed. Right: their log-ratio margin
# $[\log\pi(y_w) - \log\pi_{\text{ref}}(y_w)] - [\log\pi(y_l) - \log\pi_{\text{ref}}(y_l)]$. DPO's loss only cares
# about the **difference**, so it can lower the chosen log-probability as long as the rejected one falls faster:
# that is the drift RPO's SFT term is there to stop. Section 6 pushes the learning rate to where it happens.

# %%
def probe_curves(histories, title, axes):
    for i, (label, history) in enumerate(histories.items()):
        points = [h for h in history if "heldout_chosen_logp" in h]
        steps = [h["step"] for h in points]
        style = dict(color=f"C{i}", marker="os^D"[i % 4], markerfacecolor="none", alpha=0.85)
        axes[0].plot(steps, [h["heldout_chosen_logp"] for h in points], "-", label=f"{label}, chosen", **style)
        axes[0].plot(steps, [h["heldout_rejected_logp"] for h in points], "--", label=f"{label}, rejected", **style)
        axes[1].plot(steps, [h["heldout_logratio_margin"] for h in points], label=label, **style)
    axes[0].set(xlabel="step", ylabel="summed log-prob (policy)", title=f"{title}: held-out chosen (solid), rejected (dashed)")
    axes[1].set(xlabel="step", ylabel="log-ratio margin (nats)", title=f"{title}: held-out log-ratio margin")
    for ax in axes:
        ax.legend(fontsize=7)


def probe_summary(histories):
    for label, history in histories.items():
        points = [h for h in history if "heldout_chosen_logp" in h]
        a, b = points[0], points[-1]
        print(f"{label:38s} chosen {a['heldout_chosen_logp']:7.2f} -> {b['heldout_chosen_logp']:7.2f}, rejected "
              f"{a['heldout_rejected_logp']:7.2f} -> {b['heldout_rejected_logp']:7.2f}, margin {b['heldout_logratio_margin']:+.2f}")


fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
probe_curves(histories, "tuned", axes)
plt.tight_layout()
plt.show()
probe_summary(histories)

# %% [markdown]
# ### Results: test and the shifts
#
# Mean ± std over seeds (each seed its own start, data and pairs), then the verdicts: the two headline claims,
# the secondary comparisons (the control and the start) with Holm-adjusted p-values, and the headline claims on
# each shift split (exploratory, Holm over the family).

# %%
LABELS = (START_VARIANT, *ARMS)
RUNS = {label: [r for r in rows if r["variant"] == VARIANTS[label] and r["method"] == METHOD_OF[label]] for label in LABELS}
display(Markdown(results.split_table({label if label != START_VARIANT else f"SFT {label}": rs for label, rs in RUNS.items()})))
fig, ax = plt.subplots(figsize=(10, 3.5))
split_bars(RUNS, ax=ax, title=f"exact match, mean ± std over {len(SEEDS)} seeds")
plt.tight_layout()
plt.show()

# %%
HEADLINE = {"RPO above DPO": ("RPO-mean", "DPO"), "DPO above its start": ("DPO", START_VARIANT)}
SECONDARY = [("DPO", CONTROL), ("RPO-mean", CONTROL), (CONTROL, START_VARIANT), ("RPO-mean", START_VARIANT)]
print(RULE, "\n\nHeadline, test:")
headline = {name: compare_rows(RUNS[a], RUNS[b]) for name, (a, b) in HEADLINE.items()}
for name, (a, b) in HEADLINE.items():
    print(f"  {name}: " + headline[name].sentence(a, b))
secondary = [compare_rows(RUNS[a], RUNS[b]) for a, b in SECONDARY]
print(f"\nSecondary, test ({len(SECONDARY)} comparisons; Holm-adjusted p):")
for (a, b), c, p in zip(SECONDARY, secondary, holm([c.p_value for c in secondary])):
    print(f"  {c.sentence(a, b)} Holm p = {p:.3f}")
shifts = [(name, s, compare_rows(RUNS[a], RUNS[b], split=s)) for name, (a, b) in HEADLINE.items()
          for s in EVAL_SPLITS if s != "test"]
print(f"\nThe headline claims on the shift splits (exploratory; {len(shifts)} comparisons, Holm-adjusted p):")
for (name, s, c), p in zip(shifts, holm([c.p_value for *_, c in shifts])):
    print(f"  {s:8s} {name}: {c.summary()}, Holm p = {p:.3f}")

# %% [markdown]
# ## 6. Overoptimization, separated from over-training
#
# In RLHF the preferences come from a **reward model**, a learned proxy of what people want; optimizing hard
# against its labels can raise the proxy's score while true quality falls (Goodhart's law). Here the gold
# checker *is* the true quality, so both can be watched at once. Per seed in `OVEROPT_SEEDS`:
#
# 1. a **proxy reward model** (the seed's start model with a scalar head, Bradley-Terry loss) trains
#    `PROXY_STEPS` steps on that seed's proxy pairs (other prompts than the training pairs), with a share
#    `PROXY_NOISE` of their labels flipped (labellers who disagree with the checker);
# 2. it **relabels the seed's training pairs** (`sftkit.reward.relabel`: chosen = the side it scores higher); its
#    accuracy on them (agreement with the gold checker) is the precondition, checked below: a proxy at chance
#    could show label noise, not Goodhart;
# 3. DPO and RPO-mean train on the proxy-labelled pairs at `PUSHED_LR`, high enough that DPO drifts (section 4:
#    DPO's dev accuracy collapses at that rate, RPO-mean's does not), and on
#    **the same pairs with gold labels** at the same settings (the twins).
#
# Two effects, each with its own comparison on test: **over-training** is the gold twin against the start
# (what this much training does with correct labels); **overoptimization** is the proxy-labelled run against its
# gold twin (the extra change the proxy's errors cause). The proxy reward of each policy's greedy dev answers,
# before and after, says whether the proxy was being climbed.

# %%
dev_probe = splits["dev"][::max(1, len(splits["dev"]) // 60)][:60]


def proxy_reward(proxy, model):
    """Mean proxy reward of `model`'s greedy answers on the dev probe, per prompt ([items])."""
    answers = [r["prediction"] for r in evaluate(model, tokenizer, dev_probe)]
    return score_answers(proxy, tokenizer, dev_probe, answers).float().numpy()


PUSHED = [("DPO", "gold"), ("DPO", "proxy"), ("RPO-mean", "gold"), ("RPO-mean", "proxy")]
pushed_rows, agree_all, pushed_histories = [], [], {}
reward_before, reward_after = [], {key: [] for key in PUSHED}  # per seed: the proxy reward per dev-probe prompt
for seed in OVEROPT_SEEDS:
    proxy, _ = reward_model_from(starts[seed], tokenizer, device=DEVICE, seed=seed)
    noisy = noisy_pairs(proxy_pairs[seed], len(proxy_pairs[seed]), PROXY_NOISE, seed=seed)
    proxy = train_reward_model(proxy, tokenizer, noisy, TrainConfig(steps=PROXY_STEPS, batch_size=BATCH_PAIRS, lr=1e-3,
                                                                    warmup_steps=3, seed=seed)).model
    labelled = {"gold": pairs[seed]}
    labelled["proxy"], agree = relabel(proxy, tokenizer, pairs[seed])
    agree_all += agree
    reward_before.append(proxy_reward(proxy, starts[seed]))
    print(f"seed {seed}: the proxy (trained on {len(noisy)} pairs, {PROXY_NOISE:.0%} flipped) agrees with the gold checker "
          f"on {100 * np.mean(agree):.1f}% of the {len(pairs[seed])} training pairs")
    for label, labels in PUSHED:
        run = preference_run(label, seed, PUSHED_LR, labelled[labels], probe=probe_fn if seed == SEEDS[0] else None)
        pushed_rows += evaluated(label, seed, run, variant=variant_name(METHODS[label][1], note=f"lr {PUSHED_LR:g}, {labels} labels"))
        reward_after[label, labels].append(proxy_reward(proxy, run.model))
        if seed == SEEDS[0]:
            pushed_histories[f"{label}, {labels} labels"] = run.history
rows += pushed_rows

# %% [markdown]
# **The precondition.** The proxy must be better than chance on the pairs it labels, or a fall under its labels
# is label noise, not Goodhart. Its accuracy over all seeds' training pairs, with a 95% interval:

# %%
acc, n_agree = float(np.mean(agree_all)), len(agree_all)
half = 1.96 * np.sqrt(acc * (1 - acc) / n_agree)
useful = acc - half > 0.5
print(f"proxy accuracy on the training pairs: {100 * acc:.1f}% [{100 * (acc - half):.1f}, {100 * (acc + half):.1f}] "
      f"over {n_agree} pairs of {len(OVEROPT_SEEDS)} seeds: "
      + ("better than chance, a useful but imperfect proxy." if useful else
         "not distinguishable from chance: this section can show label noise, not Goodhart."))

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
probe_curves(pushed_histories, f"lr {PUSHED_LR:g}", axes)
plt.tight_layout()
plt.show()
probe_summary(pushed_histories)

# %%
PUSHED_RUNS = {key: [r for r in pushed_rows if r["variant"].endswith(f"lr {PUSHED_LR:g}, {key[1]} labels)")
                     and r["method"] == METHOD_OF[key[0]]] for key in PUSHED}
starts_seen = [r for r in RUNS[START_VARIANT] if r["seed"] in OVEROPT_SEEDS]
print(RULE, "\n")
overopt = {}
for label in ("DPO", "RPO-mean"):
    gold, proxied = PUSHED_RUNS[label, "gold"], PUSHED_RUNS[label, "proxy"]
    rise = {labels: compare(np.array(reward_after[label, labels]), np.array(reward_before)) for labels in ("gold", "proxy")}
    fall = overopt[label] = compare_rows(proxied, gold)
    print(f"{label} at lr {PUSHED_LR:g}:")
    print("  over-training      " + compare_rows(gold, starts_seen).sentence("gold-labelled", "its start"))
    print("  overoptimization   " + fall.sentence("proxy-labelled", "gold-labelled twin"))
    for labels, c in rise.items():
        print(f"  proxy reward, {labels:5s} " + c.sentence("after", "before", unit="reward", scale=1))
    climbed = rise["proxy"].verdict == "above"
    print("  Verdict: " + ("overoptimization: the proxy's reward rose while gold accuracy fell below the gold twin's."
                           if fall.verdict == "below" and climbed and useful else
                           "gold accuracy fell below the gold twin's, but "
                           + ("the proxy's reward did not rise measurably" if not climbed else "the proxy is at chance")
                           + ": the proxy's wrong labels cost accuracy; Goodhart is not shown." if fall.verdict == "below" else
                           "no fall beyond the gold twin's: overoptimization not shown (see the MDE)."))
held = compare_rows(PUSHED_RUNS["RPO-mean", "gold"], PUSHED_RUNS["DPO", "gold"])
protect = compare_rows(PUSHED_RUNS["RPO-mean", "proxy"], PUSHED_RUNS["DPO", "proxy"])
print(f"\nDoes RPO's SFT term hold where DPO drifts (lr {PUSHED_LR:g}, gold labels)? " + held.sentence("RPO-mean", "DPO"))
print("Does it protect under the proxy's labels? " + protect.sentence("RPO-mean", "DPO"))

# %% [markdown]
# ### What we saw
#
# The table and the verdicts, gathered from the cells above (every number is computed in this run), next to
# what the papers report on their own benchmark. The results of every run, per-item outcomes included, go to
# `results/05_dpo_rpo.jsonl`; the leaderboard (notebook 12) reads its DPO and RPO claims from there (the two
# headline claims, and RPO against DPO on the proxy's labels at the pushed learning rate).

# %%
print("saved", results.save("05_dpo_rpo", rows).name)
PAPER = {"DPO": "AlpacaEval-2 LC 21.15 (zephyr) / 15.36 (gemma)", "RPO-mean": "not reported as a number (README: "
         "'generally better' than sum)", f"SFT {START_VARIANT}": "the SFT start", CONTROL: "not run in the papers"}
table = ["| arm | seeds | test EM % | the paper reports (a different benchmark) |", "|---|---|---|---|"]
for label, rs in RUNS.items():
    name = label if label != START_VARIANT else f"SFT {label}"
    (row,) = results.summary(rs)
    table.append(f"| {name} | {row['seeds']} | {row['test']} | {PAPER.get(name, '–')} |")
said = {"above": "above", "below": "below", "inconclusive": "not distinguishable from"}
lines = [f"- **{name}** (headline): {c.summary()}" for name, c in headline.items()]
lines += [f"- {a} vs {b}: {c.summary()}" for (a, b), c in zip(SECONDARY, secondary)]
over = {label: compare_rows(PUSHED_RUNS[label, "gold"], starts_seen) for label in ("DPO", "RPO-mean")}
lines += [f"- {label} at lr {PUSHED_LR:g} ({len(OVEROPT_SEEDS)} seeds): over-training (gold twin vs start) {over[label].summary()}; "
          f"overoptimization (proxy vs gold labels) {overopt[label].summary()}" for label in over]
lines.append(f"- RPO-mean vs DPO at lr {PUSHED_LR:g}: gold labels {held.summary()}; proxy labels (proxy accuracy "
             f"{100 * acc:.1f}%) {protect.summary()}")
rpo, dpo = headline["RPO above DPO"], headline["DPO above its start"]
sampled = [sum(q["source"] == "on-policy" for q in pairs[seed]) / len(pairs[seed]) for seed in SEEDS]
verdict = (f"From starts with headroom and pairs whose rejected side is the start model's own sample (the chosen side "
           f"too in {100 * min(sampled):.0f}-{100 * max(sampled):.0f}% of each seed's pairs, else the gold answer), "
           f"at each method's dev-tuned learning rate, RPO-mean is "
           f"{said[rpo.verdict]} DPO on test ({rpo.summary()}), and DPO is {said[dpo.verdict]} its start "
           f"({dpo.summary()}). Continued SFT on the same chosen answers, the control: DPO vs it "
           f"{secondary[0].summary()}. Pushed to lr {PUSHED_LR:g} with gold labels, DPO vs its start "
           f"{over['DPO'].summary()}, and RPO-mean vs DPO {held.summary()}.")
display(Markdown("\n".join(table) + "\n\n**Verdict.** " + verdict + "\n\n" + "\n".join(lines) + "\n\n*" + RULE + "*"))

# %% [markdown]
# **How to read it.** The first verdict is the paper's claim in the regime its theory describes; the control row
# says how much of any preference arm's gain is plain SFT on the chosen answers, which the pairs bring along; the
# held-out curves show whether DPO lowered the chosen log-probability at all (RPO's argument needs it to), and
# section 6 says whether a proxy's wrong labels cost gold accuracy beyond what the same training with gold labels
# costs. Where a verdict is "inconclusive", its MDE is the effect this design could have shown; a smaller one may
# exist.
#
# Two readings of this run. At the dev-tuned rates DPO's held-out chosen log-probability did not fall (the
# probe lines under the first figure): DPO barely moved, so the headline's RPO gain is not RPO stopping a drift,
# and RPO-mean, which like the control adds an SFT term on the chosen answers, stays below the control. The drift
# appears at `PUSHED_LR` (section 6's probe lines), where DPO with gold labels has already fallen far below its
# start; that leaves the proxy's labels little to take away, so read DPO's "overoptimization not shown" with
# that floor in mind.
#
# Differences from the papers that remain: their policies have billions of parameters and open-ended answers
# judged by GPT-4 against a reference model (AlpacaEval-2 LC), their pairs come from UltraFeedback (several
# models' answers rated by GPT-4) or argilla/dpo-mix-7k, and their "overoptimization" is measured against a reward model that was
# itself the training signal. Our answers are short and exact, every rejected answer is the start model's own
# (the chosen one is its own or, for most pairs here, the gold answer), and the gold checker is the judge.
#
# ## 7. TRL and the two official variants
#
# Precisely, for TRL 1.16 (checked in `tests/test_preference.py`, with `bf16=False` so TRL's reference
# forward does not run under bf16 autocast on CPU):
#
# - `DPOTrainer` with `loss_type="sigmoid"` (the default) is `sftkit.losses.dpo_loss(...).mean()`: the test
#   matches TRL's loss on the same tiny model and batch to 1e-5.
# - There is no `rpo_alpha` any more. `loss_type=["sigmoid", "sft"], loss_weights=[1.0, alpha]` adds
#   `alpha` × the **token-mean NLL over all chosen tokens of the batch** (the test checks this too). Older
#   TRL's `rpo_alpha` added the same token-mean term.
# - Official **"mean"**: η × the per-**sequence** mean NLL, averaged over sequences. TRL's term equals it
#   (with alpha = η) only when every chosen response of the batch has the same number of tokens; otherwise
#   TRL weights long responses more.
# - Official **"sum"**: mean over pairs of −βη·log π(y_w), i.e. βη × the *summed* NLL per sequence. TRL's
#   term equals it only if alpha = βη × (mean chosen length of that batch): a batch-dependent number, so
#   **no fixed TRL setting reproduces the paper's "sum" variant**; use `get("rpo").config(reduction="sum")` (`RPOTrainer(reduction="sum")`) here.
#
# On one batch of our pairs, with the first start model as policy, at each variant's official settings:
#

# %%
OFFICIAL = {"sum": (0.01, 0.005), "mean": (0.5, 0.2)}  # (beta, eta): the paper's "sum" runs, the README's "mean"
batch = pair_collate(tokenize_pairs(tokenizer, pairs[SEEDS[0]][:BATCH_PAIRS], BASELINE.max_length), collate)
batch = {k: v.to(starts[SEEDS[0]].device) for k, v in batch.items()}
(beta_sum, eta_sum), (beta_mean, eta_mean) = OFFICIAL["sum"], OFFICIAL["mean"]
with torch.no_grad():
    logits = starts[SEEDS[0]](input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    c, r = sequence_logprob(logits, batch["labels"]).chunk(2)
    ref_c, ref_r = c - 0.3, r + 0.2  # pretend the policy has moved a little from its reference
    n = len(c)
    lengths = (batch["labels"][:n, 1:] != -100).sum(1)
    terms = {f"DPO (beta {beta_sum})": dpo_loss(c, r, ref_c, ref_r, beta_sum).mean(),
             f"RPO sum (beta {beta_sum}, eta {eta_sum})": rpo_loss(c, r, ref_c, ref_r, lengths, beta_sum, eta_sum, "sum"),
             f"DPO (beta {beta_mean})": dpo_loss(c, r, ref_c, ref_r, beta_mean).mean(),
             f"RPO mean (beta {beta_mean}, eta {eta_mean})": rpo_loss(c, r, ref_c, ref_r, lengths, beta_mean, eta_mean, "mean"),
             f"TRL sigmoid+sft (beta {beta_mean}, alpha {eta_mean})": dpo_loss(c, r, ref_c, ref_r, beta_mean).mean()
             + eta_mean * ntp_loss(logits[:n], batch["labels"][:n], "token_mean")}
for k, v in terms.items():
    print(f"{k:42s} {v.item():.5f}")
print(f"chosen lengths in this batch: {sorted(lengths.tolist())}")

# %% [markdown]
# ## Exercises
#
# Hints and worked solutions are folded: click to open. The solutions are code to paste into a new cell
# after running the notebook; they reuse its variables (`starts`, `pairs`, `TUNED`, `preference_run`, ...), and
# none of them runs by default.
#
# **1.** Train DPO with β = 0.5 (the "mean" recipe) instead of `BETA`. Does the held-out chosen log-prob move
# differently?
#
# <details><summary>Hint</summary>
#
# A larger β makes the loss saturate sooner (the sigmoid flattens once β × margin is a few units), so the
# policy needs to move less from the reference. Add a `METHODS` entry and compare the probe's first and last
# points with the tuned DPO run's (`histories["DPO"]`).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# METHODS["DPO, beta 0.5"] = ("dpo", get("dpo").config(beta=0.5))
# probe = heldout_pair_probe(starts[SEEDS[0]], heldout_batch, beta=0.5)
# r = preference_run("DPO, beta 0.5", SEEDS[0], TUNED["DPO"], pairs[SEEDS[0]], probe=probe)
# probe_summary({"DPO, beta 0.5": r.history, "DPO": histories["DPO"]})
# print(f"full-dev EM {100 * dev_accuracy(r.model):.1f}% (tuned DPO on this seed: {100 * tune_dev['DPO', TUNED['DPO']]:.1f}%)")
# ```
#
# Compare the two printed lines rather than expecting a direction: with Adam the overall scale of the gradient
# matters little; what β changes is how soon a pair's weight σ(−β·margin) fades, at a margin of about 1/β nats
# (five times smaller at β = 0.5), and at the tuned rate section 5's DPO margin stayed small. One seed only:
# add seeds and `compare_rows` before concluding anything about accuracy.
# </details>
#
# **2.** Make the proxy worse (`PROXY_NOISE = 0.45`) or better (`PROXY_NOISE = 0`) and rerun section 6. How do
# the proxy's agreement with gold and the overoptimization verdict change?
#
# <details><summary>Hint</summary>
#
# The proxy only matters where it disagrees with the gold checker: its printed accuracy on the training pairs is
# the lever. With `PROXY_NOISE = 0` the proxy is still imperfect (it saw few pairs).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# PROXY_NOISE = 0.45   # or 0.0
# # then rerun, in order, the cells of section 6: the runs, the curves and the verdicts
# ```
#
# A worse proxy flips more of the training pairs, so the proxy-labelled runs learn to prefer more wrong answers;
# whether their gold accuracy falls below the gold twins' by more than the interval allows is what the
# "overoptimization" line prints.
# </details>
#
# **3.** Replace the model's own mistakes by realistic corruptions of the gold answer on the same prompts
# (`sftkit.world.world_pairs`). Which teaches more per pair?
#
# <details><summary>Hint</summary>
#
# `world_pairs(records, samples=None, corruptions=1)` makes one gold-vs-corruption pair per record; the records
# are the training prompts of the first seed's pairs (their `id`s).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.world import world_pairs
#
# by_id = {r["id"]: r for r in splits["train"]}
# records = [by_id[p["id"]] for p in pairs[SEEDS[0]]]
# sets = {"own mistakes (this notebook's pairs)": pairs[SEEDS[0]],
#         "gold vs a corruption, same prompts": world_pairs(records, samples=None, corruptions=1, seed=SEEDS[0])}
# for label, prs in sets.items():
#     r = preference_run("DPO", SEEDS[0], TUNED["DPO"], prs)
#     print(f"{label}: {len(prs)} pairs, full-dev EM {100 * dev_accuracy(r.model):.1f}%")
# ```
#
# Corruptions are answers the model may never give, so pushing them down teaches it little about its own
# errors; one seed cannot settle it: add seeds and use `compare_rows` before concluding.
# </details>
#
# **4.** Train DPO with LoRA: `DPOTrainer` (`sftkit.methods.dpo`) then uses the same model with its adapter
# disabled as the reference. Compare memory and accuracy.
#
# <details><summary>Hint</summary>
#
# `sftkit.model.add_lora` wraps a model with a fresh adapter; `preference_run` copies `starts[seed]`, so put the
# wrapped model there for one run (and put the plain one back). `TrainResult.peak_mem_mb` holds the peak memory.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.model import add_lora
#
# seed, plain = SEEDS[0], starts[SEEDS[0]]
# full = preference_run("DPO", seed, TUNED["DPO"], pairs[seed])
# starts[seed] = add_lora(copy.deepcopy(plain), r=8)
# lora = preference_run("DPO", seed, 1e-3, pairs[seed])  # LoRA usually wants a higher learning rate
# starts[seed] = plain
# for label, r in [("full", full), ("LoRA r=8", lora)]:
#     print(f"{label}: peak memory {r.peak_mem_mb:.0f} MB, full-dev EM {100 * dev_accuracy(r.model):.1f}%")
# ```
#
# The LoRA run keeps no second copy of the model as reference and trains only the adapter, so its peak memory
# is lower; tune its learning rate as in section 4 before comparing accuracy.
# </details>
#
# **5.** Train `sftkit train rpo --reduction mean --data your_pairs.jsonl --output out/` from the command
# line on pairs you saved with `sftkit.io.write_jsonl`.
#
# <details><summary>Hint</summary>
#
# The CLI reads the same conversational preference records as `sftkit.data.load_preferences`: `prompt`,
# `chosen` and `rejected` message lists. `sftkit train rpo --help` lists the knobs, including `--beta`
# and `--eta`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.io import write_jsonl
#
# write_jsonl("my_pairs.jsonl", [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs[SEEDS[0]]])
# !sftkit train rpo --reduction mean --beta 0.1 --eta 0.2 --steps 60 --data my_pairs.jsonl --output out/rpo-mean
# ```
# </details>
#

# %% [markdown]
# **6. Check yourself: write DPO's and RPO's losses.** Write `my_dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)` (one loss per
# pair, [B]) and `my_rpo_loss(..., chosen_lengths, beta, eta)` (a scalar, the official code's "sum" variant)
# from the equations of section 3. Check them with `check_loss(my_dpo_loss, "dpo")`
# and `check_loss(my_rpo_loss, "rpo")` (add `reduction="mean"` for the other variant).
#
# <details><summary>Hint</summary>
#
# DPO: -log sigmoid(beta x margin), margin = (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)); use
# `F.logsigmoid` for stability. RPO ("sum"): the mean over pairs of DPO_i - beta eta log pi(y_w).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import torch.nn.functional as F
#
# from sftkit.checks import check_loss
#
#
# def my_dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
#     margin = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
#     return -F.logsigmoid(beta * margin)
#
#
# def my_rpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, beta, eta):
#     dpo = my_dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)
#     return (dpo - beta * eta * chosen_logps).mean()  # the chosen answer's NLL, scaled by beta * eta
#
#
# check_loss(my_dpo_loss, "dpo")
# check_loss(my_rpo_loss, "rpo")
# ```
#
# `chosen_lengths` is only used by the "mean" variant, which divides the chosen NLL by |y_w| and weights it by
# eta alone.
# </details>

# %% [markdown]
# ## Which profile produced these outputs
#
# The committed outputs of this notebook come from the **full** profile (`SFTKIT_LIGHT` unset); CI runs it
# with `SFTKIT_LIGHT=1` (one seed, one learning rate, fewer steps and prompts). The cell below prints which
# profile produced the outputs you are reading, and the wall time of this run.
#

# %%
print(f"profile: {'light (SFTKIT_LIGHT=1)' if LIGHT else 'full'}; seeds {SEEDS} (section 6: {OVEROPT_SEEDS}); "
      f"tuning grid {len(LR_GRID)} learning rates x {len(METHODS)} methods; "
      f"wall time of this run {time.perf_counter() - T0:.0f}s (from the imports cell)")
