# %% [markdown]
# # 07 · PPO with LoRA for language understanding
#
# **Paper:** Bokai Hu, Sai Ashish Somayajula, Xin Pan, Pengtao Xie (arXiv v1; the Findings of EMNLP 2025
# version adds Qi Cao: Somayajula, Hu, Cao, Pan, Xie), *Improving the Language Understanding Capabilities of
# Large Language Models Using Reinforcement Learning*, arXiv [2410.11020](https://arxiv.org/abs/2410.11020);
# official code [coder-qicao/RL4GLUE](https://github.com/coder-qicao/RL4GLUE). This notebook follows its
# `ppo.py` (a fixed answer format, the reward +1 / -1 / -3, LoRA r=16, alpha=32, dropout 0.05, batch 16, minibatch 8, initial KL
# coefficient 0.2 with the adaptive controller) and the TRL `PPOTrainer` that code runs (GAE, clipped losses).
#
# **What you will learn**
# - why a classification task can be trained as reinforcement learning: the reply is a sequence of actions,
#   the reward only says whether the label read out of it is right;
# - PPO for a causal LM piece by piece: rollouts, per-token KL penalty, value head, GAE, clipped policy and
#   value losses, the adaptive KL coefficient, each as an equation next to the function that computes it;
# - why PPO from a model that never produces a readable answer learns the format at best, not the task, and
#   what a short SFT warm-up changes;
# - how to tune PPO's learning rate and KL coefficient on dev, and how to count and explain seeds that
#   collapse to a constant answer;
# - what PPO costs against SFT on the same prompts (wall time and memory, measured here).
#
# **Runtime** (2-core laptop CPU): about 15 minutes with the settings below (a 3 x 2 tuning grid on one seed,
# then five seeds of each trained row), about 3 minutes with `SFTKIT_LIGHT=1` (one seed, a 2 x 1 grid, fewer
# steps: what `make test` runs). On a GPU, set `MODEL_NAME` to a Hugging Face chat model and `DEVICE = "cuda"`:
# the same cells run (the tiny-world tasks are plain text).

# %% [markdown]
# Settings (the cell is tagged `parameters`):

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2, 3, 4)
CHAT_STEPS = 300           # the starting chat model: plain SFT on the world's train split (notebook 01's recipe)
BATCH_SIZE = 16            # prompts per step, SFT and PPO alike (paper: 16)
BUDGET = 60 if LIGHT else 110  # steps of BATCH_SIZE task prompts every trained row gets
WARMUP = 40 if LIGHT else 50   # SFT -> PPO: this many SFT steps, then PPO for the rest of BUDGET
COLD_STEPS = 10 if LIGHT else 15  # PPO from the chat model itself (the paper's setup), one seed
SFT_LR = 1e-3              # SFT + LoRA and the warm-up (the suite's SFT rate)
LR_GRID = (3e-4, 1e-3) if LIGHT else (1e-4, 3e-4, 1e-3)  # PPO's learning rate, tuned on dev
KL_GRID = (0.2,) if LIGHT else (0.2, 1.0)  # PPO's initial KL coefficient beta (paper: 0.2), tuned on dev
FEW_SHOT = 4               # in-context examples of the few-shot row

# %%
# %matplotlib inline
import time
from dataclasses import replace
from functools import partial

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, Markdown, display

from sftkit import plots, results, stats
from sftkit.experiment import BASELINE
from sftkit.methods import ppo
from sftkit.model import fresh_lora as with_fresh_lora, load_model, pick_device, set_seed
from sftkit.online import OnlineConfig
from sftkit.results import fmt_mean_std
from sftkit.train import TrainConfig, train
from sftkit.data import load_world
from sftkit.world.judgements import TASKS, few_shot_examples, parse_judgement, task_records, with_examples

set_seed(0)
DEVICE = pick_device(DEVICE)
print(f"device {DEVICE}, torch threads {torch.get_num_threads()}")

# %% [markdown]
# ## 1. Understanding tasks as a game with a score
#
# Hu et al. ask a chat model a GLUE question in a fixed answer format and read the label out of its reply.
# Supervised fine-tuning teaches the exact label tokens. PPO instead lets the model answer, scores the answer,
# and raises the probability of the replies that scored well: +1 for the right label, -1 for the wrong one,
# -3 when no label can be read at all (the format is worth more than a guess). The paper reports, on GLUE with
# LLaMA2-7B, PPO 6.3 points above SFT, 38.7 above zero-shot and 26.1 above few-shot prompting.
#
# Two tasks of the tiny world in that shape: one sentence (like SST-2) and one pair (like MRPC or RTE), each
# with a test split and a shifted split the training prompts never resemble: negated sentences, whose label
# flips, and three-digit numbers. The compare task has one more split, `wide`: 1,000 further two-digit
# questions drawn like its test split (none in train, dev or test). It exists for the headline comparison
# (section 5): after SFT the sentiment test is close to the ceiling for the trained arms (section 7's table),
# which leaves it little room to separate them, and compare's 100 test questions alone give too wide an
# interval.

# %%
TRAIN, DEV = task_records("train"), task_records("dev")
EVAL = task_records("test") + task_records("shift") + task_records("wide")
for task, about in TASKS.items():
    splits = {r["split"] for r in EVAL if r["task"] == task}
    print(f"{task:9s} {about}; train {sum(r['task'] == task for r in TRAIN)}, evaluated on "
          + ", ".join(f"{s} {sum(r['task'] == task and r['split'] == s for r in EVAL)}" for s in sorted(splits)))
for r in (TRAIN[0], TRAIN[-1], next(r for r in EVAL if r["split"] == "composed"), next(r for r in EVAL if r["split"] == "larger")):
    print(f"  [{r['split']:8s}] {r['messages'][0]['content']!r} -> {r['answer']!r}")

# %% [markdown]
# The parser adapts the official rule. RL4GLUE tests substring containment (`"Yes" in x`, case-sensitive) in
# the text before `</Judgement>`; here a reply counts when exactly one label occurs in it as a whole word,
# spelled as the format asks. The reward follows:

# %%
print(plots.source_of(parse_judgement))
record = TRAIN[0]
for reply in ["yes", "yes, it is", "no", "Yes", "yes no", "", "positive"]:
    print(f"{reply!r:14s} -> label {parse_judgement(reply)!s:5s} reward {ppo.judgement_reward_fn([record], [reply]).item():+.0f}"
          f"   (gold {record['answer']!r})")

# %% [markdown]
# ## 2. The starting point: a small chat model, zero-shot and few-shot
#
# The paper starts from instruction-tuned chat models. Ours is the tiny base model after plain SFT on the
# world's ten skills (notebook 01's recipe), so it follows *those* instructions. The judgement tasks are new to
# it: a new question form and an answer vocabulary ("yes" / "no") it was never trained to produce. Zero-shot,
# it is asked the question; few-shot, `FEW_SHOT` answered examples of the same task come first as earlier turns.

# %%
start = time.time()
base, tokenizer = load_model(MODEL_NAME, device=DEVICE)
CHAT = train(base, tokenizer, load_world("train"), replace(BASELINE, steps=CHAT_STEPS)).model
print(f"chat model: {CHAT_STEPS} SFT steps on the world's train split in {time.time() - start:.0f}s")

def judged_scores(model, records):
    rows = ppo.judge(model, tokenizer, records)
    return rows, ppo.scores(rows)

COLUMNS = [("sentiment", "test"), ("sentiment", "composed"), ("compare", "test"), ("compare", "larger")]
ZERO_ROWS, zero = judged_scores(CHAT, EVAL)
shots = {t: few_shot_examples(TRAIN, t, FEW_SHOT) for t in TASKS}
FEW_ROWS, few = judged_scores(CHAT, [with_examples(r, shots[r["task"]]) for r in EVAL])
for label, s in (("zero-shot", zero), ("few-shot", few)):
    print(f"{label:9s} " + "  ".join(f"{t}/{sp}: acc {100 * s[(t, sp)]['accuracy']:3.0f}% parsed "
                                     f"{100 * s[(t, sp)]['parse_rate']:3.0f}%" for t, sp in COLUMNS))
display(HTML(plots.samples_html({"zero-shot": ZERO_ROWS, "few-shot": FEW_ROWS},
                                ids=[ZERO_ROWS[i]["id"] for i in (0, 1, 100, 200, 201, 300)])
             .replace("<th>skill</th>", "<th>task</th>")))

# %% [markdown]
# The chat model answers in the form it knows (a spelled word, a number, a code line): it never says "yes" or
# "no", so every reply earns -3. That is the situation PPO meets if it starts here.
#
# ## 3. PPO, piece by piece
#
# One PPO step on a batch of $N$ prompts (`sftkit/methods/ppo.py`; $t$ runs over the reply's tokens, the mask
# is 1 on them and 0 on the prompt and padding):
#
# 1. **Rollout.** Sample one reply per prompt from the current policy $\pi_\theta$ (temperature 0.8, one
#    batched `generate`), score it: $s \in \{+1, -1, -3\}$.
# 2. **Forward.** One pass of the LoRA model gives the log-probability of each sampled token,
#    $\log\pi_{old}(a_t)$, and, from the last hidden state through a linear **value head**, $V_{old}(s_t)$.
#    The same model with its adapter disabled is the reference $\pi_{ref}$ (the starting policy).
# 3. **Rewards** (`kl_rewards`): $r_t = -\beta\,(\log\pi_{old}(a_t) - \log\pi_{ref}(a_t))$, plus $s$ on the
#    reply's last token.
# 4. **Advantages** (`gae`): $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$, $A_t = \delta_t + \gamma\lambda A_{t+1}$,
#    $V = 0$ after the last token; returns $R_t = A_t + V(s_t)$; $A$ whitened over the batch's reply tokens.
# 5. **Update**, `ppo_epochs` passes in minibatches, $\rho_t = \pi_\theta(a_t)/\pi_{old}(a_t)$:
#    $$L = \underbrace{\overline{\max\big(-A_t\rho_t,\; -A_t\,\mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\big)}}_{\texttt{policy\_loss}}
#    + c_v\,\underbrace{\tfrac12\,\overline{\max\big((V_t - R_t)^2,\; (\mathrm{clip}(V_t, V^{old}_t \pm \epsilon_v) - R_t)^2\big)}}_{\texttt{value\_loss}}$$
#    where $\overline{x}$ is the mean over the minibatch's reply tokens.
# 6. **KL coefficient** (`AdaptiveKL`, Ziegler et al. 2019): $\beta \leftarrow \beta\,(1 + \mathrm{clip}(\mathrm{KL}/\mathrm{target} - 1, \pm 0.2)\,N/\mathrm{horizon})$,
#    with KL the batch mean of $\sum_t (\log\pi_{old}(a_t) - \log\pi_{ref}(a_t))$ and $N$ the replies per step.
#
# Replies are sampled at temperature 0.8 while the ratios and the KL use the model's untempered log-probs, as in
# TRL.
#
# The code of steps 4 and 5, exactly as it runs:

# %%
for fn in (ppo.gae, ppo.policy_loss, ppo.value_loss):
    print(plots.source_of(fn))
print("defaults:", ppo.Config())

# %% [markdown]
# ## 4. PPO from the chat model (the paper's setup)
#
# `COLD_STEPS` PPO steps straight from the chat model, one seed. Watch the reward and the share of readable
# replies.

# %%
ONLINE = OnlineConfig(prompts_per_step=BATCH_SIZE, samples_per_prompt=1, temperature=0.8, top_p=1.0,
                      max_new_tokens=16, lr=max(LR_GRID))  # here the grid's largest rate: the most movement
PPO_CONFIG = ppo.Config(init_kl_coef=KL_GRID[0])

fresh_lora = partial(with_fresh_lora, lora=ppo.LORA)  # a copy with the paper's fresh adapter (disabled: the reference)

torch.manual_seed(0)
COLD = ppo.run(fresh_lora(CHAT), tokenizer, TRAIN, replace(ONLINE, steps=COLD_STEPS, seed=0), PPO_CONFIG)
cold_rows, cold = judged_scores(COLD.model, EVAL)
steps = [h["step"] for h in COLD.history]
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
axes[0].plot(steps, [h["reward"] for h in COLD.history], "o-")
axes[0].set(xlabel="PPO step", ylabel="mean reward of the batch", ylim=(-3.2, 1.2), title="reward (-3: nothing readable)")
axes[1].plot(steps, [100 * h["parse_rate"] for h in COLD.history], "o-", label="readable replies")
axes[1].plot(steps, [100 * h["accuracy"] for h in COLD.history], "s-", label="right replies")
axes[1].set(xlabel="PPO step", ylabel="% of the batch", ylim=(-5, 105), title="rollouts"); axes[1].legend()
plt.tight_layout(); plt.show()
readable = sum(h["parse_rate"] for h in COLD.history) * BATCH_SIZE
print(f"{COLD_STEPS} steps, {COLD_STEPS * BATCH_SIZE} sampled replies, {readable:.0f} readable; after training, test: "
      f"accuracy {100 * cold[('all', 'test')]['accuracy']:.0f}%, readable {100 * cold[('all', 'test')]['parse_rate']:.0f}%; "
      f"last greedy replies: {[r['prediction'] for r in cold_rows[:3]]}")


# %% [markdown]
# At first nearly every sampled reply earns -3, and while every reply earns the same score the score carries no
# information: after whitening, the advantages are made of the KL term and the value head's noise. Sampling at
# temperature 0.8 does now and then produce a bare "yes" or "no" (the count of readable replies above), and
# those replies are the only ones PPO can raise. What it raises is the *format*, not the task: the printed
# test accuracy of the cold run is at chance on a balanced split, and its first greedy replies are all one label.
# The paper's chat models already answer in the format zero-shot; ours does not (section 2). The usual remedy
# (InstructGPT, and what TRL's documentation recommends) is to start PPO from a model that was briefly
# fine-tuned on the format.
#
# ## 5. The comparison: SFT + LoRA vs SFT -> PPO + LoRA, same prompts
#
# Every trained row sees `BUDGET` steps of `BATCH_SIZE` task prompts, with a fresh LoRA adapter (r=16, alpha=32,
# dropout 0.05) on the chat model:
#
# | row | what it does with the budget |
# |---|---|
# | SFT + LoRA | `BUDGET` steps of next-token loss on (prompt, gold label), lr `SFT_LR` |
# | SFT warm-up only | `WARMUP` steps of the same SFT recipe (a separate, shorter run: the start of PPO; a control) |
# | SFT -> PPO + LoRA, tuned on dev | `WARMUP` SFT steps, the adapter merged, then `BUDGET - WARMUP` PPO steps with a fresh adapter; the warm-started model is PPO's KL reference |
#
# So SFT reads `BUDGET x BATCH_SIZE` gold labels, SFT -> PPO reads `WARMUP x BATCH_SIZE` and then only rewards.
# Each seed varies everything random in a row: the LoRA initialisation, the order of the training prompts, and
# for PPO its own warm-up (seed s of PPO starts from seed s of the warm-up), its samples and its minibatch
# order. The chat model is shared, like a pretrained checkpoint. Per seed the rows run one after the other, so
# their costs are measured on the same machine state.
#
# **Headline claim, named before running:** SFT -> PPO + LoRA (tuned on dev) above SFT + LoRA on `wide`
# (1,000 compare questions, paired per question, `len(SEEDS)` seeds a side): the paper's claim, on a split where
# neither arm is at the ceiling. Secondary, Holm-adjusted: the same comparison on the pooled test and shift
# splits, PPO against its own warm-up on `wide` (did the PPO steps add anything?), and PPO against few-shot
# prompting on `wide`.
#
# ### 5a. Tuning PPO on dev
#
# PPO's learning rate and its initial KL coefficient $\beta$ are picked on `DEV` (both tasks, 120 questions),
# on seed `SEEDS[0]`, from the grid `LR_GRID x KL_GRID`; test and `wide` are not looked at. The KL *target* of
# the adaptive controller stays TRL's 6 nats: with horizon 10,000 and 16 replies per step, $\beta$ can move by at
# most 0.032% per step, so over this run the target cannot matter (section 5c prints how far $\beta$ moved);
# $\beta$ itself is the KL knob that acts. The winning run is seed `SEEDS[0]`'s PPO row (the same run, not a
# re-run); ties go to the smaller rate, then the smaller $\beta$.

# %%
def sft(model, steps, seed):
    torch.manual_seed(seed)  # the adapter's initialisation
    config = TrainConfig(steps=steps, batch_size=BATCH_SIZE, lr=SFT_LR, warmup_steps=min(15, steps // 5), seed=seed)
    return train(fresh_lora(model), tokenizer, TRAIN, config)


def ppo_run(start, seed, lr, kl):
    """PPO for BUDGET - WARMUP steps from `start` (a merged warm-up model); the loop and a snapshot per 10 steps."""
    torch.manual_seed(seed)
    loop = ppo.PPO(fresh_lora(start), tokenizer, TRAIN, config=replace(ONLINE, steps=BUDGET - WARMUP, seed=seed, lr=lr),
                   ppo=replace(PPO_CONFIG, init_kl_coef=kl))
    snapshots = []
    while len(loop.history) < BUDGET - WARMUP:
        loop.run(min(10, BUDGET - WARMUP - len(loop.history)))
        snapshots.append((len(loop.history), dict(loop.last)))
    ppo.checked_finite(loop.history)
    return loop, snapshots


WARM = {seed: sft(CHAT, WARMUP, seed) for seed in SEEDS}
START = {seed: warm.model.merge_and_unload() for seed, warm in WARM.items()}  # PPO's start and KL reference
GRID, DEV_SCORES = {}, {}
for lr in LR_GRID:
    for kl in KL_GRID:
        GRID[lr, kl] = ppo_run(START[SEEDS[0]], SEEDS[0], lr, kl)
        DEV_SCORES[lr, kl] = judged_scores(GRID[lr, kl][0].model, DEV)
BEST = max(DEV_SCORES, key=lambda k: DEV_SCORES[k][1][("all", "dev")]["accuracy"])  # first maximum: smaller lr, beta
lines = ["| lr | beta | dev accuracy % | dev compare % | dev sentiment % | most frequent dev label | "
         "approx. KL per update | clip fraction | KL to reference, last 10 steps |", "|" + "---|" * 9]
for (lr, kl), (rows, s) in DEV_SCORES.items():
    top, share, _ = ppo.constant_label(rows, "dev")
    h = GRID[lr, kl][0].history
    lines.append(f"| {lr:g} | {kl:g} | {100 * s[('all', 'dev')]['accuracy']:.1f} | {100 * s[('compare', 'dev')]['accuracy']:.1f} | "
                 f"{100 * s[('sentiment', 'dev')]['accuracy']:.1f} | {top!r} {100 * share:.0f}% | "
                 f"{np.mean([x['approx_kl'] for x in h]):.3f} | {np.mean([x['clip_frac'] for x in h]):.2f} | "
                 f"{np.mean([x['kl'] for x in h[-10:]]):.2f} |" + (" **chosen**" if (lr, kl) == BEST else ""))
display(Markdown("\n".join(lines)))
print(f"chosen on dev: lr {BEST[0]:g}, beta {BEST[1]:g} (seed {SEEDS[0]}, {BUDGET - WARMUP} PPO steps each)")

# %% [markdown]
# Reading the grid: the rate the earlier version of this notebook used untuned (1e-3) is the grid's worst, and
# with the paper's $\beta$ it gives one label to every dev question (the "most frequent dev label" column);
# its approximate KL per update is several times that of the smaller rates. The chosen rate is the middle one.
# Dev has 120 questions, so neighbouring settings a few answers apart are close to a tie; exercise 3 asks
# whether another seed would choose the same.
#
# ### 5b. Every seed
#
# The tuned PPO setting on every seed, each from its own warm-up, beside SFT + LoRA at the full budget.

# %%
PPO_LABEL = "SFT -> PPO + LoRA, tuned on dev"
RUNS = {"SFT + LoRA": {}, "SFT warm-up only": {}, PPO_LABEL: {}}
JUDGED, LOOPS, COST = {label: {} for label in RUNS}, {}, {label: {} for label in RUNS}
for seed in SEEDS:
    full = sft(CHAT, BUDGET, seed)
    loop, snapshots = GRID[BEST] if seed == SEEDS[0] else ppo_run(START[seed], seed, *BEST)
    if seed == SEEDS[0]:
        SNAPSHOTS = snapshots  # for section 6
    LOOPS[seed] = loop
    for label, model in (("SFT + LoRA", full.model), ("SFT warm-up only", START[seed]), (PPO_LABEL, loop.model)):
        JUDGED[label][seed], RUNS[label][seed] = judged_scores(model, EVAL)
    ppo_seconds, warm = sum(h["seconds"] for h in loop.history), WARM[seed]
    COST["SFT + LoRA"][seed] = (full.seconds, full.seconds / BUDGET, full.peak_mem_mb)
    COST["SFT warm-up only"][seed] = (warm.seconds, warm.seconds / WARMUP, warm.peak_mem_mb)
    COST[PPO_LABEL][seed] = (warm.seconds + ppo_seconds, ppo_seconds / (BUDGET - WARMUP),
                             max(warm.peak_mem_mb, loop.peak_mem_mb))
    print(f"seed {seed}: " + "; ".join(f"{label} wide {100 * RUNS[label][seed][('all', 'wide')]['accuracy']:.1f}%"
                                        for label in RUNS) + f" ({full.seconds + ppo_seconds:.0f}s)")

# %% [markdown]
# ### 5c. Training curves of SFT -> PPO
#
# Every seed of the tuned setting: the reward, the sequence KL to the reference, the approximate KL between
# the policy before and after each update ($\tfrac12(\Delta\log p)^2$ averaged over the step's minibatches),
# the clip fraction, the value loss, and the readable / right / "yes" share of the sampled replies. Both tasks
# are balanced, so a "yes" share far from 50% is a policy drifting towards one answer.

# %%
panels = [("reward", "mean reward", None), ("kl", "KL to reference (nats / reply)", None),
          ("approx_kl", "approx. KL(old || new) per update", None), ("clip_frac", "clip fraction", (0, None)),
          ("value_loss", "value loss", None), ("parse_rate", "readable replies %", (0, 105)),
          ("accuracy", "right replies %", (0, 105)), ("first_label", '"yes" replies %', (0, 105))]
fig, axes = plt.subplots(2, 4, figsize=(15, 5.5))
for ax, (key, label, ylim) in zip(axes.flat, panels):
    scale = 100 if key in ("parse_rate", "accuracy", "first_label") else 1
    for seed, loop in LOOPS.items():
        ax.plot([h["step"] for h in loop.history], [scale * h[key] for h in loop.history], label=f"seed {seed}", lw=1)
    ax.set(xlabel="PPO step", ylabel=label)
    if ylim:
        ax.set_ylim(*ylim)
axes.flat[0].legend(fontsize=7)
plt.tight_layout(); plt.show()
moved = max(abs(loop.kl_ctl.value / loop.history[0]["kl_coef"] - 1) for loop in LOOPS.values())
print(f"beta moved by at most {100 * moved:.3f}% over {BUDGET - WARMUP} steps (any seed; KL target "
      f"{PPO_CONFIG.kl_target} nats, horizon {PPO_CONFIG.kl_horizon}): the target cannot matter at this length")
steps_all = [h for loop in LOOPS.values() for h in loop.history]
print(f"per update, mean over steps and seeds: approx. KL {np.mean([h['approx_kl'] for h in steps_all]):.3f} nats, "
      f"clip fraction {np.mean([h['clip_frac'] for h in steps_all]):.2f}")


# %% [markdown]
# ## 6. What PPO credits, token by token
#
# A few replies of one rollout batch, coloured by their whitened advantage $A_t$ (green: made more likely,
# red: less; hover for the value). The score sits on the last token; GAE spreads it back over the reply,
# minus what the value head already expected; whitening subtracts the batch's mean, so a token of a +1 reply
# can still be red. First the last batch, then a slider over the batches of seed
# `SEEDS[0]`.

# %%
def rollout_html(snapshot, n=8):
    ids, mask, adv = snapshot["input_ids"], snapshot["mask"], snapshot["advantages"]
    lines = []
    for i in range(min(n, len(snapshot["answers"]))):
        positions = mask[i].nonzero().flatten().tolist()
        tokens = [tokenizer.decode([ids[i, p + 1].item()]) for p in positions]  # position p predicts token p + 1
        lines.append(f"<tr><td>{snapshot['scores'][i]:+.0f}</td><td>"
                     + plots.token_values_html(tokens, [adv[i, p].item() for p in positions], scale=2.0) + "</td></tr>")
    return "<table><tr><th>score</th><th>reply tokens (advantage)</th></tr>" + "".join(lines) + "</table>"

display(HTML(f"<b>PPO step {SNAPSHOTS[-1][0]}</b>" + rollout_html(SNAPSHOTS[-1][1])))  # a static view: the last batch


# %%
def show_snapshot(index):
    step, snapshot = SNAPSHOTS[index]
    display(HTML(f"<b>PPO step {step}</b>" + rollout_html(snapshot)))

widgets.interact(show_snapshot, index=widgets.IntSlider(0, 0, len(SNAPSHOTS) - 1, description="batch"));

# %% [markdown]
# ## 7. Results
#
# Accuracy of the label read from each greedy reply (an unreadable reply counts as wrong), mean ± std over
# `SEEDS`, on each task's test split, its shift and compare's `wide`; the readable share beside it.

# %%
ROWS = {"zero-shot": {0: zero}, f"few-shot ({FEW_SHOT} examples)": {0: few}, **RUNS}
JUDGED_ALL = {"zero-shot": {0: ZERO_ROWS}, f"few-shot ({FEW_SHOT} examples)": {0: FEW_ROWS}, **JUDGED}
COLUMNS = [("sentiment", "test"), ("sentiment", "composed"), ("compare", "test"), ("compare", "larger"), ("compare", "wide")]


def values(label, key, metric="accuracy"):
    return [s[key][metric] for s in ROWS[label].values()]


head = "| row | seeds | " + " | ".join(f"{t} {sp}" for t, sp in COLUMNS) + " | readable (test) |"
lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
for label in ROWS:
    lines.append(f"| {label} | {len(ROWS[label])} | " + " | ".join(fmt_mean_std(values(label, key)) for key in COLUMNS)
                 + f" | {fmt_mean_std(values(label, ('all', 'test'), 'parse_rate'))} |")
display(Markdown("\n".join(lines)))

fig, ax = plt.subplots(figsize=(13, 3.8))
width = 0.8 / len(ROWS)
for i, label in enumerate(ROWS):
    means = [100 * np.mean(values(label, key)) for key in COLUMNS]
    stds = [100 * np.std(values(label, key), ddof=1) if len(ROWS[label]) > 1 else 0 for key in COLUMNS]
    ax.bar(np.arange(len(COLUMNS)) + i * width, means, width, yerr=stds, capsize=3, label=label)
ax.set_xticks(np.arange(len(COLUMNS)) + width * (len(ROWS) - 1) / 2, [f"{t}\n{sp}" for t, sp in COLUMNS])
ax.set(ylabel="accuracy %", ylim=(0, 105),
       title=f"judgement accuracy (trained rows: mean ± std over {len(SEEDS)} seed(s); prompting rows: one greedy run)")
ax.legend(ncol=len(ROWS), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22))
plt.tight_layout(); plt.show()


# %% [markdown]
# Where can a comparison be read at all? `stats.Comparison.saturated` flags a split where both arms are at or
# above 95% (or at or below 2%): no headline belongs there. The means printed here are `stats.compare`'s, which
# counts seeds whose per-item scores are identical only once (meant for arms that vary nothing between seeds):
# where several seeds answer every question of a split right, as PPO's seeds do on sentiment's test, its mean
# is lower than the table's mean over all seeds.

# %%
def items(label, key):
    return ppo.item_scores(JUDGED_ALL[label], key)


for key in COLUMNS + [("all", "test"), ("all", "shift")]:
    c = stats.compare(items(PPO_LABEL, key), items("SFT + LoRA", key))
    print(f"{key[0]:9s} {key[1]:8s} n = {c.n:4d}: PPO {100 * c.mean_a:5.1f}, SFT {100 * c.mean_b:5.1f}"
          + ("   saturated: both at the ceiling or floor" if c.saturated else ""))

# %% [markdown]
# ### The verdicts
#
# The headline, then the secondary comparisons with Holm-adjusted p-values (a family of four). The last line
# repeats the headline without seed `SEEDS[0]`, whose PPO run was the best of the grid on dev (a small
# selection effect on that seed; the other seeds were not selected).

# %%
print(stats.RULE, "\n")
HEADLINE = stats.compare(items(PPO_LABEL, ("all", "wide")), items("SFT + LoRA", ("all", "wide")))
print("Headline (wide):", HEADLINE.sentence(PPO_LABEL, "SFT + LoRA"))
SECONDARY = {
    ("SFT + LoRA", ("all", "test")): "pooled test", ("SFT + LoRA", ("all", "shift")): "pooled shift",
    ("SFT warm-up only", ("all", "wide")): "wide", (f"few-shot ({FEW_SHOT} examples)", ("all", "wide")): "wide"}
SECONDARY = {(other, key, where): stats.compare(items(PPO_LABEL, key), items(other, key))
             for (other, key), where in SECONDARY.items()}
print(f"\nSecondary ({len(SECONDARY)} comparisons; Holm-adjusted p):")
for ((other, key, where), c), p in zip(SECONDARY.items(), stats.holm([c.p_value for c in SECONDARY.values()])):
    print(f"  [{where}] {c.sentence('PPO', other)} p_Holm = {p:.2g}")
if len(SEEDS) > 1:
    rest = {label: {s: j for s, j in JUDGED[label].items() if s != SEEDS[0]} for label in (PPO_LABEL, "SFT + LoRA")}
    untuned = stats.compare(*(ppo.item_scores(rest[label], ("all", "wide")) for label in (PPO_LABEL, "SFT + LoRA")))
    print(f"\nWithout the tuning seed {SEEDS[0]} (wide): {untuned.sentence('PPO', 'SFT + LoRA')}")

# %% [markdown]
# ### Collapsed seeds
#
# Per seed: how often each PPO model gives its most frequent label on the pooled test split (balanced, so a
# constant answer scores about half; more than 90% counts as collapsed), its `wide` accuracy beside SFT + LoRA's,
# and what its training looked like: the share of "yes" among its sampled replies over the last 10 steps, the
# largest approximate KL of a step's updates, and its mean clip fraction.

# %%
lines = ["| seed | PPO: most frequent test label | PPO wide % | SFT + LoRA wide % | rollouts' \"yes\" share, last 10 steps "
         "| largest approx. KL per update | mean clip fraction |", "|" + "---|" * 7]
COLLAPSED = []
for seed in SEEDS:
    top, share, collapsed = ppo.constant_label(JUDGED[PPO_LABEL][seed], "test")
    if collapsed:
        COLLAPSED.append(seed)
    h = LOOPS[seed].history
    lines.append(f"| {seed} | {top!r} on {100 * share:.0f}% | {100 * RUNS[PPO_LABEL][seed][('all', 'wide')]['accuracy']:.1f} | "
                 f"{100 * RUNS['SFT + LoRA'][seed][('all', 'wide')]['accuracy']:.1f} | "
                 f"{100 * np.mean([x['first_label'] for x in h[-10:]]):.0f}% | {max(x['approx_kl'] for x in h):.3f} | "
                 f"{np.mean([x['clip_frac'] for x in h]):.2f} |")
display(Markdown("\n".join(lines)))
grid_collapsed = [k for k, (rows, _) in DEV_SCORES.items() if ppo.constant_label(rows, "dev")[2]]
print(f"collapsed seeds of the tuned setting: {len(COLLAPSED)} of {len(SEEDS)} {COLLAPSED or ''}; "
      f"grid settings collapsed on dev (seed {SEEDS[0]}): "
      + (", ".join(f"lr {lr:g} beta {kl:g}" for lr, kl in grid_collapsed) or "none"))

# %% [markdown]
# **Why seeds collapse, and what this run shows.** PPO's own samples are its training data. Once a policy leans
# towards one label, its batches hold more of that label; a constant answer is right on half of a balanced
# batch, so its expected score (+1 half the time, -1 the other half) is no worse than an unsure guess, and the
# only force pulling back is the KL penalty. A large step per update gets there before the reward can correct
# it: in the grid, the collapsed setting is the one with the large rate and the paper's small $\beta$, and its
# approximate KL per update is the largest of the grid's small-$\beta$ runs (section 5a). The same rate with
# $\beta = 1$ takes larger steps still and does not cross the line on dev as a whole, but its dev compare
# accuracy is at chance: the larger $\beta$ slows the drift without stopping it. The clip fraction is
# low, so it is not clipping that fails: each update is small enough to pass the clip, and they add up. With the
# tuned setting no seed crossed the 90% line named above, but one seed leans: the table shows one seed giving
# its most frequent label to clearly more of the test prompts than the others, with a `wide` accuracy well below
# its SFT + LoRA seed's. That one seed is most of PPO's seed spread, and with it the width of the headline
# interval. (The earlier version of this notebook logged far larger per-update KL and clip fractions: its
# minibatch passes ran with LoRA dropout on while the old log-probs had it off, so the ratio was not 1 even
# before an update. `sftkit.methods.ppo` now runs both with dropout off, and `tests/test_ppo.py` checks that
# the ratio is 1 at the first step; section 5c prints the per-update KL and clip fraction of this run.)
#
# ### What PPO costs
#
# Wall time and peak memory of each trained row, from the same runs (per seed: SFT, warm-up, PPO, one after
# the other). A PPO step samples the batch, runs the policy and the reference over it, then
# `ppo_epochs x BATCH_SIZE / minibatch_size` forward-backward passes; an SFT step is one forward-backward pass.

# %%
lines = ["| row | seconds per step | seconds in all | peak memory above start, MB |", "|---|---|---|---|"]
for label, per_seed in COST.items():
    total, per_step, peak = zip(*per_seed.values())
    lines.append(f"| {label} | {np.mean(per_step):.3f} | {np.mean(total):.0f} | {np.mean(peak):.0f} |")
display(Markdown("\n".join(lines)))
sft_step = np.mean([c[1] for c in COST["SFT + LoRA"].values()])
ppo_step = np.mean([c[1] for c in COST[PPO_LABEL].values()])
ratio = np.mean([c[0] for c in COST[PPO_LABEL].values()]) / np.mean([c[0] for c in COST["SFT + LoRA"].values()])
print(f"a PPO step costs {ppo_step / sft_step:.1f}x an SFT step here (same batch of {BATCH_SIZE} prompts); "
      f"the SFT -> PPO row took {ratio:.1f}x the SFT row's wall time, not counting the {len(GRID)} tuning runs "
      f"({sum(h['seconds'] for loop, _ in GRID.values() for h in loop.history):.0f}s)")

# %% [markdown]
# ## 8. This PPO and TRL's
#
# RL4GLUE runs TRL's `PPOTrainer` of 2024 (TRL 0.11 and earlier). TRL 0.12 replaced it with a rewritten
# trainer with another API, and the TRL installed here (1.16, a test dependency) has no `PPOTrainer` at all, so
# the comparison is with the version RL4GLUE ran (and, in the last rows, with RL4GLUE's own settings):
#
# | piece | here (`sftkit.methods.ppo`) | TRL 0.11 `PPOTrainer` |
# |---|---|---|
# | value head | linear layer on the LoRA model's last hidden state, one forward pass for both | `AutoModelForCausalLMWithValueHead`: the same, with dropout 0.1 |
# | reference | the same model with its adapter disabled | the same, with `peft` (else a frozen copy) |
# | per-token reward | $-\beta\,(\log\pi - \log\pi_{ref})$, score on the last reply token | same (`kl_penalty="kl"`) |
# | GAE | $\gamma = 1$, $\lambda = 0.95$, values 0 outside the reply | same loop |
# | advantages | whitened over reply tokens | same (`masked_whiten`) |
# | losses | clipped policy + 0.1 x clipped value | same formulas and defaults |
# | KL controller | adaptive, target 6, horizon 10000 | same |
# | reply tokens | re-tokenized from the decoded text | the sampled token ids |
# | ratio skip, early stop | none | `ratio_threshold=10` on by default (zeroes a minibatch's loss); early stopping off |
# | optimizer steps per batch | one per minibatch of 8 (8 per PPO step) | RL4GLUE: `gradient_accumulation_steps=2`, one per 16 (4 per step) |
# | gradient clipping | max-norm 1.0 | none |
# | optimizer | AdamW, lr tuned on dev from `LR_GRID` (a 1.8M model) | RL4GLUE: Adafactor, lr 9e-6 (7B models) |
# | LoRA | all linear layers, scale alpha / r = 2 | RL4GLUE: `use_rslora=True` (scale alpha / sqrt(r) = 8), `bias="all"`, PEFT's default target modules |
#
# `tests/test_ppo.py::test_matches_trl_0_11_ppo_on_random_tensors` runs that version's `compute_advantages`
# and `loss` code, transcribed loop for loop, next to ours on random tensors: the policy and value losses agree
# to 1e-5. The hand-computed checks beside it (a three-step GAE, the clipped losses, the KL term at the first
# step, the adaptive coefficient) pin each piece on its own.

# %% [markdown]
# ## 9. What we saw
#
# Every verdict is one `sftkit.stats.compare` (section 7). The paper's numbers are GLUE averages with
# LLaMA2-7B; only their direction can be compared.

# %%
PAPER = {"SFT + LoRA": 6.3, "zero-shot": 38.7, f"few-shot ({FEW_SHOT} examples)": 26.1}
lines = []
for other, paper_gap in PAPER.items():
    c = stats.compare(items(PPO_LABEL, ("all", "wide")), items(other, ("all", "wide")))
    lines.append(f"- vs **{other}** (paper: PPO +{paper_gap} points on GLUE), on wide: {c.sentence('PPO', other)}")
lines.append(f"- **tuning** (dev, seed {SEEDS[0]}): lr {BEST[0]:g}, beta {BEST[1]:g} chosen from lr {LR_GRID} x beta {KL_GRID}.")
lines.append(f"- **collapsed seeds** of the tuned setting: {len(COLLAPSED)} of {len(SEEDS)}.")
lines.append(f"- **PPO from the chat model** ({COLD_STEPS} steps, one seed): readable test replies "
             f"{100 * cold[('all', 'test')]['parse_rate']:.0f}%, accuracy {100 * cold[('all', 'test')]['accuracy']:.0f}%.")
display(Markdown("\n".join(lines)))

sft_config = {"lr": SFT_LR, "batch_size": BATCH_SIZE}
saved = []
for label, per_seed in JUDGED.items():
    for seed, judged in per_seed.items():
        total, per_step, peak = COST[label][seed]
        config = {**sft_config, "ppo_lr": BEST[0], "init_kl_coef": BEST[1], "warmup_steps": WARMUP} if label == PPO_LABEL else sft_config
        saved += ppo.result_rows(judged, notebook="07_ppo", method="ppo" if "PPO" in label else "sft", variant=label,
                                 model=MODEL_NAME, seed=seed, steps=BUDGET if label != "SFT warm-up only" else WARMUP,
                                 step_time_s=per_step, peak_mem_mb=peak, train_seconds=total, device=DEVICE,
                                 train_config=config)
for (lr, kl), (judged, _) in DEV_SCORES.items():
    saved += ppo.result_rows(judged, notebook="07_ppo", method="ppo", variant=f"lr={lr:g},kl={kl:g} (dev grid)",
                             model=MODEL_NAME, seed=SEEDS[0], steps=BUDGET, device=DEVICE,
                             train_config={**sft_config, "ppo_lr": lr, "init_kl_coef": kl, "warmup_steps": WARMUP})
for label, judged in (("zero-shot", ZERO_ROWS), (f"few-shot ({FEW_SHOT} examples)", FEW_ROWS), ("PPO from the chat model", cold_rows)):
    saved += ppo.result_rows(judged, notebook="07_ppo", method="ppo" if "PPO" in label else "prompting", variant=label,
                             model=MODEL_NAME, seed=0, steps=COLD_STEPS if "PPO" in label else 0, device=DEVICE)
print("saved", results.save("07_ppo", saved).name, f"({len(saved)} rows)")

# %% [markdown]
# **How to read it.**
#
# - **The paper's claim was not shown here.** On `wide`, the split named before running,
#   the verdict is inconclusive: the interval holds no difference and losses larger than the paper's gain,
#   and its upper end lies below the paper's 6.3 points, so a gain of the paper's size is not what this
#   setting shows. The MDE is larger than 6.3 as well: a true effect of that size would often be missed, so
#   "not shown" is all the design can say. The 5-point MDE the suite aims for was not reached, although `wide`
#   has 1,000 paired questions: PPO's seeds spread several times wider than SFT's (the results table), mostly
#   the leaning seed, so more seeds, or a PPO that leans less, are what would narrow the interval.
# - **PPO added to its warm-up.** PPO above its own start (Holm-adjusted) says the reward alone taught the
#   warm-up model most of what the extra SFT steps taught SFT + LoRA (by the means of the results table: PPO
#   against SFT + LoRA itself is the inconclusive headline). PPO reads `WARMUP / BUDGET` of the gold labels SFT
#   reads.
# - **No split was at the ceiling by the suite's rule** (the saturation check printed no flag), but sentiment's
#   test is close to it for both arms and compare carries the differences; that is why `wide` is compare's.
#   Negated sentences (`composed`) are below chance for every trained row: each learned "a negative word means
#   no", which negation flips.
# - **Zero-shot and few-shot are at the floor** because the tiny chat model never produces the answer words;
#   the paper's gaps over prompting come from models that do. Here those verdicts measure the format, not the
#   understanding.
# - **PPO needs readable replies to learn from.** Section 4's run is the paper's recipe on our model: it finds
#   the format from its rare readable samples, not the task. A short SFT warm-up fixes the format; after it,
#   PPO's reward has something to rank.
# - **Tuning mattered.** On dev the grid's settings range from chance to the chosen one's accuracy (section
#   5a), and the untuned rate of the earlier version collapses there with the paper's $\beta$; the tuned setting
#   had no collapsed seed by the named rule, with one seed leaning (section 7).
# - **Cost.** A PPO step samples the batch and makes several passes over it; section 7's cost table gives the
#   ratio measured here, and the tuning grid's seconds (printed under that table) exceed five times the PPO
#   row's "seconds in all": tuning cost more than the five seeds of the PPO row together.
#
# ## Exercises
#
# 1. **Exploration.** Run section 4 with `temperature=1.2` in `ONLINE` (more random replies). Does any reply
#    become readable?
#    <details><summary>Hint</summary>Count `parse_rate` over `hot.history`; the chance that a char-level model
#    samples exactly "yes" or "no" as a word is what matters.</details>
#    <details><summary>Solution</summary>
#
#    ```python
#    hot = ppo.run(fresh_lora(CHAT), tokenizer, TRAIN, replace(ONLINE, steps=COLD_STEPS, temperature=1.2), PPO_CONFIG)
#    print(sum(h["parse_rate"] for h in hot.history) * BATCH_SIZE, "readable replies")
#    ```
#    Compare with section 4's plot, where at 0.8 no sampled reply was readable for the first several steps and
#    then the readable share climbed within a few steps. While every reply scores -3 the advantages carry no
#    reward signal, so the first readable replies come from sampling luck or from the policy drifting under the
#    KL term and the value head's noise. A hotter temperature flattens the distribution: it samples rare strings
#    (the answer words among them) more often, but also more garbage. Look at the step at which the first
#    readable reply appears and at the final test accuracy: as in section 4, a format found this way is not the
#    task.
#    </details>
#
# 2. **The reward's shape.** Make unreadable replies cost -1 instead of -3 (the same as a wrong label) and rerun
#    SFT -> PPO for one seed. What happens to the readable share during training?
#    <details><summary>Hint</summary>Pass your own `reward_fn` to `ppo.PPO`: a function of (records, replies)
#    returning a tensor.</details>
#    <details><summary>Solution</summary>
#
#    ```python
#    def flat_reward(records, replies):
#        return ppo.judgement_reward_fn(records, replies).clamp(min=-1.0)
#    loop = ppo.PPO(fresh_lora(sft(CHAT, WARMUP, 0).model.merge_and_unload()), tokenizer, TRAIN, flat_reward,
#                   replace(ONLINE, steps=BUDGET - WARMUP), PPO_CONFIG)
#    loop.run()
#    print([round(h["parse_rate"], 2) for h in loop.history[::10]])  # read by the parser, whatever the reward
#    ```
#    With -3 the format is worth two points more than a wrong guess; with -1 a reply that drops the format is no
#    worse than a wrong label, so the readable share can sag when the model is unsure.
#    </details>
#
# 3. **Is the tuned choice stable?** Section 5a tuned on one seed. Run the same grid from seed 1's warm-up and
#    see whether dev picks the same setting (dev only: `EVAL` is read once, in section 5b).
#    <details><summary>Hint</summary>`ppo_run(START[seed], seed, lr, kl)` returns (loop, snapshots);
#    `judged_scores(model, DEV)[1][("all", "dev")]` pools dev's records over both tasks. The light profile has
#    no seed 1: `sft(CHAT, WARMUP, 1)` trains its warm-up.</details>
#    <details><summary>Solution</summary>
#
#    ```python
#    seed = 1
#    if seed not in START:  # the light profile trains seed 0 only
#        START[seed] = sft(CHAT, WARMUP, seed).model.merge_and_unload()
#    dev_acc = {(lr, kl): judged_scores(ppo_run(START[seed], seed, lr, kl)[0].model, DEV)[1][("all", "dev")]["accuracy"]
#               for lr in LR_GRID for kl in KL_GRID}
#    print(dev_acc, "chosen:", max(dev_acc, key=dev_acc.get), "seed 0 chose:", BEST)
#    ```
#    Dev has 120 questions, so two settings one or two answers apart are a tie in all but name: a different
#    choice on another seed says the grid's top is flat, not that tuning failed.
#    </details>
#
# **4. Check yourself: write GAE and the clipped surrogate.** Write `my_gae(rewards, values, mask, gamma, lam)` (advantages [N, T]) and
# `my_surrogate(logp, old_logp, advantages, mask, clip)` (a scalar loss) from section 3's equations, and check
# them with `check_piece(my_gae, "ppo-gae")` and `check_piece(my_surrogate, "ppo-surrogate")`. All tensors are
# [N, T], one row per reply, `mask` 1.0 over its tokens.
#
# <details><summary>Hint</summary>
#
# GAE runs from the last token back: delta_t = r_t + gamma V_{t+1} - V_t with V = 0 after the reply ends, and
# A_t = delta_t + gamma lam A_{t+1}. The surrogate as a loss is the mean over reply tokens of
# max(-A ratio, -A clip(ratio, 1 - eps, 1 + eps)), ratio = exp(logp - old_logp).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import torch
#
# from sftkit.checks import check_piece
#
#
# def my_gae(rewards, values, mask, gamma, lam):
#     values, rewards = values * mask, rewards * mask  # V = 0 after the reply's last token
#     advantages, last = torch.zeros_like(rewards), torch.zeros(len(rewards))
#     for t in reversed(range(rewards.shape[1])):
#         next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros(len(rewards))
#         delta = rewards[:, t] + gamma * next_value - values[:, t]
#         last = delta + gamma * lam * last
#         advantages[:, t] = last
#     return advantages * mask
#
#
# def my_surrogate(logp, old_logp, advantages, mask, clip):
#     ratio = torch.exp(logp - old_logp)
#     loss = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip))
#     return (loss * mask).sum() / mask.sum()
#
#
# check_piece(my_gae, "ppo-gae")
# check_piece(my_surrogate, "ppo-surrogate")
# ```
#
# The max of the two negated terms is the min of the paper's objective: the update never profits from moving the
# ratio beyond the clip range in the direction the advantage favours.
# </details>
#
# ## Run it from the command line
#
# `sftkit train ppo` runs the same loop with a fresh LoRA adapter on any model; without `--data` it uses the
# tiny world's judgement prompts, and `--reward` picks the score (`judgement`, `gold`, or your own
# `package.module:function`). To approximate this notebook's SFT -> PPO row (the CLI's LoRA for SFT is
# `--lora-r` with alpha 16 and no dropout, not the paper's adapter):
#
# ```bash
# sftkit train sft --output runs/chat --steps 300                  # the chat model: SFT on the world's skills
# sftkit train sft --model runs/chat --data judgements.jsonl --output runs/warm --steps 50 --batch-size 16 --lora-r 16
# sftkit train ppo --model runs/warm --output runs/ppo --steps 60 --batch-size 16 --lr LR --init-kl-coef BETA
# ```
#
# with `LR` and `BETA` the setting section 5a chose on dev, and where `judgements.jsonl` is `sftkit.io.write_jsonl("judgements.jsonl", sftkit.world.judgements.task_records("train"))`.
