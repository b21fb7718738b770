# %% [markdown]
# # 10 · Instruct-SkillMix: data that needs two skills at once
#
# **Paper:** Simran Kaur, Simon Park, Anirudh Goyal, Sanjeev Arora, *Instruct-SkillMix: A Powerful Pipeline for
# LLM Instruction Tuning*, arXiv [2408.14774](https://arxiv.org/abs/2408.14774); official code
# [princeton-pli/Instruct-SkillMix](https://github.com/princeton-pli/Instruct-SkillMix) (`src/data_generation`:
# `1_generate_data.py`, `2_generate_junk_data.py` and their prompt files). This notebook follows that code: its
# GPT-4-Turbo five-turn conversation (generate, rewrite, critique, refine, rewrite) word for word, its skill-set
# draw (k distinct skills, uniformly, in random order), its parser, and its shirker prompts. The extraction
# prompts are ours (the repository publishes the extracted lists, not the prompts); the other differences are
# listed in `sftkit.methods.skillmix`'s docstring.
#
# Instruct-SkillMix is a **data-side** method: a strong LLM (here the tiny world's scripted *teacher*) writes
# instruction -> response pairs, and plain SFT (notebook 01's trainer) learns them.
#
# **What you will learn**
# - the two stages: the teacher lists the *skills* and *query types* behind seed instructions; then each example
#   is written for k = 2 random skills, critiqued and refined in one conversation;
# - how a gold composer checks what the paper cannot: that an example truly needs both of its skills and that
#   its answer is right;
# - whether training on two-skill data teaches a tiny model to **combine a pair of skills it never saw
#   together**, compared with the same number of single-skill examples at 1K, 2K and 4K examples;
# - the paper's *shirkers* ablation: what 10%, 20% and 40% lazy, generic responses do to the fine-tuned model.
#
# **Runtime.** Full profile (3 seeds; sizes 1K, 2K, 4K; shirkers 10/20/40%: 27 fine-tuning runs): the 27
# runs train for most of an hour on a 2-core CPU (the last cell prints their saved training times); the rest
# of the notebook takes minutes, also printed at the end. A re-run reuses every run saved in `results/` with the same settings
# (the committed outputs did: the training cells say so; `RERUN = True` trains them again). `make test` runs a light profile (one seed, 1K, 40%
# shirkers, 40 steps, a quarter of the single-skill test). GPU: not measured here.

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the student: the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)  # fine-tuning seeds (the data are made once, with seed 0)
SIZES = (1000,) if LIGHT else (1000, 2000, 4000)  # examples per training set (the paper: 1K, 2K, 4K)
SHIRKERS = (0.4,) if LIGHT else (0.1, 0.2, 0.4)  # shares of junk responses in the 1K SkillMix set
STEPS = 40 if LIGHT else 200  # SFT steps per run, the same for every data set and size
BATCH_SIZE, LR = 16, 2e-3  # chosen in a pilot so that the 1K set's pairs are learnt at all (see section 6)
TEACHER = "scripted"       # "scripted" (the tiny world's), "hf:MODEL" (local transformers) or "openai:MODEL" (a server)
ERROR_RATE, LAZINESS_RATE = 0.2, 0.05  # the scripted teacher's share of mistakes and of non-answers
PER_ORDER = 10 if LIGHT else 50  # test chains per order of the unseen pair (half that per seen order)
SINGLE_EVERY = 4 if LIGHT else 1  # test every n-th prompt of the single-skill split (200 prompts)
RERUN = False              # True: train every run again instead of reusing the ones saved in results/

# %%
# %matplotlib inline
import collections
import itertools
import random
import time
import warnings
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Markdown, display

from sftkit import plots, results
from sftkit.evaluate import evaluate
from sftkit.experiment import BASELINE, run_method, run_or_reuse
from sftkit.methods import skillmix
from sftkit.model import load_model, pick_device, set_seed
from sftkit.results import compare, fmt_mean_std
from sftkit.teachers import teacher_from

warnings.filterwarnings("ignore", message=".*longer than max_length")  # the same line is printed by the run itself
T0 = time.time()
NOTEBOOK = "10_skillmix"
set_seed(0)
DEVICE = pick_device(DEVICE)
SKILLS = skillmix.STRING_SKILLS
print(f"device {DEVICE}; the tiny world's string skills: {', '.join(SKILLS)}")

# %% [markdown]
# ## 1. Why Instruct-SkillMix exists
#
# Instruction tuning needs (instruction, response) pairs. Human-written sets are slow and expensive to make;
# asking an LLM for "some instructions" gives a narrow, repetitive set; and crowd-sourced data carry many lazy
# answers. Instruct-SkillMix asks the strong LLM two things:
#
# 1. **Skill extraction.** "What skills does following instructions like these need?" and "what types of
#    query are these?": two lists (the paper's GPT-4-Turbo list has 18 query types and dozens of skills).
# 2. **Skill mixing.** For each example, draw k = 2 skills at random and a query type, and ask the LLM to write
#    an instruction *that needs both skills* and a response; in the same conversation it critiques its own
#    response and refines instruction and response.
#
# Random pairs of skills make examples that no single template would produce, and the paper reports that a
# few thousand of them are enough for strong instruction following. It also reports an ablation we repeat:
# replacing 20% of the responses by lazy, generic ones (*shirkers*) makes the fine-tuned model much worse.
#
# The tiny world has four skills that act on one word, so they chain: **reverse** it, write it in
# **uppercase**, count its letters (**length**), **spell** it with dashes. "Write a word backwards, then spell
# a word with dashes: kofa" needs two of them, and its gold answer ("a-f-o-k") is computed, not judged.

# %% [markdown]
# ## 2. The teacher
#
# The **scripted teacher** plays the strong LLM from the world's rules: it is no model at all, and honest about
# it. Asked for skills, it lists the skills of the world instructions it is shown; asked to write an example for
# two skills, it writes a chain instruction on a training word that needs both ("Write a word backwards, then
# spell a word with dashes: kofa"), a bare answer as its draft, a critique asking for the steps, and a refined
# response with one line per step and a final "Answer:" line. With probability `ERROR_RATE` a reply has a
# realistic mistake (a wrong step, a reply the parser rejects), with `LAZINESS_RATE` it is a non-answer. Two of
# the six pairs cannot be chained so that both skills matter ({reverse, length}: a letter count ignores the
# order; {uppercase, length} likewise): it declines those, and the parser skips the decline.
#
# **Pointing Instruct-SkillMix at a real model** (on a GPU machine): set `TEACHER` in the parameters cell, or
#
# ```python
# from sftkit.teachers import OpenAITeacher, TransformersTeacher
# # a server: `vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000` (or llama.cpp's llama-server), then
# teacher = OpenAITeacher("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1",
#                         max_tokens=2048, temperature=1.0)   # official: the API's default temperature
# # or a local chat model through transformers:
# teacher = TransformersTeacher("Qwen/Qwen2.5-1.5B-Instruct", max_new_tokens=2048)
# ```
#
# or from a shell: `sftkit generate skillmix --teacher openai:Qwen/Qwen2.5-7B-Instruct --instructions
# seeds.txt --num-data 4000 --output skillmix.jsonl`, then `sftkit train sft --data skillmix.jsonl ...`.
# Replies are cached on disk, so an interrupted run resumes where it stopped.

# %%
teacher = teacher_from(TEACHER, ERROR_RATE, LAZINESS_RATE, seed=0, tasks=skillmix.teacher_tasks())
print(teacher)

# %% [markdown]
# ## 3. Stage 1: skills and query types
#
# The seed instructions are the first eight training instructions of each string skill, in the world's own
# varied wordings. The extraction prompts ask for one snake_case skill per line, and for query types as
# "### N. **Name**" sections with a definition: the formats of the official `datasets/<model>/skills.txt` and
# `queries.txt`, read by the same parsers.

# %%
SEEDS_TEXT = skillmix.default_seeds()
prompt = skillmix.skills_prompt(SEEDS_TEXT)
print(prompt[:260], "\n...\n", prompt[-300:], "\n")
EXTRACTED, QUERY_TYPES = skillmix.extract(teacher, SEEDS_TEXT)
print("skills:", EXTRACTED)
for q in QUERY_TYPES:
    print("query type:", q["query_type"])

# %% [markdown]
# ## 4. Stage 2: one example's conversation
#
# Each example is one five-turn conversation with the teacher (the official GPT-4-Turbo prompt set): (0) write
# an instruction and response for these skills and this query type; (1) rewrite the response whole;
# (2) critique it (the prompt says, as the human asking, "Currently the response looks a bit generic");
# (3) refine the instruction and response; (4) rewrite the refined response whole. The data are turn 3's
# instruction and turn 4's response.

# %%
sets = skillmix.skill_sets(EXTRACTED, 2, 1, random.Random(0))  # one draw of two skills
query = QUERY_TYPES[0]
first = skillmix.first_prompt(sets[0], query)
replies = skillmix.converse(teacher, [first], [0])[0]
asked = [first, *skillmix.FOLLOW_UPS]
for turn, (ask, reply) in enumerate(zip(asked, replies)):
    print(f"--- turn {turn}: asked ({len(ask)} characters) ---\n{ask[:240]}{' ...' if len(ask) > 240 else ''}")
    print(f"--- reply ---\n{reply}\n")
instruction, response, why = skillmix.parse_example(replies)
print("parsed:", repr(instruction), "->", repr(response), "| skipped because:", why or "-")

# %% [markdown]
# ## 5. The data, checked by the gold composer
#
# `skillmix.pools` runs both stages for k = 2 and, as the control, for k = 1 (the same pipeline with one
# skill: same teacher, format and size, only the mixing differs). One pair, **{reverse, uppercase}**, is
# **held out**: its examples are removed from the SkillMix data, so the test can ask whether a model combines two
# skills it saw only with *other* partners (reverse with spell, uppercase with spell). The smaller training
# sets are the first 1K and 2K examples of the 4K ones.
#
# The gold composer (`skillmix.verdict`) reads each example: does the instruction name exactly its k skills,
# does each of them change the answer, and is the response's final answer right? The paper has no such check.

# %%
POOLS = skillmix.pools(teacher, max(SIZES))
for arm, data in POOLS.items():
    ok = collections.Counter(r["meta"]["gold"]["ok"] for r in data)
    reasons = collections.Counter(r["meta"]["gold"]["reason"].split(" (gold")[0] if "wrong answer" not in r["meta"]["gold"]["reason"]
                                  else "wrong answer" for r in data if not r["meta"]["gold"]["ok"])
    print(f"{arm}: {len(data)} examples; gold verdict right {ok[True]} ({100 * ok[True] / len(data):.1f}%); "
          f"otherwise: {dict(reasons.most_common())}")
held = skillmix.HELD_OUT[0]
print(f"held-out pair {sorted(held)} in the SkillMix data: {sum(skillmix.pair_of(r) == held for r in POOLS['skillmix'])} examples")
rows = [f"| {r['skill']} | {r['messages'][0]['content']} | {r['messages'][1]['content'].replace(chr(10), '<br>')} | "
        f"{'yes' if r['meta']['gold']['ok'] else r['meta']['gold']['reason']} |" for r in POOLS["skillmix"][:6]]
display(Markdown("| skills | instruction | response | gold verdict |\n|---|---|---|---|\n" + "\n".join(rows)))


# %% [markdown]
# Which ordered pairs the SkillMix data hold (the first skill applied first), for the largest set; the held-out
# pair's cells are empty by design and the {reverse, length} and {uppercase, length} cells because the teacher
# declines them:

# %%
def pair_counts(data):
    grid = np.zeros((len(SKILLS), len(SKILLS)), dtype=int)
    for r in data:
        order = r["skill"].split("+")
        if len(order) == 2:
            grid[SKILLS.index(order[0]), SKILLS.index(order[1])] += 1
    return grid

grid = pair_counts(POOLS["skillmix"])
fig, ax = plt.subplots(figsize=(5.2, 4.2))
im = ax.imshow(grid, cmap="Blues")
for i, j in itertools.product(range(len(SKILLS)), repeat=2):
    held_cell = {SKILLS[i], SKILLS[j]} == set(held)
    ax.text(j, i, "held\nout" if held_cell else ("" if i == j else grid[i, j]), ha="center", va="center",
            color="crimson" if held_cell else ("white" if grid[i, j] > grid.max() / 2 else "black"), fontsize=9)
ax.set_xticks(range(len(SKILLS)), SKILLS)
ax.set_yticks(range(len(SKILLS)), SKILLS)
ax.set_xlabel("second skill")
ax.set_ylabel("first skill")
ax.set_title(f"SkillMix examples per ordered pair (n={len(POOLS['skillmix'])})")
fig.colorbar(im, ax=ax, label="examples")
plt.show()


# %%
def show_pair(pair, n=4):
    picked = [r for r in POOLS["skillmix"] if r["skill"] == pair][:n]
    display(Markdown("\n\n".join(f"**{r['messages'][0]['content']}**<br>{r['messages'][1]['content'].replace(chr(10), '<br>')}"
                                 for r in picked) or "no examples of this pair"))

pairs_present = sorted({r["skill"] for r in POOLS["skillmix"]})
show_pair(pairs_present[0], 2)  # a static first view; the explorer below shows any pair
widgets.interact(show_pair, pair=pairs_present, n=widgets.IntSlider(4, 1, 10));

# %% [markdown]
# **Shirkers.** `skillmix.shirk` replaces exactly round(f x n) responses, drawn with a fixed seed, by the
# teacher's reply to the official junk prompt ("an extremely unhelpful response"); the scripted teacher's junk
# is a short generic non-answer (`sftkit.world.lazy_answer`), shorter than the long evasive answers the official
# prompt asks GPT-4 for. Its "mistake" on this prompt, at `ERROR_RATE`, is to answer anyway: a bare right answer.

# %%
SHIRKED = {f: skillmix.shirk(POOLS["skillmix"][:SIZES[0]], teacher, f, "junk", seed=0) for f in SHIRKERS}
for f, data in SHIRKED.items():
    junk = [r for r in data if "shirker" in r["meta"]]
    answered = [r for r in junk if r["meta"]["gold"]["ok"]]
    lazy = collections.Counter(r["messages"][1]["content"] for r in junk if not r["meta"]["gold"]["ok"])
    print(f"{100 * f:.0f}% shirkers: {len(junk)} of {len(data)} responses replaced: {len(junk) - len(answered)} non-answers "
          f"({', '.join(repr(t) for t, _ in lazy.most_common(3))}, ...) and {len(answered)} bare right answers")

# %% [markdown]
# ## 6. Fine-tuning, and the test
#
# Every training set gets the same recipe: plain SFT (notebook 01's trainer, `BASELINE` with the steps, batch
# and learning rate of the parameters cell) from the tiny base model, the same number of steps for every size,
# so a larger set means more distinct examples for the same compute, not more compute. The batch and learning
# rate were chosen in a pilot on the 1K SkillMix set, before any comparison, because notebook 01's recipe
# (batch 32, lr 1e-3, 94 steps) left it at 0% everywhere: the worked responses are long for this model.
#
# The test, on words from the world's test split that no training example uses:
# - **unseen-pair**: chains of the held-out pair, both orders ("Write a word in capital letters, then write a
#   word backwards: ..."), in both query types;
# - **seen-pair**: chains of the pairs the SkillMix data hold, on new words;
# - **single-skill**: the world's test split for the four string skills, in its own wordings ("Spell miq with
#   dashes.").
#
# An answer is right when its final answer (the last "Answer:" line, or the whole reply when there is none)
# equals the gold one (`skillmix.correct`), so bare and worked answers are judged alike.

# %%
SEEN_PAIRS = {skillmix.pair_of(r) for r in POOLS["skillmix"]}
TEST = skillmix.test_records(SEEN_PAIRS, per_order=PER_ORDER)
TEST = [r for r in TEST if r["split"] != "single-skill"] + [r for r in TEST if r["split"] == "single-skill"][::SINGLE_EVERY]
CONFIG = replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE, lr=LR)
base_model, tok = load_model(MODEL_NAME, device=DEVICE)
MAX_NEW_TOKENS = max(len(tok(r["messages"][1]["content"], add_special_tokens=False)["input_ids"]) for r in TEST) + 8
BASE = evaluate(base_model, tok, TEST, MAX_NEW_TOKENS, check=skillmix.correct)
del base_model
SPLITS = ("unseen-pair", "seen-pair", "single-skill")
print(f"test: {dict(collections.Counter(r['split'] for r in TEST))}; answers cut at {MAX_NEW_TOKENS} tokens")
print("base model (zero-shot): " + ", ".join(f"{s} {100 * np.mean([p['correct'] for p in BASE if p['split'] == s]):.1f}%" for s in SPLITS))
print("recipe:", CONFIG)

# %%
ROWS = []  # schema rows of every arm, saved after each so that an interrupted run resumes

def save_rows():
    return results.update(NOTEBOOK, ROWS)  # keeps the saved runs still to be reused (results.save would drop them)

def arm(method, variant, data):
    global ROWS
    t = time.time()
    new = run_or_reuse(NOTEBOOK, method, variant, data, SEEDS, CONFIG, rerun=RERUN, model_name=MODEL_NAME,
                       device=DEVICE, eval_records=TEST, max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct)
    ROWS = [r for r in ROWS if (r["method"], r["variant"]) != (method, variant)] + new
    save_rows()
    print(f"  {time.time() - t:.0f} s; " + ", ".join(f"{s} {fmt_mean_std(results.accuracies(new, s))}" for s in SPLITS))

def train_size(n):
    if n in SIZES:
        arm("skillmix", f"k=2,n={n}", POOLS["skillmix"][:n])
        arm("single-skill", f"k=1,n={n}", POOLS["single"][:n])

def train_shirkers(f):
    if f in SHIRKERS:
        arm("skillmix", f"k=2,n={SIZES[0]},junk={f}", SHIRKED[f])

train_size(1000)

# %%
train_size(2000)

# %%
train_size(4000)

# %%
train_shirkers(0.1)

# %%
train_shirkers(0.2)

# %%
train_shirkers(0.4)


# %% [markdown]
# ## 7. What skill mixing did
#
# Exact match in %, mean ± std over seeds, each test split, each training set:

# %%
def acc(method, variant, split, skill="all"):
    return results.accuracies(ROWS, split, skill, method=method, variant=variant)

ARMS = [(f"SkillMix k=2, {n}", "skillmix", f"k=2,n={n}") for n in SIZES] + \
       [(f"single-skill k=1, {n}", "single-skill", f"k=1,n={n}") for n in SIZES]
lines = ["| trained on | " + " | ".join(SPLITS) + " | ms/step | peak MB |", "|---" * (len(SPLITS) + 3) + "|",
         "| nothing (base model) | " + " | ".join(f"{100 * np.mean([p['correct'] for p in BASE if p['split'] == s]):.1f}"
                                          for s in SPLITS) + " | – | – |"]
for label, method, variant in ARMS:
    tags = [r for r in ROWS if r["method"] == method and r["variant"] == variant and r["split"] == "single-skill" and r["skill"] == "all"]
    lines.append(f"| {label} | " + " | ".join(fmt_mean_std(acc(method, variant, s)) for s in SPLITS) +
                 f" | {1000 * np.mean([r['step_time_s'] for r in tags]):.0f} | {np.mean([r['peak_mem_mb'] for r in tags]):.0f} |")
display(Markdown("\n".join(lines)))

# %%
fig, axes = plt.subplots(1, len(SPLITS), figsize=(12, 3.6), sharey=True)
for ax, split in zip(axes, SPLITS):
    for (method, k, colour) in (("skillmix", 2, "tab:blue"), ("single-skill", 1, "tab:orange")):
        means = [100 * np.mean(acc(method, f"k={k},n={n}", split)) for n in SIZES]
        stds = [100 * np.std(acc(method, f"k={k},n={n}", split), ddof=1) if len(SEEDS) > 1 else 0 for n in SIZES]
        ax.errorbar(SIZES, means, yerr=stds, marker="o", capsize=4, color=colour, label=f"{method} (k={k})")
    ax.axhline(100 * np.mean([p["correct"] for p in BASE if p["split"] == split]), color="grey", ls=":", label="base model")
    ax.set_xscale("log", base=2)
    ax.set_xticks(SIZES, [f"{n // 1000}K" for n in SIZES])
    ax.set_xlabel("training examples")
    ax.set_title(split)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("exact match (%)")
axes[0].set_ylim(-3, 103)
axes[-1].legend(fontsize=8)
fig.suptitle(f"SkillMix vs single-skill data, {STEPS} steps x {BATCH_SIZE}, mean ± std over {len(SEEDS)} seed(s)")
plt.tight_layout()
plt.show()

# %%
print(results.RULE, "\n")
for n in SIZES:
    for split in SPLITS:
        c = compare(acc("skillmix", f"k=2,n={n}", split), acc("single-skill", f"k=1,n={n}", split))
        print(f"{n // 1000}K, {split:11s}: " + c.sentence("SkillMix", "single-skill"))
if len(SIZES) > 1:
    for split in SPLITS:
        c = compare(acc("skillmix", f"k=2,n={SIZES[-1]}", split), acc("skillmix", f"k=2,n={SIZES[0]}", split))
        print(f"SkillMix {SIZES[-1] // 1000}K vs {SIZES[0] // 1000}K, {split}: " + c.sentence(f"{SIZES[-1] // 1000}K", f"{SIZES[0] // 1000}K"))

# %% [markdown]
# Per chain, for the largest sets (exact match %, mean over seeds): which pairs and orders each model can do.

# %%
chains = sorted({r["skill"] for r in TEST if "+" in r["skill"]}, key=lambda c: (skillmix.pair_of({"meta": {"skills": c.split("+")}}) != held, c))
models = [(f"SkillMix {SIZES[-1] // 1000}K", "skillmix", f"k=2,n={SIZES[-1]}"), (f"single-skill {SIZES[-1] // 1000}K", "single-skill", f"k=1,n={SIZES[-1]}")]
grid = np.array([[100 * np.mean(acc(m, v, "unseen-pair" if set(c.split("+")) == set(held) else "seen-pair", c)) for c in chains]
                 for _, m, v in models])
fig, ax = plt.subplots(figsize=(11, 2.4))
im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
for i, j in itertools.product(range(grid.shape[0]), range(grid.shape[1])):
    ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="white" if grid[i, j] < 60 else "black", fontsize=9)
ax.set_xticks(range(len(chains)), [c + (" (held out)" if set(c.split("+")) == set(held) else "") for c in chains], rotation=25, ha="right", fontsize=8)
ax.set_yticks(range(len(models)), [m[0] for m in models])
ax.set_xlabel("chain (first skill + second skill)")
fig.colorbar(im, ax=ax, label="exact match (%)")
plt.show()

# %% [markdown]
# ## 8. The shirkers ablation
#
# The same 1K SkillMix set with 10%, 20% and 40% of its responses replaced by junk, same recipe and seeds:

# %%
FRACTIONS = (0.0, *SHIRKERS)
def shirk_variant(f):
    return f"k=2,n={SIZES[0]}" + (f",junk={f}" if f else "")

fig, ax = plt.subplots(figsize=(6, 3.6))
for split, colour in zip(SPLITS, ("tab:red", "tab:blue", "tab:green")):
    vals = [acc("skillmix", shirk_variant(f), split) for f in FRACTIONS]
    ax.errorbar([100 * f for f in FRACTIONS], [100 * np.mean(v) for v in vals],
                yerr=[100 * np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals], marker="o", capsize=4, color=colour, label=split)
ax.set_xlabel("shirkers in the training set (%)")
ax.set_ylabel("exact match (%)")
ax.set_ylim(-3, 103)
ax.set_xticks([100 * f for f in FRACTIONS])
ax.grid(alpha=0.3)
ax.legend()
ax.set_title(f"{SIZES[0] // 1000}K SkillMix examples, junk responses mixed in")
plt.show()
print(results.RULE, "\n")
for f in SHIRKERS:
    c = compare(acc("skillmix", shirk_variant(f), "seen-pair"), acc("skillmix", shirk_variant(0.0), "seen-pair"))
    print(f"seen-pair, {100 * f:.0f}% shirkers vs none: " + c.sentence(f"{100 * f:.0f}% shirkers", "none"))

# %% [markdown]
# **A plainer cause?** A set with 20% junk also has 20% fewer good examples. The control trains on the same
# 1K set with its junk records removed (the 800 clean ones, same steps and seeds): if it scores like the full
# clean set, the drop comes from the junk itself, not from the missing examples.

# %%
CONTROL = 0.2 if 0.2 in SHIRKERS else SHIRKERS[0]
clean = [r for r in SHIRKED[CONTROL] if "shirker" not in r["meta"]]
arm("skillmix", f"k=2,n={len(clean)} (the clean part of the {100 * CONTROL:.0f}% junk set)", clean)
control = acc("skillmix", f"k=2,n={len(clean)} (the clean part of the {100 * CONTROL:.0f}% junk set)", "seen-pair")
print(results.RULE, "\n")
print("seen-pair: " + compare(control, acc("skillmix", shirk_variant(0.0), "seen-pair")).sentence(
    f"the {len(clean)} clean examples alone", f"all {SIZES[0]} clean"))
print("seen-pair: " + compare(control, acc("skillmix", shirk_variant(CONTROL), "seen-pair")).sentence(
    f"the {len(clean)} clean examples alone", f"the same plus {100 * CONTROL:.0f}% junk"))

# %% [markdown]
# ## 9. A look inside: answers of one model
#
# One more SkillMix model (1K examples, seed 0, the same recipe) trained here to show its answers, since the
# runs above may have been reused from `results/`; the explorer shows each test split.

# %%
look = run_method("sft", (0,), MODEL_NAME, CONFIG, train_records=POOLS["skillmix"][:SIZES[0]], device=DEVICE,
                  eval_records=[r for r in TEST if r["split"] != "single-skill"] + [r for r in TEST if r["split"] == "single-skill"][::10],
                  max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct).predictions[0]

def answers(split, n=6):
    picked = [p for p in look if p["split"] == split][:n]
    display(HTML(plots.samples_html({"SkillMix 1K, seed 0": picked}, ids=[p["id"] for p in picked])))

answers("unseen-pair")  # a static first view; the explorer below changes it
widgets.interact(answers, split=list(SPLITS), n=widgets.IntSlider(6, 1, 20));

# %%
path = save_rows()
print(f"saved {len(ROWS)} rows to results/{path.name}")

# %% [markdown]
# ### Against the paper
#
# The paper fine-tunes LLaMA-3-8B-Base on GPT-4-Turbo's data and judges open-ended answers with AlpacaEval 2.0;
# this notebook fine-tunes a 1.8M-parameter model on the scripted teacher's data and checks exact answers.
# What each reports:

# %%
ours_4k = (f"{fmt_mean_std(acc('skillmix', f'k=2,n={SIZES[-1]}', 'unseen-pair'))} unseen-pair, "
           f"{fmt_mean_std(acc('skillmix', f'k=2,n={SIZES[-1]}', 'seen-pair'))} seen-pair (exact match %, {SIZES[-1] // 1000}K)")
shown = 0.2 if 0.2 in SHIRKERS else max(SHIRKERS)  # the paper's 20%; the light profile trains 40% only
ours_junk = (f"seen-pair {fmt_mean_std(acc('skillmix', shirk_variant(0.0), 'seen-pair'))} with none, "
             f"{fmt_mean_std(acc('skillmix', shirk_variant(shown), 'seen-pair'))} with {100 * shown:.0f}% shirkers")
display(Markdown("\n".join([
    "| claim | the paper | this notebook |", "|---|---|---|",
    f"| vanilla SFT on 4K Instruct-SkillMix examples | 42.76% length-controlled win rate, AlpacaEval 2.0 (LLaMA-3-8B-Base) | {ours_4k} |",
    f"| 20% shirkers | performance drops sharply | {ours_junk} |"])))

# %% [markdown]
# ## What we saw
#
# *(written from the full run's outputs above; a re-run prints its own numbers and verdicts, read those first)*
#
# - **No model composed the held-out pair.** Every model scored 0% on the unseen-pair chains ({reverse,
#   uppercase}, both orders), at every size, SkillMix or not (the table in section 7). The look inside
#   (section 9) shows how it fails: asked to write a word backwards and then in capitals, the SkillMix model
#   writes out the steps of a pair it *did* see ("Step 1, spell a word with dashes ..."), so it learnt the
#   chains of its data, not to chain any two skills. The paper does not test held-out skill pairs (it judges
#   open-ended answers with AlpacaEval 2.0), so this is a question only gold answers let us ask; here the
#   answer is no.
# - **Seen pairs are learnt, and only SkillMix data teach them.** On new words for the pairs it saw, SkillMix
#   reached 34.9 ± 12.7% at 1K, 38.1 ± 9.4% at 2K and 43.7 ± 8.8% at 4K; the single-skill sets, which never
#   show a chain, stayed at 0.0% ("above" at every size). More SkillMix data at the same compute (200 steps of
#   16) moved the mean up, but the rule calls 4K against 1K within the seed spread (gap 8.8 points, seed std up
#   to 12.7).
# - **Single skills paid for it.** On the world's own single-skill test, SkillMix was below the same number of
#   single-skill examples at every size (3.2 vs 8.3, 1.8 vs 11.7, 2.2 vs 13.8 points). Both arms are low on it,
#   and this notebook does not tell why: its wordings are the world's ("Spell miq with dashes.") while both
#   training sets use the teacher's; both answer in worked steps; and about a quarter of the teacher's examples
#   have a wrong final answer (the gold verdict in section 5: 75.8% right for SkillMix, 74.8% for single-skill).
#   The paper reports gains on instruction following, not on skills taught one at a time; a mix of both kinds
#   of data is the obvious next run (exercise 4).
# - **Shirkers hurt, and the junk itself is the cause.** With 10% junk responses seen-pair accuracy fell to 24.8
#   ± 5.6% (within the spread of the clean 34.9 ± 12.7%), with 20% to 9.9 ± 4.5% and with 40% to 1.9 ± 1.7%
#   ("below" both). The plainer explanation, fewer good examples, does not hold: the 800 clean examples of the
#   20% set alone scored 44.8 ± 4.5%, within the spread of all 1000 clean and above the same 800 with the 200
#   junk responses added. This is the paper's direction (a sharp drop at 20% shirkers); our junk is short and
#   generic ("I am not sure."), and a tiny model copies it.
# - **Against the paper.** The paper's headline (42.76% length-controlled win rate on AlpacaEval 2.0 for
#   LLaMA-3-8B-Base after 4K examples) is not measurable here; the tiny world measures exact answers instead.
#   What carries over: two-skill data teach the two-skill instructions they contain, and lazy responses are
#   poison. What does not show here: that mixing skills makes a model better at anything it was not shown.

# %% [markdown]
# ## Exercises
#
# **1. Hold out another pair.** Make {reverse, spell} the unseen pair instead (`skillmix.pools(teacher, 1000,
# held_out=(frozenset({"reverse", "spell"}),))`) and train the 1K set. Does the model compose it?
# <details><summary>Hint</summary>Reverse is then seen only with uppercase; the test's unseen-pair chains are
# made by `skillmix.test_records(..., held_out=...)` with the same argument.</details>
# <details><summary>Solution</summary>
#
# ```python
# other = (frozenset({"reverse", "spell"}),)
# pools = skillmix.pools(teacher, 1000, held_out=other)
# test = skillmix.test_records({skillmix.pair_of(r) for r in pools["skillmix"]}, held_out=other, per_order=20)
# run = run_method("sft", (0,), MODEL_NAME, CONFIG, train_records=pools["skillmix"], eval_records=test,
#                  max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct, device=DEVICE)
# print({s: results.accuracies(run.rows, s) for s in SPLITS})
# ```
# </details>
#
# **2. Brevity instead of junk.** The paper's second shirker variant asks for a one-paragraph response
# (`kind="brevity"`): here, the bare right answer without the steps. Train with 40% brevity shirkers. Is it as
# harmful as junk, and why would it differ?
# <details><summary>Hint</summary>A brevity response is still right; only the worked steps are missing.</details>
# <details><summary>Solution</summary>
#
# ```python
# brief = skillmix.shirk(POOLS["skillmix"][:1000], teacher, 0.4, "brevity", seed=0)
# run = run_method("sft", (0,), MODEL_NAME, CONFIG, train_records=brief, eval_records=TEST,
#                  max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct, device=DEVICE)
# print({s: results.accuracies(run.rows, s) for s in SPLITS})
# ```
# Compare with the 40% junk row above: the brevity set teaches the right answers, so expect a smaller drop
# (measure it; the scripted junk is short and generic, so the model can also learn to tell it apart).
# </details>
#
# **3. Check the gold composer by hand.** Why does `skillmix.verdict("Write a word backwards, then count the
# letters of a word: abba", "Answer: 4", ["reverse", "length"])` say the example is not good, although its
# answer is right?
# <details><summary>Hint</summary>Remove one skill and recompute the answer with `skillmix.chain_answer`.</details>
# <details><summary>Solution</summary>
#
# ```python
# print(skillmix.verdict("Write a word backwards, then count the letters of a word: abba", "Answer: 4", ["reverse", "length"]))
# print(skillmix.needless(["reverse", "length"], "abba"))   # ['reverse']: 'abba' reads the same backwards
# ```
# An example must *need* each of its skills: here the answer is 4 with the reversing left out too (and a count
# of letters ignores their order for any word, which is why the scripted teacher declines this pair).
# </details>
#
# **4. Mix both kinds of data.** Train on the first 1K SkillMix examples plus the first 1K single-skill ones
# (same recipe). Does the single-skill test recover without losing the seen pairs?
# <details><summary>Hint</summary>The two pools share a format, so concatenating the lists is enough; compare
# with the 1K and 2K rows above using `compare`, which needs several seeds to say more than "one seed".</details>
# <details><summary>Solution</summary>
#
# ```python
# mixed = POOLS["skillmix"][:1000] + POOLS["single"][:1000]
# run = run_method("sft", SEEDS, MODEL_NAME, CONFIG, train_records=mixed, eval_records=TEST,
#                  max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct, device=DEVICE)
# for split in SPLITS:
#     print(split, compare(results.accuracies(run.rows, split), acc("skillmix", "k=2,n=2000", split)).sentence(
#         "1K + 1K mixed", "2K SkillMix"))
# ```
# Measure it rather than guess: the mixed set sees each kind of example half as often as a pure 2K set.
# </details>

# %% [markdown]
# **5. Check yourself: write the check that an example needs its skills.** The gold composer keeps an example only if it needs every one of its skills. Write
# `my_needless(order, word)`: for a chain of the world's string skills (`order`, e.g. `["reverse", "length"]`)
# applied to `word`, return one flag per skill, True when the chain without that skill gives the same final
# answer. Check it with `check_piece(my_needless, "skillmix-needless")`.
#
# <details><summary>Hint</summary>
#
# `sftkit.world.SKILLS[name].answer({"word": w})` applies one skill. Compare the chain without skill i with the
# whole chain's answer, not with the input word, and not skill by skill on the word alone: reversing "kofa"
# changes it, yet the letter count after it is 4 either way.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.checks import check_piece
# from sftkit.world import SKILLS
#
#
# def my_needless(order, word):
#     def chain(skills):
#         out = word
#         for name in skills:
#             out = SKILLS[name].answer({"word": out})
#         return out
#
#     answer = chain(order)
#     return [chain(order[:i] + order[i + 1:]) == answer for i in range(len(order))]
#
#
# check_piece(my_needless, "skillmix-needless")
# ```
#
# This is `skillmix.needless`, which `skillmix.verdict` uses to drop examples that do not exercise their pair.
# </details>

# %%
runs = {(r["method"], r["variant"], r["seed"]): r["train_seconds"] for r in ROWS}
print(f"the {len(runs)} fine-tuning runs saved by this notebook trained {sum(runs.values()) / 60:.1f} minutes in all "
      f"(evaluation not included), on {DEVICE}")
print(f"this run: {(time.time() - T0) / 60:.1f} minutes on {DEVICE} ({'light' if LIGHT else 'full'} profile)")
