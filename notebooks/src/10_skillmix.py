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
# **The paper's setting, and ours.** The paper draws k = 2 random skills per example, trains on 1K to 4K such
# examples (vanilla SFT) of a *pretrained base model* (LLaMA-3-8B-Base, Mistral-7B-v0.2, which already have
# the skills; instruction tuning teaches them to use them on request), compares with data that do not mix skills,
# and ablates *shirkers* (20% lazy responses). Here: six chainable skills; a start model per seed that knows each
# skill alone (our stand-in for the pretrained base); k = 2 random skill mixes against the same pipeline with
# k = 1 (single skills) at the same size (1K examples, the official `NUM_DATA`), both from that start; three
# pairs of skills held out of the mixes (every skill in one of them); and the 20% shirker ablation with the
# control that separates "junk" from "fewer good examples".
#
# **What you will learn**
# - the two stages: the teacher lists the *skills* and *query types* behind seed instructions; then each example
#   is written for k = 2 random skills, critiqued and refined in one conversation;
# - how a gold composer checks what the paper cannot: that an example truly needs both of its skills and that
#   its answer is right;
# - whether training on two-skill data teaches a tiny model to **combine pairs of skills it never saw
#   together**, against the same number of single-skill examples, and how far that is from what it does on
#   the pairs it saw;
# - the paper's *shirkers* ablation: what 20% lazy, generic responses do to the fine-tuned model, and why.
#
# **Runtime.** Full profile (3 seeds; a start model per seed; a 3-point learning-rate grid on `dev` for both
# arms; 19 fine-tuning runs in all, every one trained here from a fresh clone, none reused from `results/`):
# 14.8 minutes on a 2-core CPU, as the last cell prints (13.5 in an earlier run with the same outputs;
# `docs/profile.md` counts the notebook's start-up too). `make test` runs a light profile (one seed, one
# learning rate, 40 steps, a smaller test): 0.9 and 1.2 minutes in two runs by hand (`docs/teaching.md`).
# GPU: not measured here.

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the student: the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)  # each seed: its own start model, data draw (teacher seed) and batch order
START_PER_SKILL = 200      # the start data: one-skill examples per skill (half in the world's wording, half the teacher's)
START_STEPS = 40 if LIGHT else 300  # SFT steps of each seed's start model (lr START_LR)
START_LR = 2e-3
SIZE = 1000                # examples per training set (the official NUM_DATA; the paper trains on 1K to 4K)
SHIRKERS = 0.2             # share of junk responses in the shirker arm (the paper's ablation)
STEPS = 40 if LIGHT else 200  # SFT steps of every run from the start model (sized so the notebook fits 15 minutes)
BATCH_SIZE = 16
LR_GRID = (2e-3,) if LIGHT else (1e-3, 2e-3, 4e-3)  # the same grid for both arms, chosen on dev with seed 0
TEACHER = "scripted"       # "scripted" (the tiny world's), "hf:MODEL" (local transformers) or "openai:MODEL" (a server)
ERROR_RATE, LAZINESS_RATE = 0.2, 0.05  # the scripted teacher's share of mistakes and of non-answers
PER_ORDER = 10 if LIGHT else 40  # test words per order of each unseen pair (a quarter of that per seen order)
PER_SKILL = 5 if LIGHT else 15  # test words per skill alone, in each wording

# %%
# %matplotlib inline
import collections
import itertools
import random
import tempfile
import time
import warnings
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Markdown, display

from sftkit import plots, results
from sftkit.evaluate import evaluate
from sftkit.experiment import BASELINE, run_method, train_settings
from sftkit.methods import skillmix
from sftkit.model import load_model, pick_device, set_seed
from sftkit.results import compare_rows, fmt_mean_std, rows_from_eval
from sftkit.stats import RULE, holm
from sftkit.teachers import teacher_from
from sftkit.train import train as sft_train

warnings.filterwarnings("ignore", message=".*longer than max_length")  # the same line is printed by the run itself
T0 = time.time()
NOTEBOOK = "10_skillmix"
set_seed(0)
DEVICE = pick_device(DEVICE)
SKILLS = skillmix.MIX_SKILLS
HELD = [sorted(pair) for pair in skillmix.HELD_OUT]
for name in SKILLS:
    print(f"{name:9s} {skillmix.CHAIN_SKILLS[name].description}: kofa -> {skillmix.chain_answer([name], 'kofa')}")
print(f"device {DEVICE}; held-out pairs: {HELD}")

# %% [markdown]
# ## 1. Why Instruct-SkillMix exists
#
# Instruction tuning needs (instruction, response) pairs. Human-written sets are slow and expensive to make;
# asking an LLM for "some instructions" gives a narrow, repetitive set; and crowd-sourced data carry many lazy
# answers. Instruct-SkillMix asks the strong LLM two things:
#
# 1. **Skill extraction.** "What skills does following instructions like these need?" and "what types of
#    query are these?": two lists (the paper reports a GPT-4-Turbo list of 18 query types and dozens of skills).
# 2. **Skill mixing.** For each example, draw k = 2 skills at random and a query type, and ask the LLM to write
#    an instruction *that needs both skills* and a response; in the same conversation it critiques its own
#    response and refines instruction and response.
#
# Random pairs of skills make examples that no single template would produce, and the paper reports that a
# few thousand of them are enough for strong instruction following. It also reports an ablation we repeat:
# replacing 20% of the responses by lazy, generic ones (*shirkers*) makes the fine-tuned model much worse.
#
# **Six skills that chain.** Each skill above acts on one word, so any two chain: "Put a word in brackets, then
# drop the first letter of a word: kofa" needs both, and its gold answer ("kofa]") is computed, not judged. Two
# are the tiny world's own (`uppercase`, `spell`); four are chain-only skills of `sftkit.world.chains`
# (`EXTRA_SKILLS`: not in the world's skill list, so no other notebook's data change). The world's other two
# string skills are left out: in an earlier version of this notebook (not re-run here) the tiny model solved no
# chain with `reverse`, and `length` ends any chain (a number).

# %% [markdown]
# ## 2. The teacher
#
# The **scripted teacher** plays the strong LLM from the world's rules: it is no model at all, and honest about
# it. Asked for skills, it lists the skills of the world instructions it is shown; asked to write an example for
# two skills, it writes a chain instruction on a training word that needs both ("Put a word in brackets, then
# drop the last letter of a word: kofa"), a bare answer as its draft, a critique asking it to mark the answer,
# and a refined response "Answer: [kof". With probability `ERROR_RATE` a reply has a realistic mistake (a wrong
# answer, a reply the parser rejects, a list that leaves something out), with `LAZINESS_RATE` it is a non-answer. Asked
# for skills that no order and word can all need, it declines, and the parser skips the decline (no pair of this
# notebook's six skills is such a pair: `tests/test_skillmix.py` writes and judges every one).
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
# The seed instructions are eight training instructions of each of the six chainable skills (section 1), in
# their world-style wordings (orders and questions). The extraction prompts ask for one snake_case skill per line,
# and for query types as "### N. **Name**" sections with a definition: the formats of the official
# `datasets/<model>/skills.txt` and `queries.txt`, read by the same parsers. Every prompt is sent at temperature 1
# (the official API default), so the teacher can make its mistakes here too. The paper prints its extracted lists;
# we play the reader who checks them: `expected=` asks again while a list misses a query type the seed
# instructions plainly have (orders, questions). The data of every arm are written from the checked lists.

# %%
SEEDS_TEXT = skillmix.default_seeds()
prompt = skillmix.skills_prompt(SEEDS_TEXT)
print(prompt[:260], "\n...\n", prompt[-300:], "\n")
_, first_try = skillmix.extract(teacher, SEEDS_TEXT, temperature=1.0)
print("query types in the first reply:", [q["query_str"] for q in first_try])
EXTRACTED, QUERY_TYPES = skillmix.extract(teacher, SEEDS_TEXT, expected={"query types": set(skillmix.WORLD_QUERY_TYPES)},
                                          temperature=1.0)
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
# skill: same teacher, format and size, only the mixing differs). Three pairs, printed in the first cell, are
# **held out**: {stars, uppercase}, {behead, curtail}, {bracket, spell}. Every skill is in exactly one of them
# (a perfect matching of the six), so no skill is favoured, and each is seen in the mixes with the four
# others. Their examples are removed from the SkillMix data, so the test can ask whether a model combines two
# skills it saw only with *other* partners. **Each seed draws its own data** (the teacher's seed); both stages
# use the checked lists of section 3.
#
# The gold composer (`skillmix.verdict`) reads each example: does the instruction name exactly its k skills,
# does each of them change the answer, and is the response's final answer right? The paper has no such check.

# %%
POOLS = {seed: skillmix.pools(teacher, SIZE, seed=seed, extracted=(EXTRACTED, QUERY_TYPES)) for seed in SEEDS}
for seed, pool in POOLS.items():
    for arm, data in pool.items():
        ok = collections.Counter(r["meta"]["gold"]["ok"] for r in data)
        reasons = collections.Counter("wrong answer" if "wrong answer" in r["meta"]["gold"]["reason"] else r["meta"]["gold"]["reason"]
                                      for r in data if not r["meta"]["gold"]["ok"])
        print(f"seed {seed}, {arm}: {len(data)} examples; gold verdict right {ok[True]} ({100 * ok[True] / len(data):.1f}%); "
              f"otherwise: {dict(reasons.most_common(3))}")
print(f"held-out pairs in the SkillMix data: {sum(skillmix.pair_of(r) in skillmix.HELD_OUT for p in POOLS.values() for r in p['skillmix'])} "
      f"examples; query types: {dict(collections.Counter(r['meta']['query'] for r in POOLS[SEEDS[0]]['skillmix']))} (seed {SEEDS[0]})")
rows = [f"| {r['skill']} | {r['messages'][0]['content']} | {r['messages'][1]['content'].replace(chr(10), '<br>')} | "
        f"{'yes' if r['meta']['gold']['ok'] else r['meta']['gold']['reason']} |" for r in POOLS[SEEDS[0]]["skillmix"][:6]]
display(Markdown("| skills | instruction | response | gold verdict |\n|---|---|---|---|\n" + "\n".join(rows)))


# %% [markdown]
# Which ordered pairs the SkillMix data of seed 0 hold (the first skill applied first). Only the held-out pairs'
# cells are empty: no skill is in every training chain (each is in a third of them).

# %%
def pair_counts(data):
    grid = np.zeros((len(SKILLS), len(SKILLS)), dtype=int)
    for r in data:
        order = r["skill"].split("+")
        if len(order) == 2:
            grid[SKILLS.index(order[0]), SKILLS.index(order[1])] += 1
    return grid

grid = pair_counts(POOLS[SEEDS[0]]["skillmix"])
fig, ax = plt.subplots(figsize=(5.6, 4.4))
im = ax.imshow(grid, cmap="Blues")
for i, j in itertools.product(range(len(SKILLS)), repeat=2):
    held_cell = frozenset({SKILLS[i], SKILLS[j]}) in skillmix.HELD_OUT
    ax.text(j, i, "held\nout" if held_cell else ("" if i == j else grid[i, j]), ha="center", va="center",
            color="crimson" if held_cell else ("white" if grid[i, j] > grid.max() / 2 else "black"), fontsize=9)
ax.set_xticks(range(len(SKILLS)), SKILLS, rotation=30)
ax.set_yticks(range(len(SKILLS)), SKILLS)
ax.set_xlabel("second skill")
ax.set_ylabel("first skill")
ax.set_title(f"SkillMix examples per ordered pair (seed 0, n={len(POOLS[SEEDS[0]]['skillmix'])})")
fig.colorbar(im, ax=ax, label="examples")
plt.show()
chains = [r["meta"]["skills"] for p in POOLS.values() for r in p["skillmix"]]
print("share of training chains containing each skill (all seeds): " +
      ", ".join(f"{s} {100 * np.mean([s in c for c in chains]):.0f}%" for s in SKILLS))


# %%
def show_pair(pair, n=4):
    picked = [r for r in POOLS[SEEDS[0]]["skillmix"] if r["skill"] == pair][:n]
    display(Markdown("\n\n".join(f"**{r['messages'][0]['content']}**<br>{r['messages'][1]['content'].replace(chr(10), '<br>')}"
                                 for r in picked) or "no examples of this pair"))

pairs_present = sorted({r["skill"] for r in POOLS[SEEDS[0]]["skillmix"]})
show_pair(pairs_present[0], 2)  # a static first view; the explorer below shows any pair
widgets.interact(show_pair, pair=pairs_present, n=widgets.IntSlider(4, 1, 10));

# %% [markdown]
# **Shirkers.** `skillmix.shirk` replaces exactly round(f x n) responses, drawn with the seed, by the
# teacher's reply to the official junk prompt ("an extremely unhelpful response"); the scripted teacher's junk
# is a short generic non-answer (`sftkit.world.lazy_answer`), shorter than the long evasive answers the official
# prompt asks GPT-4 for. Its "mistake" on this prompt, at `ERROR_RATE`, is to answer anyway: a bare right answer.

# %%
SHIRKED = {seed: skillmix.shirk(POOLS[seed]["skillmix"], teacher, SHIRKERS, "junk", seed=seed) for seed in SEEDS}
CLEAN = {seed: [r for r in data if "shirker" not in r["meta"]] for seed, data in SHIRKED.items()}
for seed, data in SHIRKED.items():
    junk = [r for r in data if "shirker" in r["meta"]]
    answered = [r for r in junk if r["meta"]["gold"]["ok"]]
    lazy = collections.Counter(r["messages"][1]["content"] for r in junk if not r["meta"]["gold"]["ok"])
    print(f"seed {seed}, {100 * SHIRKERS:.0f}% shirkers: {len(junk)} of {len(data)} responses replaced: {len(junk) - len(answered)} "
          f"non-answers ({', '.join(repr(t) for t, _ in lazy.most_common(2))}, ...) and {len(answered)} bare right answers")

# %% [markdown]
# ## 6. The test, the claims, and the recipe
#
# Every test word is a word of the tiny world's test split (no training example uses it); the `dev` words are
# the world's dev split. The splits:
#
# - **unseen-pair**: both orders of each of the three held-out pairs, `PER_ORDER` words each.
# - **seen-pair**: both orders of each of the 12 pairs the SkillMix data contain, a quarter as many words each.
# - **single-world** and **single-teacher**: each of the six skills alone on the same words, in its world-style
#   wording ("Put kofa in brackets.", for `uppercase` and `spell` the world's own) and in the teacher's
#   ("Put a word in brackets: kofa"), which is the wording of both training sets.
# - **dev**: seen pairs and single skills (teacher's wording) on dev words. The learning rate of each arm is
#   the one of `LR_GRID` with the best dev score (seed 0); the unseen pairs are never used to choose anything.
#
# An answer is right when its final answer (the last "Answer:" line, or the whole reply when there is none)
# equals the gold one (`skillmix.correct`), so "Answer: [KOFA]" and a bare "[KOFA]" are judged alike.
#
# **Headline claims, named before running** (registered in `sftkit.leaderboard.CLAIMS`; paired on the same
# items, `sftkit.stats.compare` through `compare_rows`):
#
# 1. *unseen-pair*: SkillMix (k = 2, 1K) **above** single-skill (k = 1, 1K): the paper's case for mixing skills,
#    asked of pairs the mixes never contained. Beside it, the ceiling: the same models' seen-pair accuracy on
#    the chains that contain each held-out skill, and each skill alone.
# 2. *seen-pair*: SkillMix with 20% shirkers **below** SkillMix without (the paper's ablation).
#
# Everything else (other splits, the shirker control) is secondary: Holm-corrected as one family.

# %%
SEEN_PAIRS = {skillmix.pair_of(r) for p in POOLS.values() for r in p["skillmix"]}
TEST = skillmix.test_records(SEEN_PAIRS, per_order=PER_ORDER, per_skill=PER_SKILL)
SPLITS = ("unseen-pair", "seen-pair", "single-world", "single-teacher")
base_model, tok = load_model(MODEL_NAME, device=DEVICE)
MAX_NEW_TOKENS = max(len(tok(r["messages"][1]["content"], add_special_tokens=False)["input_ids"]) for r in TEST) + 8
BASE = evaluate(base_model, tok, TEST, MAX_NEW_TOKENS, check=skillmix.correct)
print(f"the student: {MODEL_NAME}, {sum(p.numel() for p in base_model.parameters()) / 1e6:.1f}M parameters")
del base_model
print(f"test: {dict(collections.Counter(r['split'] for r in TEST))}; answers cut at {MAX_NEW_TOKENS} tokens")
print("base model (zero-shot): " + ", ".join(f"{s} {100 * np.mean([p['correct'] for p in BASE if p['split'] == s]):.1f}%"
                                             for s in (*SPLITS, "dev")))
for split in ("single-world", "single-teacher"):
    print(f"  {split}: " + " | ".join(r["messages"][0]["content"] for r in TEST if r["split"] == split and r["skill"] == "bracket")[:110])

# %% [markdown]
# **The start models.** Each seed first trains its own start model: `START_STEPS` steps of plain SFT from the
# committed tiny model on `skillmix.start_records(seed, START_PER_SKILL)`, each of the six skills alone on
# training words, half in the world's wording and half in the teacher's, bare answers, no chain. It stands in for
# the paper's pretrained base model, which has its skills before instruction tuning. Both arms of a seed (and the
# shirker arms) fine-tune that seed's start model, so a seed varies the start model, the data draw and the batch
# order. The start models are kept in a temporary folder while the notebook runs.

# %%
START = replace(BASELINE, steps=START_STEPS, batch_size=BATCH_SIZE, lr=START_LR)
START_VARIANT = f"start ({START_PER_SKILL} per skill, {START_STEPS} steps)"
START_DIR = tempfile.TemporaryDirectory(prefix="sftkit-10-")
STARTS, ROWS, PREDICTIONS = {}, [], {}
for seed in SEEDS:
    set_seed(seed)
    model, tok = load_model(MODEL_NAME, device=DEVICE)
    run = sft_train(model, tok, skillmix.start_records(seed, START_PER_SKILL), replace(START, seed=seed))
    STARTS[seed] = f"{START_DIR.name}/seed-{seed}"
    run.model.save_pretrained(STARTS[seed])
    tok.save_pretrained(STARTS[seed])
    preds = evaluate(run.model, tok, TEST, MAX_NEW_TOKENS, check=skillmix.correct)
    ROWS += rows_from_eval(preds, notebook=NOTEBOOK, method="sft", variant=START_VARIANT, model=str(MODEL_NAME), seed=seed,
                           steps=START_STEPS, train_config=train_settings(START), step_time_s=run.step_time_s,
                           peak_mem_mb=run.peak_mem_mb, train_seconds=run.seconds, device=DEVICE)
    print(f"seed {seed}: start model trained in {run.seconds:.0f} s; " + ", ".join(
        f"{s} {100 * np.mean([p['correct'] for p in preds if p['split'] == s]):.1f}%" for s in (*SPLITS, "dev")))
    del model, run
START_ROWS = list(ROWS)


def train(method, variant, data, lr, seeds):
    """Plain SFT from each seed's start model on that seed's data (`data(seed)`), evaluated on TEST; rows labelled
    method / variant (model: the committed tiny model, through the start)."""
    t, rows = time.time(), []
    config = replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE, lr=lr)
    for seed in seeds:
        run = run_method("sft", (seed,), STARTS[seed], config, train_records=data, device=DEVICE, eval_records=TEST,
                         max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct)
        rows += [{**r, "method": method, "variant": variant, "notebook": NOTEBOOK, "model": str(MODEL_NAME)} for r in run.rows]
        PREDICTIONS.setdefault((method, variant), {}).update(run.predictions)
    ROWS.extend(rows)
    print(f"  {method} {variant}, seeds {list(seeds)}: {time.time() - t:.0f} s; " + ", ".join(
        f"{s} {fmt_mean_std(results.accuracies(rows, s))}" for s in (*SPLITS, "dev")))
    return rows

ARMS = {"skillmix": (f"k=2,n={SIZE}", lambda seed: POOLS[seed]["skillmix"]),
        "single-skill": (f"k=1,n={SIZE}", lambda seed: POOLS[seed]["single"])}
GRID = {(arm, lr): train(arm, f"{variant},lr={lr:g} (dev grid)", data, lr, SEEDS[:1])
        for arm, (variant, data) in ARMS.items() for lr in LR_GRID}

# %% [markdown]
# The grid, on `dev` (seed 0): each arm takes its best learning rate (a tie goes to the smaller). A choice at the
# edge of the grid is printed as such.

# %%
LR = {}
for arm in ARMS:
    scores = {lr: np.mean(results.accuracies(GRID[arm, lr], "dev")) for lr in LR_GRID}
    LR[arm] = max(LR_GRID, key=lambda lr: (scores[lr], -lr))
    edge = " (at the edge of the grid)" if len(LR_GRID) > 1 and LR[arm] in (min(LR_GRID), max(LR_GRID)) else ""
    print(f"{arm}: dev " + ", ".join(f"lr {lr:g} {100 * s:.1f}%" for lr, s in scores.items()) + f" -> lr {LR[arm]:g}{edge}")

# %% [markdown]
# The other seeds at the chosen rates; seed 0's run is the grid's (its test outcomes were not looked at to choose).

# %%
MAIN = {}
for arm, (variant, data) in ARMS.items():
    rest = train(arm, variant, data, LR[arm], SEEDS[1:]) if len(SEEDS) > 1 else []
    chosen = [{**r, "variant": variant} for r in GRID[arm, LR[arm]]]
    ROWS.extend(chosen)
    MAIN[arm] = chosen + rest
    PREDICTIONS[arm, variant] = {**PREDICTIONS[arm, f"{variant},lr={LR[arm]:g} (dev grid)"], **PREDICTIONS.get((arm, variant), {})}
JUNK_VARIANT, CLEAN_VARIANT = f"k=2,n={SIZE},junk={SHIRKERS:g}", f"k=2,n={round(SIZE * (1 - SHIRKERS))} (the clean part of the junk set)"
SHIRK = train("skillmix", JUNK_VARIANT, lambda seed: SHIRKED[seed], LR["skillmix"], SEEDS)
CONTROL = train("skillmix", CLEAN_VARIANT, lambda seed: CLEAN[seed], LR["skillmix"], SEEDS)
print("saved to", results.save(NOTEBOOK, ROWS).name)


# %% [markdown]
# ## 7. What skill mixing did
#
# Exact match in %, mean ± std over seeds, each split:

# %%
def acc(rows, split, skill="all"):
    return results.accuracies(rows, split, skill)

TABLE = {f"nothing more: the start model ({START_STEPS} steps of single skills)": START_ROWS,
         f"SkillMix k=2, {SIZE} (lr {LR['skillmix']:g})": MAIN["skillmix"],
         f"single-skill k=1, {SIZE} (lr {LR['single-skill']:g})": MAIN["single-skill"],
         f"SkillMix + {100 * SHIRKERS:.0f}% shirkers": SHIRK, f"SkillMix, its {round(SIZE * (1 - SHIRKERS))} clean examples alone": CONTROL}
lines = ["| trained on | " + " | ".join(SPLITS) + " | ms/step |", "|---" * (len(SPLITS) + 2) + "|",
         "| nothing (base model) | " + " | ".join(f"{100 * np.mean([p['correct'] for p in BASE if p['split'] == s]):.1f}"
                                          for s in SPLITS) + " | – |"]
for label, rows in TABLE.items():
    tags = [r for r in rows if r["split"] == "seen-pair" and r["skill"] == "all"]
    lines.append(f"| {label} | " + " | ".join(fmt_mean_std(acc(rows, s)) for s in SPLITS) +
                 f" | {1000 * np.mean([r['step_time_s'] for r in tags]):.0f} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# **Headline 1, and its ceiling.** Each held-out pair's score (both orders) beside what the same models do with
# each of its skills elsewhere: on the seen chains that contain it, and alone (teacher's wording). Mean over seeds.

# %%
CHAINS = sorted({r["skill"] for r in TEST if r["split"] == "seen-pair"})
def ceiling(rows, member, chains=CHAINS):
    """Mean over seeds and `chains` of the seen-pair accuracy on the chains that contain `member`."""
    return 100 * np.mean([np.mean(acc(rows, "seen-pair", c)) for c in chains if member in c.split("+")])

def pair_score(rows, pair):
    """Mean over seeds and both orders of one held-out pair's unseen-pair accuracy."""
    return 100 * np.mean([np.mean(acc(rows, "unseen-pair", "+".join(o))) for o in itertools.permutations(sorted(pair))])

lines = ["| model | held-out pair {a, b} | unseen pair | seen chains with a | seen chains with b | a alone | b alone |",
         "|---" * 7 + "|"]
for arm, rows in {"start": START_ROWS, **MAIN}.items():
    for a, b in HELD:
        lines.append(f"| {arm} | {{{a}, {b}}} | {pair_score(rows, (a, b)):.1f} | {ceiling(rows, a):.1f} | {ceiling(rows, b):.1f} | "
                     f"{100 * np.mean(acc(rows, 'single-teacher', a)):.1f} | {100 * np.mean(acc(rows, 'single-teacher', b)):.1f} |")
display(Markdown("\n".join(lines)))
print(RULE, "\n")
H1 = compare_rows(MAIN["skillmix"], MAIN["single-skill"], "unseen-pair")
print("headline 1, unseen-pair: " + H1.sentence("SkillMix k=2", "single-skill k=1"))

# %% [markdown]
# Per seen chain (exact match %, mean over seeds; first skill applied first), both arms:

# %%
rows_md = ["| chain | SkillMix | single-skill |", "|---|---|---|"]
for c in CHAINS:
    rows_md.append(f"| {c} | " + " | ".join(f"{100 * np.mean(acc(MAIN[arm], 'seen-pair', c)):.0f}" for arm in ARMS) + " |")
for c in sorted({r["skill"] for r in TEST if r["split"] == "unseen-pair"}):  # both orders of each held-out pair
    rows_md.append(f"| **{c} (held out)** | " + " | ".join(f"{100 * np.mean(acc(MAIN[arm], 'unseen-pair', c)):.0f}" for arm in ARMS) + " |")
display(Markdown("\n".join(rows_md)))

# %% [markdown]
# Each skill alone, in the world's wording and in the teacher's (the training sets') wording:

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), sharey=True)
for ax, split in zip(axes, ("single-world", "single-teacher")):
    for k, (arm, colour) in enumerate(zip(ARMS, ("tab:blue", "tab:orange"))):
        means = [100 * np.mean(acc(MAIN[arm], split, s)) for s in SKILLS]
        stds = [100 * np.std(acc(MAIN[arm], split, s), ddof=1) if len(SEEDS) > 1 else 0 for s in SKILLS]
        ax.bar(np.arange(len(SKILLS)) + 0.4 * k - 0.2, means, 0.4, yerr=stds, capsize=3, color=colour,
               label={"skillmix": "SkillMix k=2", "single-skill": "single-skill k=1"}[arm])
    ax.set_xticks(range(len(SKILLS)), SKILLS)
    ax.set_title(f"{split}: each skill alone, {'world' if split == 'single-world' else 'teacher'}'s wording")
    ax.grid(alpha=0.3, axis="y")
axes[0].set_ylabel(f"exact match (%), mean ± std over {len(SEEDS)} seeds")
axes[0].set_ylim(0, 120)
axes[1].legend(loc="upper right")
plt.tight_layout()
plt.show()

# %% [markdown]
# Secondary comparisons (one family, Holm-corrected p-values beside the raw verdicts):

# %%
SECONDARY = [(f"{s}: SkillMix vs single-skill", MAIN["skillmix"], MAIN["single-skill"], s)
             for s in ("seen-pair", "single-world", "single-teacher")]
SECONDARY += [(f"seen-pair: the {round(SIZE * (1 - SHIRKERS))} clean alone vs all {SIZE} clean", CONTROL, MAIN["skillmix"], "seen-pair"),
              (f"seen-pair: the {round(SIZE * (1 - SHIRKERS))} clean alone vs the same plus {100 * SHIRKERS:.0f}% junk", CONTROL, SHIRK, "seen-pair")]
found = [(name, compare_rows(a, b, split)) for name, a, b, split in SECONDARY]
for (name, c), p in zip(found, holm([c.p_value for _, c in found])):
    print(f"{name}: {c.summary()}; Holm p = {p:.3g}")

# %% [markdown]
# ## 8. The shirkers ablation
#
# The same SkillMix sets with 20% of their responses replaced by junk, same recipe and seeds; and the control:
# the 800 clean examples of each junk set alone. If the control scores like all 1000 clean examples, the drop
# comes from the junk itself, not from the missing good examples.

# %%
fig, ax = plt.subplots(figsize=(8.6, 3.6))
labels = {f"{SIZE}, no junk": MAIN["skillmix"], f"{round(SIZE * (1 - SHIRKERS))}, no junk": CONTROL,
          f"{round(SIZE * (1 - SHIRKERS))} + {round(SIZE * SHIRKERS)} junk": SHIRK}
for k, (split, colour) in enumerate(zip(SPLITS, ("tab:red", "tab:blue", "tab:green", "tab:purple"))):
    vals = [acc(rows, split) for rows in labels.values()]
    ax.bar(np.arange(len(labels)) + 0.2 * k - 0.3, [100 * np.mean(v) for v in vals], 0.2,
           yerr=[100 * np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals], capsize=3, color=colour, label=split)
ax.set_xticks(range(len(labels)), list(labels))
ax.set_xlabel("SkillMix training set (examples)")
ax.set_ylabel(f"exact match (%), mean ± std over {len(SEEDS)} seeds")
ax.set_title("Shirkers: 20% junk responses vs the same set without them")
ax.set_ylim(0, 100)
ax.grid(alpha=0.3, axis="y")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
plt.show()
print(RULE, "\n")
H2 = compare_rows(SHIRK, MAIN["skillmix"], "seen-pair")
print("headline 2, seen-pair: " + H2.sentence(f"{100 * SHIRKERS:.0f}% shirkers", "none"))

# %% [markdown]
# ## 9. A look inside: answers of one model
#
# The SkillMix model of seed 0 (the grid's run at the chosen learning rate); the explorer shows each test split.

# %%
look = PREDICTIONS["skillmix", ARMS["skillmix"][0]][SEEDS[0]]

def answers(split, n=6):
    picked = [p for p in look if p["split"] == split][:n]
    display(HTML(plots.samples_html({"SkillMix, seed 0": picked}, ids=[p["id"] for p in picked])))

answers("unseen-pair")  # a static first view; the explorer below changes it
widgets.interact(answers, split=[*SPLITS, "dev"], n=widgets.IntSlider(6, 1, 20));

# %% [markdown]
# ### Against the paper
#
# The paper fine-tunes LLaMA-3-8B-Base on GPT-4-Turbo's data and judges open-ended answers with AlpacaEval 2.0;
# this notebook fine-tunes a 1.8M-parameter model on the scripted teacher's data and checks exact answers.

# %%
display(Markdown("\n".join([
    "| claim | the paper | this notebook |", "|---|---|---|",
    f"| k = 2 skill mixes make strong instruction-tuning data | 42.76% length-controlled win rate, AlpacaEval 2.0 "
    f"(LLaMA-3-8B-Base, 4K examples) | unseen pairs (stricter than the paper's test, which holds no pair out), "
    f"SkillMix vs single-skill at {SIZE}: {H1.summary()} |",
    f"| (the pairs the mixes hold; not a claim of the paper) | – | seen pairs, SkillMix vs single-skill: {found[0][1].summary()} |",
    f"| 20% shirkers | performance drops sharply | seen-pair, 20% shirkers vs none: {H2.summary()} |"])))

# %% [markdown]
# ## What we saw
#
# *(written from the full run's outputs above; a re-run prints its own numbers and verdicts, read those first)*
#
# - **Headline 1, unseen pairs: inconclusive, and near the floor.** SkillMix 3.2% against single-skill 2.1%:
#   +1.1 points [-3.6, +5.8], n = 240 x 3 v 3 seeds, MDE 6.4. The start model alone scores 1.9%. Two of the
#   three held-out pairs, {stars, uppercase} and {bracket, spell}, are at 0.0 for the start, SkillMix and
#   single-skill models. Only {behead, curtail} is above 0, and there the start model (5.8) and the
#   single-skill arm (6.2) score too, not only SkillMix (9.6). With an MDE of 6.4 points and two of its three
#   pairs at the floor, this headline misses issue 27's target (an MDE of at most 5 off the floor); so does
#   headline 2 below.
# - **The ceiling beside it is far from 0.** The same SkillMix models solve the seen chains that contain each
#   held-out skill at 43.7% (`curtail`) to 80.8% (`uppercase`), five of the six skills above 50% (the ceiling
#   table). Alone, though, SkillMix models solve `stars` and `behead` only about a third of the time, so one
#   pair meets the bar of skills performed alone and in seen chains: {bracket, spell} (alone 80.0 and 73.3%,
#   in seen chains 58.3 and 69.2%), and it is at 0.0 for every arm. So these models do chain skills, but only
#   the pairs they were shown: this tiny model learns the mixes pair by pair and does not compose a pair it
#   never saw. The paper's benchmarks (AlpacaEval 2.0, MT-Bench,
#   WildBench) hold no skill pair out of its training mixes, so this test asks more of skill mixing than the
#   paper claims.
# - **What the mixes do teach: the seen pairs.** SkillMix 64.2 ± 6.5% against single-skill 2.9 ± 0.7%: +61.2
#   points [+50.8, +71.7], "above" after the Holm correction. Single skills do not add up to chains here. The
#   per-chain table ranges from 17% (`bracket+behead`) to 93%.
# - **What they cost: each skill alone.** In the teacher's wording, SkillMix models solve 55.9 ± 7.1% of
#   single-skill prompts against 86.7 ± 2.2% for single-skill models: -30.7 points [-43.3, -18.2], "below"
#   after Holm. Both start from 95.6%, so two-skill data alone made the models forget part of what they knew.
#   The worst hit are `stars` (35.6%) and `behead` (33.3%). The paper's base models are far larger and its data
#   far more varied; this cost is the tiny model's, and exercise 4 tries the obvious fix.
# - **Neither arm keeps the world's wording.** On the same words in the world-style wording, both arms fall from
#   the start model's 84.1% to 16.7% (SkillMix) and 17.8% (single-skill): inconclusive against each other. Both
#   training sets use only the teacher's wording, so what both arms learnt is tied to it.
# - **Headline 2, shirkers: inconclusive.** 20% junk against none on the seen pairs: 57.5 vs 64.2, -6.7 points
#   [-22.5, +9.2], MDE 21.5. The direction is the paper's, but this design detects only drops of about 21
#   points or more. The control's mean equals the full set's (64.2 vs 64.2: +0.0 points [-12.0, +12.0], MDE
#   16.3, inconclusive), so a loss of up to 12 points from the 200 missing examples is not ruled out. Between 30
#   and 51 of each set's 200 junk replies were bare right answers (the teacher's mistake on the junk prompt),
#   so the junk is milder than its name.
# - **The recipe held up.** Both arms chose the middle learning rate of the grid on `dev` (0.002), so the
#   grid's edges did not bind. Each seed varied its start model, its data draw and its batch order.
# - **What would decide headline 1:** a larger model, or more skills and pairs, so that "how to chain" can
#   be learnt apart from "which pair". The design stays: three held-out pairs covering every skill, the ceiling
#   printed beside them, both arms tuned on dev.

# %% [markdown]
# ## Exercises
#
# **1. Hold out another matching.** Hold out {bracket, uppercase}, {behead, stars} and {curtail, spell} instead,
# and train seed 0's start model on the new SkillMix data. Are some unseen pairs easier to compose than others,
# and how far is each from the seen chains of its skills?
# <details><summary>Hint</summary>`skillmix.pools` and `skillmix.test_records` take `held_out=`; pass the same
# tuple to both, and start from `STARTS[0]`.</details>
# <details><summary>Solution</summary>
#
# ```python
# other = (frozenset({"bracket", "uppercase"}), frozenset({"behead", "stars"}), frozenset({"curtail", "spell"}))
# pools = skillmix.pools(teacher, SIZE, held_out=other, seed=0, extracted=(EXTRACTED, QUERY_TYPES))
# test = skillmix.test_records({skillmix.pair_of(r) for r in pools["skillmix"]}, held_out=other, per_order=20)
# config = replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE, lr=LR["skillmix"])
# run = run_method("sft", (0,), STARTS[0], config, train_records=pools["skillmix"], eval_records=test,
#                  max_new_tokens=MAX_NEW_TOKENS, check=skillmix.correct, device=DEVICE)
# seen = sorted({r["skill"] for r in test if r["split"] == "seen-pair"})  # this matching's seen chains
# for pair in other:
#     print(sorted(pair), pair_score(run.rows, pair), [round(ceiling(run.rows, m, seen), 1) for m in sorted(pair)])
# ```
# </details>
#
# **2. Brevity instead of junk.** The paper's second shirker variant asks for a one-paragraph response
# (`kind="brevity"`): here, the bare answer without its "Answer:" line. Train with 20% brevity shirkers. Is it as
# harmful as junk, and why would it differ?
# <details><summary>Hint</summary>A brevity response is the bare answer, without its answer line: right unless
# the teacher errs (at `ERROR_RATE`, about as often as the original responses were wrong), and
# `skillmix.correct` reads a bare answer too.</details>
# <details><summary>Solution</summary>
#
# ```python
# brief = {s: skillmix.shirk(POOLS[s]["skillmix"], teacher, 0.2, "brevity", seed=s) for s in SEEDS}
# rows = train("skillmix", "k=2,n=1000,brevity=0.2", lambda s: brief[s], LR["skillmix"], SEEDS)
# print(compare_rows(rows, MAIN["skillmix"], "seen-pair").sentence("20% brevity", "none"))
# ```
# Compare with headline 2: the brevity set teaches the right answers, so expect a smaller drop (measure it).
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
# **4. Mix both kinds of data.** Train on each seed's first 500 SkillMix examples plus its first 500 single-skill
# ones (same recipe). Does the single-skill test recover without losing the seen pairs?
# <details><summary>Hint</summary>The two pools share a format, so concatenating the lists is enough; compare
# with the two arms above using `compare_rows` on each split.</details>
# <details><summary>Solution</summary>
#
# ```python
# mixed = train("skillmix", "k=2 + k=1, 500 each", lambda s: POOLS[s]["skillmix"][:500] + POOLS[s]["single"][:500],
#               LR["skillmix"], SEEDS)
# for split in SPLITS:
#     print(split, compare_rows(mixed, MAIN["skillmix"], split).sentence("500 + 500 mixed", "1K SkillMix"))
# ```
# Measure it rather than guess: the mixed set sees each kind of example half as often as a pure set.
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
# `skillmix.needless` does the same check and returns the needless skills' names; `skillmix.verdict` uses it to
# drop examples that do not exercise their pair.
# </details>

# %%
trained = {(r["method"], r["variant"], r["seed"]): r["train_seconds"] for r in ROWS if "(dev grid)" in r["variant"] or
           r["variant"] not in (ARMS["skillmix"][0], ARMS["single-skill"][0]) or r["seed"] != SEEDS[0]}
print(f"{len(trained)} fine-tuning runs, all trained in this run: {sum(trained.values()) / 60:.1f} minutes of training "
      f"(evaluation not included), on {DEVICE}")
print(f"this run: {(time.time() - T0) / 60:.1f} minutes on {DEVICE}, {os.cpu_count()} CPU cores "
      f"({'light' if LIGHT else 'full'} profile)")
