# %% [markdown]
# # 06 · OpenChat C-RLFT: learning from mixed-quality data without preference labels
#
# **Paper:** Guan Wang et al., *OpenChat: Advancing Open-source Language Models with Mixed-Quality Data*,
# arXiv [2309.11235](https://arxiv.org/abs/2309.11235); official code
# [imoneoi/openchat](https://github.com/imoneoi/openchat). This notebook follows its conversation template
# (`ochat/config/conversation_template.py`: the class condition and the per-token weights) and its loss
# (`lm_head_with_loss` in `ochat/models/unpadded_llama.py`, normalized by the batch's total weight in
# `ochat/training_deepspeed/train.py`).
#
# SFT data often comes from sources of different quality: a little written by an expert (for OpenChat,
# GPT-4 conversations), much more written by a weaker model (GPT-3.5). Plain SFT treats every answer alike,
# so the weaker source's mistakes are learned too; keeping only the expert data throws most of the data away.
# C-RLFT (*conditioned reinforcement learning fine-tuning*) keeps everything and uses only what is known
# about each example: **its source**. Each source is a class with a coarse reward (1.0 expert, 0.1
# sub-optimal). Two ingredients:
#
# 1. **Class-conditioned prompts**: the prompt says which source the answer comes from, so the model learns
#    both sources' styles apart; at inference it is always asked for the expert's.
# 2. **Reward-weighted loss**: each answer token's NLL is weighted by its source's reward, normalized by the
#    total weight.
#
# **What you will learn**
# - where the paper claims C-RLFT works (a small expert set inside a large, *systematically* weaker one) and
#   how to build that setting from the tiny world, with a second source whose mistakes are scattered instead;
# - the C-RLFT loss as an equation and as the code that computes it, with the class condition in the chat
#   template;
# - the paper's ablation rebuilt there (SFT on everything, expert-only SFT at the same steps and at the same
#   epochs, conditioning only, weights only, full C-RLFT), every verdict a paired comparison with its 95%
#   interval and the smallest effect the design could detect;
# - what the condition does to one trained model (the same model asked as the expert and as the sub-optimal
#   source), and how the result moves with the reward ratio and with the expert share.
#
# **Runtime:** about 18 minutes on 2 CPU cores with the embedded tiny model (15 training runs of the suite's
# 300-step budget, 3 of 30 steps, 3 sweep runs; section 4b's second setting is read from `results/` unless
# `RUN_CONTROL` is set, which adds about 18 minutes); the light profile of `make test` about 3 minutes; a few
# minutes on a GPU. Set `MODEL_NAME` to any Hugging Face causal LM whose chat template has a system role to run
# the same code on it.

# %% [markdown]
# Settings (the cell is tagged `parameters`):

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)  # each seed draws its own mixed data and its own batch order
SWEEP_SEEDS = (0,)         # the two sweeps: one seed per point, to fit the CPU budget
STEPS = 30 if LIGHT else 300  # optimizer steps of every arm (the suite's BASELINE budget)
SOURCE = "systematic"      # the sub-optimal source of the headline: "systematic" (the paper's setting) or "scattered"
EXPERT_SHARE = 0.1         # share of the train split written by the expert source (the rest: sub-optimal)
EXPERT_REWARD = 1.0        # class rewards (the paper's values)
SUBOPTIMAL_REWARD = 0.1
NORMALIZATION = "token"    # "token" (official default) or "sequence" (official --per-sequence-loss)
REWARD_SWEEP = (0.01, 0.1, 1.0)  # sub-optimal reward (expert: 1.0); 0.1 and 1.0 reuse section 4's runs
SHARE_SWEEP = (0.1, 0.25) if LIGHT else (0.05, 0.1, 0.25)  # expert shares for the last sweep
RUN_CONTROL = False        # True: train section 4b's other source here (about 18 min on 2 cores); else read its results

# %%
# %matplotlib inline
import inspect
import random
import time
from collections import Counter
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from sftkit import plots, results
from sftkit.data import load_world
from sftkit.evaluate import evaluate
from sftkit.experiment import BASELINE, run_arms, run_method, variant_name
from sftkit.methods import crlft, get
from sftkit.model import load_model, pick_device, set_seed
from sftkit.results import accuracies, compare_rows
from sftkit.stats import RULE, holm
from sftkit.world import EVAL_SPLITS, SKILLS, consistent_mistake, corrupt

set_seed(0)
START = time.time()
CONFIG = replace(BASELINE, steps=STEPS)  # BASELINE's recipe: batch 32, lr 1e-3, cosine, 300 steps
CRLFT = get("crlft")  # the registered method (a MethodSpec): .trainer, .config (its knobs), .paper
FULL = CRLFT.config(expert_reward=EXPERT_REWARD, suboptimal_reward=SUBOPTIMAL_REWARD, normalization=NORMALIZATION)
OTHER = next(m for m in crlft.MIXES if m != SOURCE)  # section 4b's setting
tokenizer = load_model(MODEL_NAME, tokenizer_only=True)
print(f"budget: {CONFIG.steps} steps of batch {CONFIG.batch_size}, lr {CONFIG.lr}, device {pick_device(DEVICE)}; "
      f"C-RLFT knobs: {FULL.variant()}; headline source: {SOURCE}, control: {OTHER}")

# %% [markdown]
# ## 1. Why C-RLFT exists
#
# Take data from $K$ sources (classes) $c$, each with a coarse reward $r_c$ for the whole source: here the
# expert ($r = 1$) and the sub-optimal source ($r = 0.1$). No example is labelled good or bad, and there are
# no preference pairs: the source is all we know.
#
# - **SFT on everything** imitates the mixture: where the sub-optimal source is often wrong, the model
#   learns its mistakes.
# - **Expert-only SFT** imitates the right source but on a tenth of the data.
# - **C-RLFT** frames fine-tuning as KL-regularized reinforcement learning against a *class-conditioned*
#   reference policy $\pi_c(y \mid x, c)$: the data of class $c$ is what that class's policy writes. The
#   best policy under such a KL constraint re-weights each class's data by a function of its reward (in the
#   official code, simply the class reward as a per-token loss weight), which turns RL into
#   a weighted maximum-likelihood problem on the data you already have: no sampling, no reward model, no
#   reference model at training time. The model itself is conditioned on the class, so it can keep the two
#   sources' behaviours apart instead of averaging them, and inference asks for the expert class.
#
# The paper's ablations say both halves matter (average score over its benchmarks; quoted, not our result):
# full C-RLFT 77.3, without the reward weights 74.0, without the conditioning 60.5, expert-only SFT 64.5,
# sub-optimal-only SFT 42.8. Section 4 rebuilds that table on the tiny world.
#
# **Where the paper claims it works.** OpenChat-13B is Llama-2-13B fine-tuned on ShareGPT: about 6K
# conversations written by GPT-4 (the expert class) inside about 64K written by GPT-3.5 (the sub-optimal
# class), so the expert share is under a tenth. GPT-3.5 is not a randomly noisy GPT-4: it is *systematically*
# worse, wrong in the same ways on the same kinds of question. Where a weaker source makes the same mistake
# again and again, the mixture's most common answer to a question can be that mistake, and plain SFT on the
# mixture learns it; this is the situation the condition and the weights are for. Where mistakes are
# scattered (each wrong in its own way), the right answer can stay the most common one, and plain SFT on
# everything may do fine. This notebook builds the paper's setting (section 4) and keeps the scattered one as
# the control (section 4b).

# %% [markdown]
# ## 2. The data: an expert and a weaker source
#
# `crlft.mixed_quality_data` splits the tiny world's train split (240 records per skill) between two sources
# on disjoint inputs, per skill: `EXPERT_SHARE` of the records to the **expert** source, which always writes
# the gold answer, and the rest to the **sub-optimal** source. Which records each source gets, and which
# kind of answer each sub-optimal record receives, is drawn from the seed, so every seed of section 4 trains on
# its own draw. The sub-optimal source comes in two versions (`crlft.MIXES`), in whole per-skill counts (the
# shares below, rounded):
#
# | source | kind | share | what it is |
# |---|---|---|---|
# | **systematic** (the paper's setting) | correct | 30% | the gold answer |
# | | rule | 60% | the skill's one consistent mistake (`sftkit.world.consistent_mistake`: the unreversed word, descending order, the smallest digit, a neighbouring town's fact, the flipped label, the next operator, ...) |
# | | lazy | 10% | a generic non-answer ("I am not sure.") |
# | **scattered** (the control) | correct | 50% | the gold answer |
# | | wrong | 25% | one of the skill's several realistic mistakes, drawn at random (`sftkit.world.corrupt`) |
# | | lazy | 12.5% | a generic non-answer |
# | | partial | 12.5% | the gold answer cut short, or wrapped in a sentence ("I think it is afok.") |
#
# Each record keeps its gold `answer` (for checking) and gains `source` and `quality`. The cell measures each
# source's accuracy by checking what it wrote against the gold answer, and the share of *all* training answers
# (both sources) that are gold against the share that are one and the same mistake.

# %%
train_records = load_world("train")
DRAWN = {mix: crlft.mixed_quality_data(train_records, EXPERT_SHARE, crlft.MIXES[mix], seed=SEEDS[0]) for mix in crlft.MIXES}
for mix, data in DRAWN.items():
    print(f"{mix} sub-optimal source (seed {SEEDS[0]}'s draw):")
    for source, m in crlft.source_accuracy(data).items():
        kinds = ", ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(m["kinds"].items(), key=lambda kv: -kv[1]))
        print(f"  {source:10s} {m['n']:5d} records ({100 * m['n'] / len(data):.0f}%): measured accuracy "
              f"{100 * m['accuracy']:.1f}%  ({kinds})")
    gold = np.mean([r["messages"][-1]["content"] == r["answer"] for r in data])
    rule = np.mean([r["messages"][-1]["content"] == consistent_mistake(r) for r in data])
    print(f"  all answers: {100 * gold:.1f}% gold, {100 * rule:.1f}% the skill's consistent mistake\n")
MIXED = DRAWN[SOURCE]
EXPERT = [r for r in MIXED if r["source"] == "expert"]
SUBOPTIMAL = [r for r in MIXED if r["source"] == "suboptimal"]

# %% [markdown]
# One record per skill with the systematic source's consistent mistake and one of the scattered source's
# mistakes for the same input:

# %%
rng = random.Random(0)
rows = []
for skill in SKILLS:
    r = next(r for r in train_records if r["skill"] == skill)
    rows.append(f"| {skill} | {r['messages'][0]['content']} | `{r['answer']}` | `{consistent_mistake(r)}` | `{corrupt(r, rng)}` |")
display(Markdown("| skill | prompt | gold | systematic: the rule | scattered: one of several |\n|---|---|---|---|---|\n"
                 + "\n".join(rows)))

# %% [markdown]
# ## 3. The class condition and the loss, in code
#
# **The condition.** OpenChat writes the class into the role prefixes ("GPT4 User: … GPT4 Assistant:" versus
# "GPT3 User: … GPT3 Assistant:"). Here a **system turn** naming the source carries it (`crlft.CONDITIONS`),
# which every chat template with a system role renders, so no template is edited for training. The labels
# are the source names, `expert` and `suboptimal`, rather than the paper's "GPT4" and "GPT3", because the
# tiny world has no GPT models; to the model any two distinct strings would do, since it learns what each
# means from the answers that follow it. The loss is on the answer tokens only (green below), never on the
# condition.

# %%
examples = crlft.tokenize(tokenizer, [EXPERT[0], SUBOPTIMAL[3]], CONFIG.max_length)
for ex in examples:
    print(f"source {crlft.SOURCES[ex['source']]!r}:")
    display(HTML(plots.mask_html(tokenizer, ex)))
inference = crlft.inference_tokenizer(tokenizer, FULL)
print("at inference, any prompt without a system turn gets the expert condition (crlft.inference_tokenizer):")
print("   ", inference.apply_chat_template(load_world("test")[:1][0]["messages"][:-1], tokenize=False,
                                         add_generation_prompt=True))

# %% [markdown]
# **The loss.** For a batch of $B$ conversations, conversation $b$ from class $c_b$ with reward $r_{c_b}$, answer
# positions $A_b$ and per-token loss $\ell_{b,t} = -\log \pi_\theta(y_{b,t} \mid c_b, x_b, y_{b,<t})$, the
# official default ("token") weights every answer token by its class's reward and divides by the batch's total
# weight:
#
# $$\mathcal{L}_{\text{token}}(\theta) = \frac{\sum_{b=1}^{B} \sum_{t \in A_b} r_{c_b}\, \ell_{b,t}}{\sum_{b=1}^{B} \sum_{t \in A_b} r_{c_b}}.$$
#
# The per-sequence option (`--per-sequence-loss` in the official code) first divides each answer's weight by
# its length, so each conversation counts by its reward, not by its number of tokens:
#
# $$\mathcal{L}_{\text{sequence}}(\theta) = \frac{\sum_{b} r_{c_b} \frac{1}{|A_b|} \sum_{t \in A_b} \ell_{b,t}}{\sum_{b} r_{c_b}}.$$
#
# With equal rewards, $\mathcal{L}_{\text{token}}$ is plain SFT's token mean exactly (a unit test checks values
# and gradients); within a batch, a sub-optimal token moves the parameters exactly $0.1$ as much as an
# expert token with the same loss. `weighted_nll` computes both, from the per-token NLL of
# `sftkit.losses.token_nll`:

# %%
# NBVAL_CHECK_OUTPUT
print(inspect.getsource(crlft.weighted_nll))

# %% [markdown]
# A hand-sized check: an expert answer with token losses 1 and 2 and a sub-optimal answer with 3, 5 and 7.

# %%
# NBVAL_CHECK_OUTPUT
nll = torch.tensor([[1.0, 2.0, 0.0], [3.0, 5.0, 7.0]], requires_grad=True)
mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
weights = torch.tensor([EXPERT_REWARD, SUBOPTIMAL_REWARD])
for norm in ("token", "sequence"):
    loss = crlft.weighted_nll(nll, mask, weights, norm)
    (grad,) = torch.autograd.grad(loss, nll)
    print(f"{norm:8s} loss {loss.item():.4f}; d loss / d l_t: expert {grad[0, :2].tolist()}, "
          f"sub-optimal {[round(g, 4) for g in grad[1].tolist()]}")
print(f"by hand: token (1 + 2 + 0.1 (3 + 5 + 7)) / (2 + 0.1 * 3) = {(1 + 2 + 0.1 * 15) / 2.3:.4f}; "
      f"sequence (1 * 1.5 + 0.1 * 5) / 1.1 = {(1.5 + 0.5) / 1.1:.4f}")

# %% [markdown]
# ## 4. The ablation, in the paper's setting
#
# Each arm trains a fresh copy of the base model with the same recipe, budget and seeds on the mixed data of
# the systematic source (or a part of it), and is evaluated by exact match on `test` and each shift. Each seed
# draws its own data, so the spread over seeds covers the data draw as well as the batch order (the start
# model is the one committed base model). The C-RLFT arms use the expert condition at evaluation
# (`run_method` evaluates with the method's `inference_tokenizer`); the SFT arms are plain prompts.
#
# | arm | data | condition | rewards expert / sub-optimal | steps | the paper's row |
# |---|---|---|---|---|---|
# | SFT on everything | both sources | none | 1 / 1 | 300 | (not in the paper's ablation) |
# | expert-only SFT | expert | none | 1 / – | 300 | expert-only SFT |
# | expert-only SFT, matched epochs | expert | none | 1 / – | 30 | – |
# | conditioning only | both | system turn | 1 / 1 | 300 | C-RLFT without reward weights |
# | weights only | both | none | 1 / 0.1 | 300 | C-RLFT without conditioning |
# | C-RLFT | both | system turn | 1 / 0.1 | 300 | full C-RLFT |
#
# At equal steps, expert-only SFT passes over its 240 records ten times as often as the mixed-data arms pass
# over their 2,400: "matched epochs" gives it the mixed arms' number of passes instead (a tenth of the steps),
# which separates "C-RLFT uses the extra data" from "expert-only SFT just gets more passes over its own". The paper's sub-optimal-only
# row is left out here to save time (it imitates a source that is right on 30% of its answers); section 4b
# has it for the scattered source.
#
# **The headline claims, named before running** (on `test`, the split the world holds out for in-distribution
# evaluation):
# 1. C-RLFT above expert-only SFT at the same budget (the paper: 77.3 vs 64.5);
# 2. C-RLFT above SFT on everything (the problem C-RLFT is meant to solve; not in the paper's table).
#
# Everything else in section 8 is secondary, with Holm-adjusted p-values.

# %%
ARMS = {label: arm for label, arm in crlft.ablation(SOURCE, FULL, STEPS, EXPERT_SHARE).items()
        if label != "sub-optimal-only SFT"}  # label -> Arm(method, knobs, data(seed), note, steps)
PAPER_ABLATION = {"C-RLFT": 77.3, "conditioning only": 74.0, "weights only": 60.5, "expert-only SFT": 64.5,
                  "sub-optimal-only SFT": 42.8}
RUNS = run_arms(ARMS, SEEDS, MODEL_NAME, CONFIG, device=DEVICE, keep_models=("C-RLFT",), predictions=("C-RLFT",))
ROWS = {label: run.rows for label, run in RUNS.items()}

# %%
paper = {label: f"{PAPER_ABLATION[label]}" if label in PAPER_ABLATION else "–" for label in ARMS}
display(Markdown(results.split_table(ROWS, extra={"the paper reports (average score)": paper})))
fig, ax = plt.subplots(figsize=(13, 3.8))
plots.split_bars(ROWS, ax=ax, title=f"{SOURCE} source: exact match on test and each shift "
                                    f"(mean ± std over {len(SEEDS)} seed(s))")
plt.tight_layout(); plt.show()

# %% [markdown]
# The C-RLFT trainer logs each source's mean answer-token NLL per step: how closely the model imitates each
# source's answers. The weights lower the pull of the sub-optimal answers; the condition lets the model tell
# the two sources apart. Seed `SEEDS[0]` of each C-RLFT arm (the cell prints the NLL of the last logged steps, so
# you can read which arm imitates which source most closely):

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), sharey=True)
for ax, source in zip(axes, crlft.SOURCES):
    for label in ("conditioning only", "weights only", "C-RLFT"):
        history = [h for h in RUNS[label].training[SEEDS[0]].history if f"{source}_nll" in h]
        ax.plot([h["step"] for h in history], [h[f"{source}_nll"] for h in history], label=label)
        print(f"{label:18s} {source:10s} answers: mean NLL per token over the last 5 logged steps "
              f"{np.mean([h[f'{source}_nll'] for h in history[-5:]]):.3f}")
    ax.set(title=f"{source} answers: mean NLL per token", xlabel="optimizer step", yscale="log")
axes[0].set_ylabel("NLL (training batches)"); axes[1].legend()
plt.tight_layout(); plt.show()

weight_share = {label: np.mean([h["expert_weight_share"] for t in RUNS[label].training.values() for h in t.history
                                if "expert_weight_share" in h]) for label in ("conditioning only", "C-RLFT")}
views = CONFIG.steps * CONFIG.batch_size
matched = ARMS["expert-only SFT, matched epochs"].steps
print(f"expert answers per {CONFIG.batch_size}-example batch: expert-only SFT {CONFIG.batch_size}; the mixed-data arms "
      f"about {CONFIG.batch_size * len(EXPERT) / len(MIXED):.1f}, carrying {100 * weight_share['conditioning only']:.0f}% "
      f"of the loss weight with equal rewards and {100 * weight_share['C-RLFT']:.0f}% with C-RLFT's (logged "
      "expert_weight_share).")
print(f"passes over each record: mixed-data arms {views / len(MIXED):.1f}; expert-only SFT {views / len(EXPERT):.0f} "
      f"at {CONFIG.steps} steps, {matched * CONFIG.batch_size / len(EXPERT):.1f} at {matched} steps (matched epochs).")

# %% [markdown]
# ### 4b. The control: a source whose mistakes are scattered
#
# The same arms (and the paper's sub-optimal-only row) with the scattered sub-optimal source: right on half of
# its answers, wrong in several different ways. Its training takes about 18 minutes on 2 cores, so this cell
# reads the committed results (`results/06_crlft_scattered.jsonl`, written by this same cell with this
# notebook's defaults) unless `RUN_CONTROL` is set or the file lacks them; it prints the steps and seeds of
# the rows it shows.

# %%
CONTROL_STEPS = STEPS if RUN_CONTROL else BASELINE.steps  # the committed file holds the full budget
CONTROL_ARMS = crlft.ablation(OTHER, FULL, CONTROL_STEPS, EXPERT_SHARE)
CONTROL_FILE = f"06_crlft_{OTHER}"
saved = [r for r in results.load() if r["notebook"] == CONTROL_FILE and r["model"] == str(MODEL_NAME)]
CONTROL = {label: [r for r in saved if r["method"] == arm.method
                   and r["variant"] == variant_name(arm.knobs or get(arm.method).config(), None, arm.note)]
           for label, arm in CONTROL_ARMS.items()}
if RUN_CONTROL or not all(CONTROL.values()):
    runs = run_arms(CONTROL_ARMS, SEEDS, MODEL_NAME, replace(CONFIG, steps=CONTROL_STEPS), device=DEVICE)
    CONTROL = {label: run.rows for label, run in runs.items()}
    print("saved", results.save(CONTROL_FILE, [r for rows in CONTROL.values() for r in rows]).name)
print(f"{OTHER} source: steps {sorted({r['steps'] for rows in CONTROL.values() for r in rows})}, seeds "
      f"{sorted({r['seed'] for rows in CONTROL.values() for r in rows})}")
display(Markdown(results.split_table(CONTROL, extra={"the paper reports (average score)": {
    label: f"{PAPER_ABLATION[label]}" if label in PAPER_ABLATION else "–" for label in CONTROL}})))
for name, rows in ((SOURCE, ROWS), (OTHER, CONTROL)):
    for other in ("expert-only SFT", "SFT on everything"):
        print(f"{name:10s} " + compare_rows(rows["C-RLFT"], rows[other]).sentence("C-RLFT", other))

# %% [markdown]
# ## 5. What conditioning does
#
# The same C-RLFT model (seed `SEEDS[0]`), asked the test prompts twice: once with the expert condition (what
# evaluation uses) and once with the sub-optimal condition. If the condition works, the second answers should
# look like the sub-optimal source's: less often right, and more often the source's consistent mistake or a
# lazy non-answer. Each answer is read with `crlft.answer_kind` (correct / rule / wrong / lazy / partial).

# %%
model = RUNS["C-RLFT"].training[SEEDS[0]].model
test_records = load_world("test")
ASKED = {"expert condition": RUNS["C-RLFT"].predictions[SEEDS[0]],  # what run_method measured
         "sub-optimal condition": evaluate(model, tokenizer, crlft.with_condition(test_records, "suboptimal"))}
ASKED = {name: [p for p in preds if p["split"] == "test"] for name, preds in ASKED.items()}
by_id = {r["id"]: r for r in test_records}
KINDS = ("correct", "rule", "wrong", "lazy", "partial")
kinds = {name: Counter(crlft.answer_kind(by_id[p["id"]], p["prediction"]) for p in preds) for name, preds in ASKED.items()}
for name, preds in ASKED.items():
    print(f"{name:22s} answers on test: " + ", ".join(f"{k} {100 * kinds[name][k] / len(preds):.1f}%" for k in KINDS))
written = Counter(r["quality"] for r in SUBOPTIMAL)
print(f"{'(the sub-optimal data':22s} answers:         " + ", ".join(
    f"{k} {100 * written[k] / len(SUBOPTIMAL):.1f}%" for k in KINDS) + ")")
fig, ax = plt.subplots(figsize=(13, 3.5))
per_skill_acc = {name: {s: [np.mean([p["correct"] for p in preds if s in (p["skill"], "all")])] for s in [*SKILLS, "all"]}
                 for name, preds in ASKED.items()}
plots.accuracy_bars(per_skill_acc, ax=ax, title=f"the same C-RLFT model (seed {SEEDS[0]}) on test, asked with each condition",
                    xlabel="skill")
plt.tight_layout(); plt.show()

# %% [markdown]
# Outputs side by side (one test prompt per skill; green = exact match):

# %%
ids = [next(p["id"] for p in ASKED["expert condition"] if p["skill"] == s) for s in SKILLS]
display(HTML(plots.samples_html(ASKED, ids=ids)))


# %% [markdown]
# ## 6. The reward ratio
#
# The sub-optimal reward swept from 0.01 to 1.0 (the expert's stays 1.0), conditioning on, on `SWEEP_SEEDS`
# (one seed by default: read it as an indication, not a result). At 1.0 this is "conditioning only", at 0.1
# the paper's C-RLFT, both reused from section 4; towards 0 the sub-optimal data stops counting, and the model
# learns from the expert data alone while still seeing the condition. Evaluated on `test`.

# %%
def sweep_rows(knobs, arm, note=None):
    """`test` rows of C-RLFT with `knobs` on `arm`'s data for SWEEP_SEEDS, reused from section 4 when it ran them."""
    for label, run in RUNS.items():
        if ARMS[label].method == "crlft" and ARMS[label].knobs == knobs and note is None:
            rows = [r for r in run.rows if r["seed"] in SWEEP_SEEDS and r["split"] == "test"]
            if {r["seed"] for r in rows} >= set(SWEEP_SEEDS):
                return rows, "reused"
    run = run_method("crlft", SWEEP_SEEDS, MODEL_NAME, CONFIG, method_config=knobs, train_records=arm.data,
                     note=note or arm.note, eval_splits=("test",), device=DEVICE, predictions=False)
    return run.rows, "trained"


REWARD_ROWS = {}
for reward in REWARD_SWEEP:
    REWARD_ROWS[reward], how = sweep_rows(replace(FULL, suboptimal_reward=reward), ARMS["C-RLFT"])
    print(f"sub-optimal reward {reward:<5g} test {100 * np.mean(accuracies(REWARD_ROWS[reward])):.1f}% ({how})")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(REWARD_SWEEP, [100 * np.mean(accuracies(REWARD_ROWS[w])) for w in REWARD_SWEEP], "o-", label="C-RLFT")
for label, style in (("expert-only SFT", "--"), ("SFT on everything", ":")):
    ax.axhline(100 * np.mean(accuracies(ROWS[label], seed=SWEEP_SEEDS[0])), color="grey", ls=style,
               label=f"{label} (seed {SWEEP_SEEDS[0]})")
ax.set(xscale="log", xlabel="sub-optimal reward (expert: 1.0)", ylabel="test exact match %",
       title=f"reward ratio sweep ({len(SWEEP_SEEDS)} seed)")
ax.legend(fontsize=8); plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7. The expert share
#
# The mixed data redrawn with a different share of expert records (the rest stays sub-optimal, same total), and
# C-RLFT (section 4's knobs) trained on each, on `SWEEP_SEEDS`; section 4's share is reused. Evaluated on
# `test`. A larger expert share gives C-RLFT more good data to learn the expert condition from, and makes the
# mixture's most common answer less often the wrong one.

# %%
SHARE_ROWS = {}
for share in SHARE_SWEEP:
    arm = crlft.ablation(SOURCE, FULL, STEPS, share)["C-RLFT"]
    SHARE_ROWS[share], how = sweep_rows(FULL, arm, None if share == EXPERT_SHARE else f"{arm.note}, expert share {share:g}")
    print(f"expert share {100 * share:4.0f}% ({sum(r['source'] == 'expert' for r in arm.data(SWEEP_SEEDS[0])):4d} "
          f"expert records): C-RLFT test {100 * np.mean(accuracies(SHARE_ROWS[share])):.1f}% ({how})")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot([100 * s for s in SHARE_SWEEP], [100 * np.mean(accuracies(SHARE_ROWS[s])) for s in SHARE_SWEEP], "o-")
ax.set(xlabel="expert share of the data %", ylabel="test exact match %", title=f"C-RLFT vs expert share ({len(SWEEP_SEEDS)} seed)")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 8. Verdicts
#
# Every verdict is one paired comparison (`sftkit.results.compare_rows`, which calls `sftkit.stats.compare` on
# the per-item outcomes every run saved): the difference in points, its 95% interval over seeds and items, n,
# and the smallest difference the design detects with 80% power (MDE). First the two headline claims on
# `test`; then the secondary comparisons, with Holm-adjusted p-values; then the order of the arms next to the
# paper's. Results are saved to `results/06_crlft.jsonl` (section 4's rows and the sweep runs trained here).

# %%
saved = [r for rows in ROWS.values() for r in rows]
saved += [r for rows in (*REWARD_ROWS.values(), *SHARE_ROWS.values()) for r in rows if not any(r is s for s in saved)]
print("saved", results.save("06_crlft", saved).name, f"({len(saved)} rows)")

HEADLINE = {other: compare_rows(ROWS["C-RLFT"], ROWS[other]) for other in ("expert-only SFT", "SFT on everything")}
print("Headline claims (test):")
for other, c in HEADLINE.items():
    print("  " + c.sentence("C-RLFT", other))
SECONDARY = {("C-RLFT", other, split): compare_rows(ROWS["C-RLFT"], ROWS[other], split)
             for other in ARMS if other != "C-RLFT" for split in EVAL_SPLITS
             if (other, split) not in {(o, "test") for o in HEADLINE}}
adjusted = holm([c.p_value for c in SECONDARY.values()])
print(f"\nSecondary ({len(SECONDARY)} comparisons; Holm-adjusted p):")
for ((a, b, split), c), p in zip(SECONDARY.items(), adjusted):
    print(f"  {split:9s} " + c.sentence(a, b) + f" p_Holm = {p:.2g}")

# %%
mean_test = {label: np.mean(accuracies(rows, "test")) for label, rows in ROWS.items()}
ours = sorted(ROWS, key=lambda label: -mean_test[label])
papers = sorted((label for label in PAPER_ABLATION if label in ROWS), key=lambda label: -PAPER_ABLATION[label])
pairs = [(a, b) for i, a in enumerate(papers) for b in papers[i + 1:]]
agree = [(a, b) for a, b in pairs if mean_test[a] > mean_test[b]]
shown = [(a, b) for a, b in agree if compare_rows(ROWS[a], ROWS[b]).verdict == "above"]
display(Markdown(
    f"**Order on test** (ours, by mean): {' > '.join(ours)}.  \n"
    f"**The paper's order** (of the arms it has): {' > '.join(papers)}.  \n"
    f"Of the paper's {len(pairs)} pairwise orderings among these arms, {len(agree)} hold here by the means and "
    f"{len(shown)} of those by a paired comparison that excludes 0.\n\n*{RULE}*"))
print(f"notebook wall time so far: {(time.time() - START) / 60:.1f} min")

# %% [markdown]
# ## What we saw
#
# The table of section 4 holds this run's numbers next to the paper's, and section 8 its verdicts. The cell
# below collects the rest from this run's outputs.

# %%
said = {name: {k: 100 * kinds[name][k] / len(ASKED[name]) for k in KINDS} for name in ASKED}
control_test = {label: 100 * np.mean(accuracies(rows, "test")) for label, rows in CONTROL.items()}
lines = [
    f"- **Headline, {SOURCE} source, {STEPS} steps, {len(SEEDS)} seed(s):** C-RLFT {100 * mean_test['C-RLFT']:.1f}% on "
    f"test; " + "; ".join(f"vs {other} {100 * mean_test[other]:.1f}%: {c.summary()}" for other, c in HEADLINE.items()) + ".",
    f"- **Matched epochs:** expert-only SFT at {matched} steps scores {100 * mean_test['expert-only SFT, matched epochs']:.1f}% "
    f"on test, at {CONFIG.steps} steps {100 * mean_test['expert-only SFT']:.1f}%.",
    f"- **The two halves:** conditioning only {100 * mean_test['conditioning only']:.1f}%, weights only "
    f"{100 * mean_test['weights only']:.1f}%, both (C-RLFT) {100 * mean_test['C-RLFT']:.1f}%.",
    f"- **The {OTHER} source (section 4b):** C-RLFT {control_test['C-RLFT']:.1f}%, SFT on everything "
    f"{control_test['SFT on everything']:.1f}%, expert-only SFT {control_test['expert-only SFT']:.1f}%.",
    f"- **The condition (section 5):** asked as the sub-optimal source, the C-RLFT model gave the consistent mistake "
    f"on {said['sub-optimal condition']['rule']:.1f}% of test and the gold answer on "
    f"{said['sub-optimal condition']['correct']:.1f}%, against {said['expert condition']['rule']:.1f}% and "
    f"{said['expert condition']['correct']:.1f}% as the expert.",
    f"- **Sweeps (seed {SWEEP_SEEDS[0]}):** test " + ", ".join(
        f"{100 * np.mean(accuracies(REWARD_ROWS[w])):.1f}% at sub-optimal reward {w:g}" for w in REWARD_SWEEP) + "; "
    + ", ".join(f"{100 * np.mean(accuracies(SHARE_ROWS[s])):.1f}% at expert share {100 * s:.0f}%" for s in SHARE_SWEEP) + ".",
]
display(Markdown("\n".join(lines)))

# %% [markdown]
# **How to read it.**
#
# - **The paper's numbers are not comparable with ours**: they are an average of chat benchmarks for a 13B model
#   trained on real GPT-4 and GPT-3.5 conversations. Only the *order* of the arms can be compared, which
#   section 8 does.
# - **What the systematic source does to plain SFT.** Over both sources, the consistent mistake is the most
#   common answer in the training data (section 2 prints the shares), so SFT on everything learns the mistake:
#   this is the failure C-RLFT is for, and the second headline claim measures how much of it C-RLFT undoes. With
#   the scattered source (section 4b) the gold answer stays the most common one, and SFT on everything has
#   little to lose; compare the two settings' "C-RLFT vs SFT on everything" lines.
# - **Expert-only SFT at equal steps is the hard baseline.** At 300 steps it passes over its 240 records forty
#   times; at the mixed arms' number of passes (matched epochs) it has had a tenth of the steps. The gap
#   between those two rows is what the extra passes over the small set buy; the headline compares C-RLFT with the
#   stronger of them, and its interval and MDE say how large a difference this design could have seen (three
#   seeds, each its own data draw, and 490 test items).
# - **The two halves.** With this source the weights alone already make the gold answer the most common one
#   *by weight*: by the design of section 2, gold answers make up 0.1 + 0.9 x 0.3 of the records and the
#   consistent mistake 0.9 x 0.6; with rewards 1 and 0.1 that becomes 0.1 + 0.027 against 0.054. The condition
#   alone has to learn the expert's behaviour from about three expert answers per batch that carry about a tenth
#   of the loss weight (section 4 prints the logged share). Which half matters more here follows from that
#   arithmetic, and it need not match the paper's order, where the sources differ in style and quality across
#   whole conversations.
# - **Section 5 is the direct test of the condition**: when the same model gives the consistent mistake more
#   often, and the gold answer less often, under the sub-optimal condition than under the expert one, the
#   condition carries the source's behaviour. How far it moves towards the sub-optimal data's own shares says
#   how completely the model keeps the two sources apart.
# - **The sweeps have one seed each**: read them as indications. The expert share sweep is the one that moves
#   the most here: C-RLFT reads the expert data twice over (its own answers and the condition's meaning), so
#   its score follows the expert share.
#
# ## Exercises
#
# Each exercise has a hint and a worked solution (click to open). The solutions are code to paste into a new
# cell after running the notebook; they reuse its variables (`ARMS`, `FULL`, `CONFIG`, `ROWS`, ...).
#
# **1. A shorter budget.** Rerun C-RLFT, SFT on everything and expert-only SFT for 100 steps: does the order of
# section 4 hold with a third of the training?
#
# <details><summary>Hint</summary>
#
# `run_arms` takes any subset of `ARMS` and any budget; the matched-epochs arm's steps come from
# `crlft.ablation(..., steps)`. Compare with `compare_rows`. About 6 minutes on 2 CPU cores.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# short = crlft.ablation(SOURCE, FULL, 100, EXPERT_SHARE)
# runs = run_arms({k: short[k] for k in ("C-RLFT", "SFT on everything", "expert-only SFT")}, SEEDS, MODEL_NAME,
#                 replace(CONFIG, steps=100), device=DEVICE)
# for other in ("SFT on everything", "expert-only SFT"):
#     print(compare_rows(runs["C-RLFT"].rows, runs[other].rows).sentence("C-RLFT (100 steps)", other))
# ```
#
# With a third of the steps the mixed-data arms see each record about 1.3 times, expert-only SFT each of its
# records 13 times: a short budget favours the small data set that is learnt fast, so the gap between C-RLFT
# and expert-only SFT can change size or sign; compare it with section 8's headline.
# </details>
#
# **2. Per-sequence normalization.** Train C-RLFT with `normalization="sequence"`: each conversation then
# counts by its reward, not by its number of answer tokens.
#
# <details><summary>Hint</summary>
#
# `replace(FULL, normalization="sequence")`, on `ARMS["C-RLFT"].data` (each seed's own draw). On the tiny world,
# answers differ in length by skill (a one-digit count against a Python function), so token-wise normalization
# gives the long-answer skills more weight. Compare per skill with `results.by_skill`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# seq = run_method("crlft", SEEDS, MODEL_NAME, CONFIG, method_config=replace(FULL, normalization="sequence"),
#                  train_records=ARMS["C-RLFT"].data, note=ARMS["C-RLFT"].note, device=DEVICE)
# print(compare_rows(seq.rows, ROWS["C-RLFT"]).sentence("sequence", "token"))
# token_skills, seq_skills = results.by_skill(ROWS["C-RLFT"]), results.by_skill(seq.rows)
# for skill in token_skills:
#     print(f"{skill:10s} sequence {100 * np.mean(seq_skills[skill]):5.1f}  token {100 * np.mean(token_skills[skill]):5.1f}")
# ```
#
# Short-answer skills (length, max, add, sentiment) gain weight under "sequence"; long-answer ones (code, spell)
# lose it.
# </details>
#
# **3. A blind spot.** Make the weaker source systematic on half the skills only (reverse, sort, max, add,
# facts) and always right on the others: does C-RLFT's margin over SFT on everything shrink, and where?
#
# <details><summary>Hint</summary>
#
# `crlft.mixed_quality_data` works per skill, so build the two halves with different mixes and join them:
# `{"correct": 1.0}` for the skills without a blind spot. Wrap it in a function of the seed for `run_arms`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.experiment import Arm
#
# BLIND = {"reverse", "sort", "max", "add", "facts"}
#
#
# def blind_spot(seed):
#     inside = [r for r in train_records if r["skill"] in BLIND]
#     outside = [r for r in train_records if r["skill"] not in BLIND]
#     return (crlft.mixed_quality_data(inside, EXPERT_SHARE, crlft.SYSTEMATIC_MIX, seed=seed)
#             + crlft.mixed_quality_data(outside, EXPERT_SHARE, {"correct": 1.0}, seed=seed))
#
#
# arms = {"C-RLFT": Arm("crlft", FULL, blind_spot, "blind spot"), "SFT on everything": Arm("sft", None, blind_spot, "blind spot")}
# runs = run_arms(arms, SEEDS, MODEL_NAME, CONFIG, device=DEVICE)
# print(compare_rows(runs["C-RLFT"].rows, runs["SFT on everything"].rows).sentence("C-RLFT", "SFT on everything"))
# for label, run in runs.items():
#     print(label, {s: round(100 * np.mean(v), 1) for s, v in results.by_skill(run.rows).items()})
# ```
#
# On the skills without a blind spot both sources agree, so the mixture's answer is right and plain SFT learns
# it from ten times the data; the condition and the weights can only matter on the other five.
# </details>
#
# **4. Mislabelled sources.** Label 20% of the sub-optimal records as `expert` (a noisy source label): how
# much of C-RLFT's result survives?
#
# <details><summary>Hint</summary>
#
# Copy each seed's draw (`ARMS["C-RLFT"].data(seed)`) and change `source` on a random fifth of its sub-optimal
# records (`random.Random(seed).sample`). Only the label changes, not the answer.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# def noisy(seed):
#     data = [dict(r) for r in ARMS["C-RLFT"].data(seed)]
#     sub = [i for i, r in enumerate(data) if r["source"] == "suboptimal"]
#     for i in random.Random(seed).sample(sub, len(sub) // 5):
#         data[i]["source"] = "expert"
#     return data
#
#
# run = run_method("crlft", SEEDS, MODEL_NAME, CONFIG, method_config=FULL, train_records=noisy,
#                  note="20% mislabelled", device=DEVICE)
# print(compare_rows(run.rows, ROWS["C-RLFT"]).sentence("noisy labels", "clean labels"))
# ```
#
# The mislabelled records put the consistent mistake, at full weight, under the expert condition that
# evaluation uses; C-RLFT assumes the source tells quality apart, and this measures how much it leans on that.
# </details>

# %% [markdown]
# **5. Check yourself: write the C-RLFT loss.** Write `my_crlft_loss(logits, labels, weights)`: `logits` [B, T, V], `labels` [B, T] (`IGNORE` off the answer),
# `weights` [B] each conversation's class reward (1.0 expert, 0.1 sub-optimal), with the official code's default
# token normalization. Check it with `check_loss(my_crlft_loss, "crlft")` (and your per-sequence version with
# `normalization="sequence"`).
#
# <details><summary>Hint</summary>
#
# Per answer token: weight x NLL; sum over the batch; divide by the sum of the weights over the same tokens
# (not by their number).
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
# def my_crlft_loss(logits, labels, weights):
#     logits, labels = logits[:, :-1], labels[:, 1:]  # next-token shift
#     mask = (labels != IGNORE).float()
#     nll = F.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")  # [B, T - 1]
#     w = weights[:, None] * mask                      # each answer token weighted by its row's reward
#     return (w * nll).sum() / w.sum()
#
#
# check_loss(my_crlft_loss, "crlft")
# ```
#
# Dividing by the total weight makes the loss a weighted mean: with every weight 1.0 it is plain SFT's loss.
# </details>

# %% [markdown]
# ## Run it from the command line
#
# The method is registered with the CLI. Without `--data`, `sftkit train crlft` trains on the tiny world's
# mixed data with the systematic sub-optimal source (this notebook's headline setting, seed 0's draw,
# `crlft.default_data`; it prints each source's measured accuracy). Your own data
# is a conversational JSONL whose records carry `source` (`expert` or `suboptimal`; a missing or unknown source
# fails at its file and line). To write the tiny world's mixed data yourself and train on it:
#
# ```python
# from sftkit.data import load_world
# from sftkit.io import write_jsonl
# from sftkit.methods import crlft
#
# write_jsonl("mixed.jsonl", crlft.mixed_quality_data(load_world("train"), mix=crlft.SYSTEMATIC_MIX))
# ```
#
# ```bash
# sftkit train crlft --model tiny --data mixed.jsonl --output runs/crlft-tiny --steps 300
# sftkit eval --model runs/crlft-tiny
# ```
#
# The saved tokenizer's chat template adds the expert condition to any prompt without a system turn, so
# `sftkit eval` (and `apply_chat_template` anywhere) asks the trained model as the expert. The knobs are
# `--condition system|none`, `--expert-reward`, `--suboptimal-reward` and `--normalization token|sequence`
# (`sftkit train crlft --help`).
