# %% [markdown]
# # 09 · AugCon: SFT data from your own documents, at every granularity
#
# **Paper:** Shanghaoran Quan, *Automatically Generating Numerous Context-Driven SFT Data for LLMs across
# Diverse Granularity*, arXiv [2405.16579](https://arxiv.org/abs/2405.16579); official code
# [quanshr/AugCon](https://github.com/quanshr/AugCon) (`step1_cst.py`, `step1_gen_q.py`, `step2_scorer.py`,
# `step3_get_a.py`). This notebook follows that code: its English split prompt word for word, its stopping
# rules, its scorer (an LM with a linear head on the last token) and loss, its ROUGE-L filter (0.7, one query
# per 35 characters), and its answer step (the three principles, few-shot demos bootstrapped with a self-judge).
# The differences are listed where they occur.
#
# AugCon is a **data-side** method: it writes training data, and plain SFT (notebook 01's trainer) learns it.
# The "strong LLM" it calls is a *teacher* (`sftkit.teachers`); here the tiny world's scripted teacher plays
# it, and section 2 shows how to point the same code at a real model.
#
# **What you will learn**
# - how the Context-Split-Tree turns one document into questions from the whole document down to single
#   facts, and what each stopping rule does;
# - how a contrastive scorer learns "good question" from nothing but the difference between a careful prompt
#   and a sloppy one, and what its scores do and do not catch (measured against gold labels);
# - what the ROUGE-L filter drops and why, on short, templated questions;
# - whether fine-tuning on AugCon's data beats a one-question-per-document baseline of the same size on
#   held-out closed-book questions at three granularities (fact, paragraph, document), over 3 seeds, and
#   whether the scorer matters here (AugCon with its pool ranked at random).
#
# **Runtime** (2-core laptop CPU): the full profile below (3 seeds, three data sets, 200 steps of 32 each)
# takes about 23 minutes; `make test` runs a light profile (1 seed, two data sets, 60 steps)
# in about 3.5 minutes. The last cell prints this run's time. GPU: not measured here (no GPU was
# available when this was written).

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the student: the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)  # seeds of the SFT runs (the data are made once, with seed 0)
STEPS = 60 if LIGHT else 200  # SFT steps per run, the same for every data set (notebook 01: 300)
BATCH_SIZE = 32
TEACHER = "scripted"       # "scripted" (the tiny world's), "hf:MODEL" (local transformers) or "openai:MODEL" (a server)
ERROR_RATE, LAZINESS_RATE = 0.2, 0.05  # the scripted teacher's share of mistakes and of non-answers
SCORER_STEPS = 60 if LIGHT else 200  # the contrastive scorer's optimizer steps (batches of 8 pairs)
ROUGE_THRESHOLD = 0.7      # official config.rouge_thres
MAX_NEW_TOKENS = 128       # the longest closed-book answer (a whole document's four facts is ~115 characters)
RANDOM_ARM = not LIGHT     # also train on AugCon's pool ranked at random instead of by the scorer (no scorer)

# %%
# %matplotlib inline
import collections
import random
import time
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Markdown, display

from sftkit import plots, results
from sftkit.evaluate import evaluate
from sftkit.experiment import BASELINE, run_method
from sftkit.methods import augcon
from sftkit.model import load_model, pick_device, set_seed
from sftkit.results import compare, fmt_mean_std
from sftkit.teachers import teacher_from

T0 = time.time()
set_seed(0)
DEVICE = pick_device(DEVICE)
DOCS = augcon.default_documents()
TEST = augcon.closed_book_questions(DOCS)
GRAINS = tuple(augcon.GRANULARITIES)
print(f"device {DEVICE}; {len(DOCS)} documents; closed-book test: " +
      ", ".join(f"{g} {sum(r['split'] == g for r in TEST)}" for g in GRAINS))

# %% [markdown]
# ## 1. Why AugCon exists
#
# To make an assistant that knows *your* documents (a company wiki, a magazine archive, a game's lore), you
# need question-answer pairs about them, and writing those by hand is slow. Asking an LLM for "some questions
# about this text" gives questions that all look alike: mostly one granularity (whatever the model finds
# natural), many near-duplicates, and answers that drift from the text.
#
# AugCon makes the data in three steps:
#
# 1. **Context-Split-Tree (CST).** Ask the LLM for one question about the *whole* context and a split of the
#    context into two coherent halves; record the question; recurse on each half. The root asks about the
#    whole document, its children about halves, the leaves about single sentences: every granularity at once.
# 2. **A contrastive scorer and a filter.** Train a scorer (officially the generator LLM itself with a LoRA
#    adapter and a scalar head; here the tiny base model) to prefer questions made with the full, careful
#    prompt over questions made with weakened prompts; rank each document's questions by it; drop
#    near-duplicates (ROUGE-L) and keep about one question per 35 characters of text.
# 3. **Answers.** Answer each question *from its context* under three principles (accurate from the context,
#    human-like, ethical), with few-shot demos the model bootstrapped by judging its own answers. Then fine-tune
#    on question -> answer **without the context**, so the model must know the answer (closed-book).

# %% [markdown]
# ## 2. The documents and the teacher
#
# The contexts are 40 short documents about the towns of Veloria (`sftkit.world.make_documents`), three
# paragraphs each. Each paragraph states one attribute of its town between filler sentences, and one paragraph
# also states a fact of a neighbouring town. Every fact sentence is recorded, so for any span of a document we
# know exactly which facts a question about it should ask for.

# %%
doc = DOCS[0]
print(doc["text"], "\n")
for f in doc["facts"]:
    print(f"paragraph {f['paragraph']}: {f['town']} {f['attribute']} = {f['value']}")

# %% [markdown]
# The **scripted teacher** plays the strong LLM from those recorded facts; it is no model at all, and it is
# honest about it. Asked the split prompt, it asks for every fact the context states ("What are the colour of
# Tobeka, and the ruler of Gamo?") and splits at the paragraph or sentence nearest the middle. With probability
# `ERROR_RATE` it makes a realistic mistake: half the time a reply the parser rejects, otherwise a *flawed
# question* (only part of the context, a fact the context does not state, or nothing in particular); with
# probability `LAZINESS_RATE` it gives a non-answer. Under the weakened prompts it drifts into flawed questions
# more often (`augcon.FLAW_RATE`): that is the behaviour the scorer is built to detect, written down as a rule
# here, where a real LLM would have its own, unknown failure modes.
#
# **Pointing AugCon at a real model** (on a GPU machine). Set `TEACHER` in the parameters cell, or build one:
#
# ```python
# from sftkit.teachers import OpenAITeacher, TransformersTeacher
# # a server: `vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000` (or llama.cpp's llama-server), then
# teacher = OpenAITeacher("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1",
#                         max_tokens=1024, temperature=0.85)   # official: 0.85 for questions
# # or a local chat model through transformers:
# teacher = TransformersTeacher("Qwen/Qwen2.5-1.5B-Instruct", max_new_tokens=1024)
# ```
#
# or from a shell: `sftkit generate augcon --teacher openai:Qwen/Qwen2.5-7B-Instruct --documents my_docs.jsonl
# --output augcon.jsonl`, then `sftkit train sft --data augcon.jsonl --model Qwen/Qwen2.5-0.5B --output ...`.
# Every reply is cached on disk, so a re-run costs nothing and a killed run resumes. With your own documents the
# gold columns below (question quality, answer right) do not exist: they come from the tiny world's facts.

# %%
teacher = teacher_from(TEACHER, ERROR_RATE, LAZINESS_RATE, seed=0, tasks=augcon.teacher_tasks())
print(teacher)

# %% [markdown]
# ## 3. Step 1: the Context-Split-Tree
#
# The prompt is the official English one: an instruction, the reply format, three worked examples, then the
# context; the reply continues after its final "Question: ". Its tail, for one paragraph:

# %%
prompt = augcon.cst_prompt(doc["paragraphs"][0])
print("...", prompt[-420:])
print("\nscripted reply:\n" + teacher.ask(prompt))

# %% [markdown]
# `context_split_tree` records a node per successful split and recurses. A branch ends **without** a node when
# the context has at most 20 characters, when 4 replies in a row do not parse, or when the question has under
# 5 characters; it ends **after** its node when a half is not shorter than its parent (a single sentence cannot
# be split). `repeat_until_enough` re-runs the tree on the whole document until there are 1.15 x the wanted
# questions (one per 35 characters), as the official `gen_q` does.

# %%
print(plots.source_of(augcon.context_split_tree))

# %%
QUALITY_COLOURS = {"complete": "#d8f3dc", "partial": "#fff3bf", "unanswerable": "#ffd8a8", "generic": "#ffc9c9"}
tree = augcon.context_split_tree(doc["text"], augcon.teacher_ask(teacher))
marks = {i: QUALITY_COLOURS[augcon.question_quality(n.question, n.context)] for i, n in enumerate(tree)}
ax = plots.tree(tree, marks=marks, title=f"{doc['id']}: one Context-Split-Tree (box colour = the question's gold quality)")
ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, fc=c, ec="0.5") for c in QUALITY_COLOURS.values()],
          labels=list(QUALITY_COLOURS), loc="upper left", fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# The root asks for all four facts of the document, the second level for a paragraph or two, the leaves for
# one sentence each. Filler sentences get their own plain questions ("When does the market open?"): a real
# document is mostly such text, and its questions compete with the fact questions for the budget.
#
# Now every document, with the gold label of each question: *complete* (asks for every fact its context
# states), *partial*, *unanswerable* (asks for a fact the context does not state) or *generic*.

# %%
t = time.time()
POOLS = augcon.question_pools(DOCS, teacher)
POOL = [(d, n) for d, nodes in POOLS.items() for n in nodes]
QUALITY = [augcon.question_quality(n.question, n.context) for _, n in POOL]
print(f"{len(POOL)} questions from {len(DOCS)} documents in {time.time() - t:.1f} s "
      f"(wanted 1.15 x {sum(augcon.query_budget(d['text']) for d in DOCS)})")
table = collections.Counter((n.depth, q) for (_, n), q in zip(POOL, QUALITY))
depths = sorted({n.depth for _, n in POOL})
lines = ["| depth | " + " | ".join(QUALITY_COLOURS) + " | all |", "|---|" + "---|" * (len(QUALITY_COLOURS) + 1)]
for d in depths:
    counts = [table[d, q] for q in QUALITY_COLOURS]
    lines.append(f"| {d} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 4. Step 2: a scorer that learns "good question" by contrast
#
# Nobody labels questions. AugCon makes its own labels: for a question from the pool (made with the full
# prompt, a **positive**), it asks again about the same context with a **weakened** prompt (the terse
# instruction "Given a context, generate a question and split context into two sub-contexts.", or only one
# worked example, or both) and takes that question as a **negative**. The official `mk_scorer_pairs` uses up to
# 500 pool questions per weakened prompt; we drop pairs whose two questions are identical (their two loss
# terms cancel in the official code).
#
# The scorer is a causal LM with a linear head on the last token of "Context: ... Question: ..."
# (`sftkit.reward.load_reward_model`, the tiny base model here, reading the pair through its chat template) and
# the official loss over a batch of P
# positive and N negative scores $s = w^\top h_{\text{last}}$:
#
# $$\mathcal{L} = -\frac{1}{P}\sum_{i} \sigma(s^{+}_i) + \frac{1}{N}\sum_{j} \sigma(s^{-}_j)$$
#
# (The paper writes $-\log\sigma(s^{+}-s^{-})$, a Bradley-Terry loss, and filters on ROUGE-L *precision*; the
# official code trains the loss above and filters on ROUGE-L F, and so do we: exercise 3 compares the losses.)
# We hold out the pairs of 20% of the contexts (duplicates removed first: the filler sentences recur across
# documents) to measure the scorer on contexts it never trained on; the official code trains on every pair.

# %%
print(plots.source_of(augcon.scorer_loss))
print(plots.source_of(augcon.ScorerTrainer.loss))

# %%
PAIRS = augcon.scorer_pairs([n for _, n in POOL], teacher, seed=0)
TRAIN_PAIRS, HELD = augcon.split_pairs(PAIRS, held_out=0.2, seed=0)
q = lambda pair, side: augcon.question_quality(pair[side][0]["content"].removeprefix("Question: "), pair["context"])
print(f"{len(PAIRS)} pairs ({dict(collections.Counter(p['weak'] for p in PAIRS))}); without copies "
      f"{len(TRAIN_PAIRS)} to train, {len(HELD)} held out (other contexts)")
for side in ("chosen", "rejected"):
    share = collections.Counter(q(p, side) for p in PAIRS)
    print(f"  {'positives' if side == 'chosen' else 'negatives'}: " + ", ".join(f"{k} {v / len(PAIRS):.0%}" for k, v in share.most_common()))

# %%
t = time.time()
scorer_run = augcon.train_scorer(TRAIN_PAIRS, MODEL_NAME, replace(augcon.SCORER_BUDGET, steps=SCORER_STEPS), device=DEVICE)
SCORER, TOK = scorer_run.model, load_model(MODEL_NAME, tokenizer_only=True)
SCORER_SECONDS = time.time() - t
held_pos = augcon.score_questions(SCORER, TOK, [p["context"] for p in HELD], [p["chosen"][0]["content"][10:] for p in HELD])
held_neg = augcon.score_questions(SCORER, TOK, [p["context"] for p in HELD], [p["rejected"][0]["content"][10:] for p in HELD])
HELD_ACC = float(np.mean([a > b for a, b in zip(held_pos, held_neg)]))
print(f"scorer: {SCORER_STEPS} steps in {SCORER_SECONDS:.0f} s ({1000 * scorer_run.step_time_s:.0f} ms/step); "
      f"held-out pairs ranked positive first: {HELD_ACC:.1%}")

# %%
t = time.time()
POOL_SCORES = augcon.score_questions(SCORER, TOK, [n.context for _, n in POOL], [n.question for _, n in POOL])
print(f"scored {len(POOL)} pool questions in {time.time() - t:.0f} s")
hist = [h for h in scorer_run.history if "loss" in h and "step" in h]
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
axes[0].plot([h["step"] for h in hist], [h["loss"] for h in hist], label="loss (min -1)")
axes[0].plot([h["step"] for h in hist], [h["reward_accuracy"] for h in hist], label="positive scored higher (share)")
axes[0].set(xlabel="optimizer step", ylabel="value", title="scorer training (logged batches)")
axes[0].axhline(0, color="0.7", lw=0.8); axes[0].legend(fontsize=8)
bins = np.histogram_bin_edges(held_pos + held_neg, 30)
axes[1].hist(held_pos, bins, alpha=0.6, label="positives (full prompt)")
axes[1].hist(held_neg, bins, alpha=0.6, label="negatives (weakened prompts)")
axes[1].set(xlabel="score (head logit)", ylabel="held-out questions", title="held-out pairs (unseen contexts)"); axes[1].legend(fontsize=8)
groups = [[s for s, qq in zip(POOL_SCORES, QUALITY) if qq == k] for k in QUALITY_COLOURS]
axes[2].boxplot(groups, tick_labels=[f"{k}\n(n={len(g)})" for k, g in zip(QUALITY_COLOURS, groups)])
axes[2].set(ylabel="score (head logit)", title="pool questions by gold quality (in-sample)")
plt.tight_layout(); plt.show()

# %% [markdown]
# The scorer never saw a gold label: it learned from which prompt a question came, and those labels are noisy
# (the shares printed above: some positives are flawed, some negatives are fine). The right-hand panel scores
# the whole pool, most of which it trained on, so read it as what the scorer learned, not as a test: where a
# gold class overlaps the *complete* questions, the ranking cannot push it out.
#
# ## 5. Ranking and the ROUGE-L filter
#
# Per document, the pool is ranked by score; a question whose ROUGE-L F with an already kept question exceeds
# 0.7 is a near-duplicate and dropped; ranking stops once one question per 35 characters is kept
# (`augcon.filter_report` says which rule dropped what).

# %%
start, SCORES = 0, {}
for d, nodes in POOLS.items():
    SCORES[d], start = POOL_SCORES[start:start + len(nodes)], start + len(nodes)
TEXT = {d["id"]: d["text"] for d in DOCS}
REPORTS = {d: augcon.filter_report([n.question for n in POOLS[d]], SCORES[d], ROUGE_THRESHOLD, augcon.query_budget(TEXT[d]))
           for d in POOLS}
verdicts = collections.Counter(r["verdict"] for rep in REPORTS.values() for r in rep)
print("filter verdicts over all documents:", dict(verdicts))
rng = random.Random(0)
RANDOM_SCORES = {d: [rng.random() for _ in POOLS[d]] for d in POOLS}
KEPT = augcon.keep_questions(POOLS, SCORES, DOCS, ROUGE_THRESHOLD)
KEPT_RANDOM = augcon.keep_questions(POOLS, RANDOM_SCORES, DOCS, ROUGE_THRESHOLD)

def mix(kept):
    c = collections.Counter(augcon.question_quality(n.question, n.context) for nodes in kept.values() for n in nodes)
    total = sum(c.values())
    return total, {k: c[k] for k in QUALITY_COLOURS}, 1 - c["complete"] / total

lines = ["| questions | kept | " + " | ".join(QUALITY_COLOURS) + " | flawed share |", "|---|---|" + "---|" * (len(QUALITY_COLOURS) + 1)]
pool_mix = collections.Counter(QUALITY)
lines.append(f"| the whole pool | {len(POOL)} | " + " | ".join(str(pool_mix[k]) for k in QUALITY_COLOURS) +
             f" | {1 - pool_mix['complete'] / len(POOL):.1%} |")
for label, kept in (("kept, ranked by the scorer", KEPT), ("kept, ranked at random", KEPT_RANDOM)):
    total, counts, flawed = mix(kept)
    lines.append(f"| {label} | {total} | " + " | ".join(map(str, counts.values())) + f" | {flawed:.1%} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# What the near-duplicate rule drops, with the kept question it resembles. On this world's short, templated
# questions, "What is the animal of Tobeka?" and "What is the ruler of Tobeka?" share five of six words
# (ROUGE-L F 0.83), so after one single-fact question per town is kept the others are dropped, whatever their
# score: the filter, not the budget, decides most of what survives.

# %%
drops = [(d, r) for d, rep in REPORTS.items() for r in rep if r["verdict"] == "near-duplicate"]
lines = ["| document | dropped question | score | like this kept question | ROUGE-L F |", "|---|---|---|---|---|"]
for d, r in drops[:12]:
    lines.append(f"| {d} | {POOLS[d][r['index']].question} | {r['score']:.2f} | {POOLS[d][r['like']].question} | {r['rouge']:.2f} |")
display(Markdown("\n".join(lines)))
same_template = sum(augcon.asked(POOLS[d][r["index"]].question) is not None and augcon.asked(POOLS[d][r["like"]].question) is not None
                    for d, r in drops)
print(f"{len(drops)} near-duplicates dropped; {same_template} of them are a fact question dropped for another fact question")

# %% [markdown]
# Explore any document: its first tree, each box coloured by what the filter did (green kept, grey a
# near-duplicate, white over budget), and the ranked list with the reasons.

# %%
VERDICT_COLOURS = {"kept": "#b2f2bb", "near-duplicate": "#dee2e6", "over budget": "white"}

def explore(document):
    nodes, report = POOLS[document], REPORTS[document]
    verdict = {r["index"]: r for r in report}
    first = [i for i, n in enumerate(nodes) if n.round == 0]
    ax = plots.tree([nodes[i] for i in first], marks={k: VERDICT_COLOURS[verdict[i]["verdict"]] for k, i in enumerate(first)},
                    title=f"{document}: round 0 of {1 + max(n.round for n in nodes)}, coloured by the filter")
    plt.show()
    lines = ["| rank | score | question | depth | gold quality | filter |", "|---|---|---|---|---|---|"]
    for rank, r in enumerate(report, 1):
        n = nodes[r["index"]]
        why = r["verdict"] + (f" (like \"{nodes[r['like']].question}\", F {r['rouge']:.2f})" if r["like"] is not None else "")
        lines.append(f"| {rank} | {r['score']:.2f} | {n.question} | {n.depth} | {augcon.question_quality(n.question, n.context)} | {why} |")
    display(Markdown("\n".join(lines)))

explore(DOCS[0]["id"])  # a static first view; the explorer below changes it

# %%
widgets.interact(explore, document=widgets.Dropdown(options=list(POOLS), value=DOCS[1]["id"]));

# %% [markdown]
# ## 6. Step 3: answers from the context, with bootstrapped demos
#
# The answer prompt is DSPy's layout of the official `ContextQA` signature: its docstring (the three
# principles) as the instruction, a format line, few-shot demos, then the context and the question. The
# official code wraps it in `ChainOfThought` (a "Reasoning:" line before the answer); plain `Predict` here, as
# the tiny world's answers need no reasoning.
#
# The demos are bootstrapped (`dspy.BootstrapFewShot` with `max_bootstrapped_demos=3, max_labeled_demos=3`,
# as the official code configures it: at most 3 demos in all): the teacher answers a few hand-checkable seed
# examples, **judges its own answers** against the references with the official yes/no prompt, and the answers
# it accepts become demos; unused seed examples fill up to 3 with their reference answers. (DSPy's bootstrap
# answers with labeled demos in the prompt and stops after 3 successes; ours answers each seed example
# without demos.) The scripted teacher answers the same with or without demos, so here the demos only show
# the format; for a real model they are the "self-improvement".

# %%
DEMOS, BOOT_LOG = augcon.bootstrap_demos(teacher, augcon.seed_examples())
for row in BOOT_LOG:
    print(f"judge says {'yes' if row['verdict'] else 'no '} to: {row['question']} -> {row['answer']}")
print(f"\n{len(DEMOS)} demos; the answer prompt's instruction:\n\n{augcon.ANSWER_INSTRUCTION}")

# %%
ITEMS = [(d, n) for d, nodes in KEPT.items() for n in nodes]
AUGCON = augcon.sft_records(ITEMS, augcon.answer_items(teacher, ITEMS, DEMOS), "augcon")
right = collections.Counter((r["meta"]["quality"], r["meta"]["answer_right"]) for r in AUGCON)
print(f"AugCon data: {len(AUGCON)} question -> answer pairs; answers right from their context: "
      f"{sum(r['meta']['answer_right'] for r in AUGCON) / len(AUGCON):.1%}")
for k in QUALITY_COLOURS:
    n = right[k, True] + right[k, False]
    if n:
        print(f"  {k:12s} questions: {n:3d}, answers right {right[k, True] / n:.0%}")
display(Markdown("\n".join(["| question | answer | depth |", "|---|---|---|"] +
                           [f"| {r['messages'][0]['content']} | {r['messages'][1]['content']} | {r['meta']['depth']} |" for r in AUGCON[:8]])))

# %% [markdown]
# ## 7. The baseline, and the data side by side
#
# **One question per document** (the baseline): each document's root question, the one CST asks
# about the whole document, answered once by the same teacher and demos, repeated round-robin until the data
# set has AugCon's size: what one call per document gives, at the same number of training examples. With
# `RANDOM_ARM`, a third data set ranks AugCon's pool at random instead of by the scorer, with the same ROUGE-L
# filter, budget and answer step: AugCon without its scorer. (The paper's "w/o filter" ablation samples
# questions at random with neither scorer nor filter, so it is not the same control.)

# %%
base_items = augcon.one_question_per_document(POOLS, len(AUGCON))
DATA = {"AugCon": AUGCON,
        "one question per document": augcon.sft_records(base_items, augcon.answer_items(teacher, base_items, DEMOS), "one-per-doc")}
if RANDOM_ARM:
    random_items = [(d, n) for d, nodes in KEPT_RANDOM.items() for n in nodes]
    DATA["AugCon without the scorer"] = augcon.sft_records(random_items, augcon.answer_items(teacher, random_items, DEMOS), "augcon-random")

def facts_asked(record):
    pairs = augcon.asked(record["messages"][0]["content"])
    return 0 if pairs is None else len(pairs)

fig, ax = plt.subplots(figsize=(8, 3.4))
width = 0.8 / len(DATA)
for i, (label, data) in enumerate(DATA.items()):
    counts = collections.Counter(facts_asked(r) for r in data)
    ax.bar(np.arange(5) + i * width - 0.4 + width / 2, [counts[k] for k in range(5)], width, label=f"{label} ({len(data)})")
ax.set_xticks(range(5), ["0 (filler,\ngeneric)", "1", "2", "3", "4 (whole\ndocument)"])
ax.set(xlabel="facts a training question asks for (stated in its context or not)", ylabel="training examples",
       title="what each data set teaches")
ax.legend(fontsize=8); plt.show()
SEEN = {label: {r["messages"][0]["content"] for r in data} for label, data in DATA.items()}
lines = ["| data set | examples | distinct questions | answers right | " + " | ".join(f"{g} test questions seen" for g in GRAINS) + " |",
         "|---|---|---|---|" + "---|" * len(GRAINS)]
for label, data in DATA.items():
    seen = [f"{sum(r['messages'][0]['content'] in SEEN[label] for r in TEST if r['split'] == g)} / {sum(r['split'] == g for r in TEST)}" for g in GRAINS]
    lines.append(f"| {label} | {len(data)} | {len(SEEN[label])} | {np.mean([r['meta']['answer_right'] for r in data]):.1%} | " + " | ".join(seen) + " |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# The closed-book test asks about the same 40 documents, without them, with gold answers from the recorded
# facts (not the teacher's): each town's three facts one at a time (**fact**); the paragraph that also states a
# neighbour's fact, its two facts asked neighbour first (**paragraph**); and the town's own three facts
# (**document**). The teacher asks about facts in the order they appear, and any context holding all three of a
# town's own facts also holds the neighbour's, so no data set contains a paragraph or document test question:
# those are held out by construction (a test checks it). Single-fact questions are another matter: the teacher
# writes them too, so the table above counts how many each data set saw verbatim, and the headline for **fact**
# uses only the fact questions that *no* data set contains.
#
# ## 8. Fine-tuning and the closed-book test
#
# Every data set gets the same training, notebook 01's plain-SFT recipe (`sftkit.experiment.BASELINE`: lr 1e-3,
# 15 warm-up steps, cosine decay) from the base model for `STEPS` steps of `BATCH_SIZE` examples (200 here,
# about 21 passes over the data; notebook 01 uses 300 on its larger train split), once per seed in `SEEDS`; greedy answers are checked by exact match. The same number of examples is not the same compute:
# the document answers are longer, so their steps take longer (printed below). The data are made once (teacher
# seed 0, scorer seed 0), so the spread over seeds is the fine-tuning's alone.

# %%
CONFIG = replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE)
base_model, base_tok = load_model(MODEL_NAME, device=DEVICE)
BASE = evaluate(base_model, base_tok, TEST, MAX_NEW_TOKENS)
del base_model
RUNS = {}

def train_on(label):
    t = time.time()
    RUNS[label] = run_method("sft", SEEDS, MODEL_NAME, CONFIG, train_records=DATA[label], eval_records=TEST,
                             max_new_tokens=MAX_NEW_TOKENS, device=DEVICE)
    step_ms = 1000 * np.mean([RUNS[label].training[s].step_time_s for s in SEEDS])
    print(f"{label}: {len(SEEDS)} seeds in {time.time() - t:.0f} s ({step_ms:.0f} ms/step)")

train_on("AugCon")

# %%
train_on("one question per document")

# %%
if RANDOM_ARM:
    train_on("AugCon without the scorer")

# %%
UNSEEN_BY_ALL = {r["messages"][0]["content"] for r in TEST} - set().union(*SEEN.values())
HELD_OUT = {g: [r for r in TEST if r["split"] == g and r["messages"][0]["content"] in UNSEEN_BY_ALL] for g in GRAINS}

def acc(label, grain, which="held out"):
    # accuracy per seed on one granularity: "held out" (questions no data set contains), "seen" / "unseen" (by this one), "all"
    out = []
    for s in SEEDS:
        rows = [p for p in RUNS[label].predictions[s] if p["split"] == grain and {
            "held out": p["prompt"] in UNSEEN_BY_ALL, "seen": p["prompt"] in SEEN[label],
            "unseen": p["prompt"] not in SEEN[label], "all": True}[which]]
        out.append(np.mean([p["correct"] for p in rows]) if rows else np.nan)
    return out

def cell(values):
    return "–" if np.isnan(values).all() else fmt_mean_std(values)

lines = ["| trained on | " + " | ".join(f"{g} (held out, n={len(HELD_OUT[g])}) EM %" for g in GRAINS) +
         " | fact, seen by this data set | fact, all 120 |", "|---|" + "---|" * (len(GRAINS) + 2)]
lines.append("| nothing (the base model) | " + " | ".join(
    f"{100 * np.mean([p['correct'] for p in BASE if p['split'] == g and p['prompt'] in UNSEEN_BY_ALL]):.1f}" for g in GRAINS) + " | – | "
    f"{100 * np.mean([p['correct'] for p in BASE if p['split'] == 'fact']):.1f} |")
for label in RUNS:
    lines.append(f"| {label} | " + " | ".join(cell(acc(label, g)) for g in GRAINS) +
                 f" | {cell(acc(label, 'fact', 'seen'))} | {cell(acc(label, 'fact', 'all'))} |")
display(Markdown("\n".join(lines)))
ax = plots.accuracy_bars({label: {g: acc(label, g) for g in GRAINS} for label in RUNS},
                         title="closed-book exact match on held-out questions (mean ± std over seeds)", xlabel="granularity")
ax.set_ylim(0, 125)  # room for the legend above the bars
plt.show()

# %%
print(results.RULE, "\n")
main, baseline, no_scorer = "AugCon", "one question per document", "AugCon without the scorer"
for g in GRAINS:
    print(f"{g:9s} (held out): " + compare(acc(main, g), acc(baseline, g)).sentence(main, baseline))
if RANDOM_ARM:
    print()
    for g in GRAINS:
        print(f"{g:9s} (held out): " + compare(acc(main, g), acc(no_scorer, g)).sentence(main, no_scorer))
print(f"\nfact questions: {main} on the ones it trained on {cell(acc(main, 'fact', 'seen'))}, "
      f"on the held-out ones {cell(acc(main, 'fact'))}; {baseline} on the held-out ones {cell(acc(baseline, 'fact'))}")

# %% [markdown]
# ### Against the paper
#
# The paper fine-tunes Llama3-70B-Instruct on data generated from the contexts of four benchmarks and asks
# their test questions; the data never include the contexts. Its Table 1 (exact match) and Table 2 (ablation,
# TriviaQA), as reported, beside what this notebook measured on its own, very different, world:

# %%
paper = [("SQuAD1.1 EM", "0.336 ± 0.004", "0.314 ± 0.003 (Context-Instruct, the paper's strongest baseline on these three)"),
         ("TriviaQA EM", "0.849 ± 0.003", "0.825 ± 0.003 (Context-Instruct)"),
         ("DROP EM", "0.350 ± 0.003", "0.334 ± 0.003 (Context-Instruct)"),
         ("TriviaQA EM, ablation", "0.849 (full)", "0.828 (w/o filter: random sampling, no scorer)")]
lines = ["| measured on | AugCon | against |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in paper]
for g in GRAINS:
    lines.append(f"| this notebook, {g} (held out, tiny model, closed-book EM %) | {cell(acc(main, g))} | "
                 f"{cell(acc(baseline, g))} (one question per document)" +
                 (f"; {cell(acc(no_scorer, g))} (without the scorer)" if RANDOM_ARM else "") + " |")
display(Markdown("\n".join(lines)))


# %%
def samples(label, grain, seed):
    rows = [p for p in RUNS[label].predictions[seed] if p["split"] == grain][:8]
    display(HTML(plots.samples_html({label: rows}, ids=[r["id"] for r in rows])))

samples("AugCon", "document", SEEDS[0])  # a static first view; the explorer below changes it
widgets.interact(samples, label=list(RUNS), grain=list(GRAINS), seed=list(SEEDS));

# %%
saved = []
for label, run in RUNS.items():
    method = {"AugCon": "augcon", "one question per document": "one-per-doc", "AugCon without the scorer": "augcon"}[label]
    variant = {"AugCon": f"scorer,rouge={ROUGE_THRESHOLD}", "one question per document": "root questions",
               "AugCon without the scorer": f"random ranking,rouge={ROUGE_THRESHOLD}"}[label]
    for seed in SEEDS:  # the held-out questions only, as the table above
        tags = next(r for r in run.rows if r["seed"] == seed)
        tags = {k: tags[k] for k in ("model", "steps", "step_time_s", "peak_mem_mb", "train_seconds", "device", "train_config")}
        held = [p for p in run.predictions[seed] if p["prompt"] in UNSEEN_BY_ALL]
        saved += results.rows_from_eval(held, notebook="09_augcon", method=method, variant=variant, seed=seed, **tags)
for metric, value in (("scorer_heldout_pair_accuracy", HELD_ACC), ("flawed_share_kept_scorer", mix(KEPT)[2]),
                      ("flawed_share_kept_random", mix(KEPT_RANDOM)[2]),
                      ("answers_right_share", float(np.mean([r["meta"]["answer_right"] for r in AUGCON])))):
    saved.append(results.metric_row(metric, value, "augcon-data", notebook="09_augcon", method="augcon",
                                    variant=f"scorer,rouge={ROUGE_THRESHOLD}", model=MODEL_NAME, seed=0, device=DEVICE))
path = results.save("09_augcon", saved)
print(f"saved {len(saved)} rows to {path.name} (accuracy on the held-out questions)")

# %% [markdown]
# ## What we saw
#
# The verdicts above are computed from this run's numbers; read them first. What they mean:
#
# - **On held-out single facts, AugCon's data beat one question per document.** AugCon's data ask many
#   single-fact questions; the baseline's few are its flawed root questions (section 7's figure). So AugCon's
#   model answers single-fact questions about facts it was never asked about singly more often. Where those values come
#   from cannot be separated here: the base model read every fact in pretraining, and the multi-fact answers in
#   the data state many of them too.
# - **Neither data set taught new combinations.** Every model scores 0 on the paragraph questions (two facts,
#   neighbour first) and the document questions (a town's own three facts): strings in the teacher's grammar
#   that no data set contains. The sample view in section 8 shows the AugCon model answering document
#   questions with a single fact sentence (the explorer shows the other models' answers). At 1.8M parameters and about 300
#   examples, composing an unseen set of facts into one answer is beyond what either data set teaches. The
#   paper's claim that covering every granularity helps is therefore not tested beyond single facts here.
# - **The scorer did not help here, and the control for the plainer cause was not run.** On held-out pairs it
#   ranks the full prompt's question first about two times in three, and it scores generic questions lowest,
#   but it scores questions about facts the context does not state as high as good ones (section 4's right
#   panel), so the set it kept has no smaller flawed share than the set kept at random and more unanswerable
#   questions (section 5), whose answers ("The passage does not say ...") are wrong closed-book. The model
#   trained on AugCon's pool ranked at random is *above* the scored one on held-out facts. Both data sets are a single
#   draw (the spread is over fine-tuning seeds only), and they differ in which questions survive the filter
#   (section 7: more whole-document questions without the scorer, whose answers state more facts), so this gap
#   may be the draw, not the scorer. Exercise 4 is the control that would tell: several random rankings and
#   several scorer seeds. The paper's own ablation (TriviaQA 0.849 with, 0.828 without its filter) removes the
#   filter too, so it is not the same comparison.
# - **The ROUGE-L filter decides most of what is kept.** On these short, templated questions two single-fact
#   questions about one town share five of six words, so almost every near-duplicate it dropped was a fact
#   question dropped for another fact question (section 5 prints the count), and fewer questions were kept than
#   the one-per-35-characters budget allows. Filler sentences, whose questions are all different, make up most
#   of what survives. The official threshold was set for the paper's corpora; on this world it costs coverage of
#   facts (exercise 1).
# - **Against the paper:** the paper fine-tunes a 70B model on data from real benchmarks' contexts and reports
#   a few points of exact match over the strongest other generator; this notebook's tiny model, scripted
#   teacher and synthetic documents measure the mechanism (what each step makes, keeps and drops, and what a
#   small model learns from it), not that claim.
#
# ## Exercises
#
# Hints and worked solutions are folded: click to open. The solutions are code to paste into a new cell
# after the cells they name; none of them runs by default.
#
# **1.** Raise `ROUGE_THRESHOLD` to 0.9 and rerun from section 5. How many questions are kept now, which
# granularities gain, and does the AugCon model's fact and paragraph accuracy change?
#
# <details><summary>Hint</summary>
#
# At 0.9, "What is the animal of Tobeka?" and "What is the ruler of Tobeka?" (F 0.83) no longer collide, so
# the budget (one question per 35 characters) starts to bind. Count kept questions by `facts_asked` before
# training anything.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# kept09 = augcon.keep_questions(POOLS, SCORES, DOCS, threshold=0.9)
# items09 = [(d, n) for d, nodes in kept09.items() for n in nodes]
# data09 = augcon.sft_records(items09, augcon.answer_items(teacher, items09, DEMOS), "augcon-0.9")
# print(len(data09), collections.Counter(facts_asked(r) for r in data09))
# run09 = run_method("sft", SEEDS, MODEL_NAME, CONFIG, train_records=data09, eval_records=TEST,
#                    max_new_tokens=MAX_NEW_TOKENS, device=DEVICE)
# RUNS["AugCon, ROUGE 0.9"], SEEN["AugCon, ROUGE 0.9"] = run09, {r["messages"][0]["content"] for r in data09}
# print({g: fmt_mean_std(acc("AugCon, ROUGE 0.9", g)) for g in GRAINS})
# ```
# </details>
#
# **2.** Make the teacher perfect (`ERROR_RATE = LAZINESS_RATE = 0`) and rerun the notebook. How much of the
# gap between the AugCon model's seen fact questions and 100% was the teacher's wrong answers?
#
# <details><summary>Hint</summary>
#
# Section 6 prints the share of right answers in the data; with a perfect teacher it is 100%. Compare the
# "seen" column of the fact granularity before and after.
# </details>
#
# <details><summary>Solution</summary>
#
# Set `ERROR_RATE, LAZINESS_RATE = 0.0, 0.0` in the parameters cell and run all cells (about the full
# profile's runtime). Wrong answers in the data are learned like right ones, so the seen-question accuracy
# should rise; whatever gap remains is the small model's, not the data's.
# </details>
#
# **3.** Train the scorer with the paper's loss, $-\log\sigma(s^{+}-s^{-})$ (Bradley-Terry, as
# `sftkit.reward.bradley_terry_loss`), instead of the official code's, and compare held-out pair accuracy.
#
# <details><summary>Hint</summary>
#
# Subclass `augcon.ScorerTrainer` and override `loss`; `augcon.train_scorer` builds the scorer with
# `trainer_cls=augcon.ScorerTrainer`, so call `sftkit.train.train` yourself with your class.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from sftkit.data import tokenize_pairs
# from sftkit.reward import bradley_terry_loss, load_reward_model
# from sftkit.train import train
#
# class PaperScorerTrainer(augcon.ScorerTrainer):
#     def loss(self, model, inputs, outputs):
#         positive, negative = outputs.logits.squeeze(-1).float().chunk(2)
#         self.record(reward_accuracy=(positive > negative).float().mean())
#         return bradley_terry_loss(positive, negative).mean()
#
# model, tok = load_reward_model(MODEL_NAME, device=DEVICE)
# config = replace(augcon.SCORER_BUDGET, steps=SCORER_STEPS)
# paper_run = train(model, tok, TRAIN_PAIRS, config, trainer_cls=PaperScorerTrainer,
#                   dataset=tokenize_pairs(tok, TRAIN_PAIRS, config.max_length))
# pos = augcon.score_questions(paper_run.model, tok, [p["context"] for p in HELD], [p["chosen"][0]["content"][10:] for p in HELD])
# neg = augcon.score_questions(paper_run.model, tok, [p["context"] for p in HELD], [p["rejected"][0]["content"][10:] for p in HELD])
# print(f"paper's loss: {np.mean([a > b for a, b in zip(pos, neg)]):.1%} vs the official code's {HELD_ACC:.1%}")
# ```
# </details>
#
# **4.** The control this notebook did not run: is "AugCon without the scorer" above AugCon because of the
# scorer, or because of which questions one random draw happened to keep? Train on three random rankings
# (seeds 0, 1, 2) and on AugCon's data with scorers trained from three seeds, one fine-tuning seed each.
#
# <details><summary>Hint</summary>
#
# The spread you need is across data draws, not fine-tuning seeds. Build each data set with
# `augcon.keep_questions` and `augcon.answer_items` as in sections 5 to 7, train each with
# `run_method("sft", (0,), ...)`, and compare the two groups of three with `compare`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# def data_from(scores, name):
#     kept = augcon.keep_questions(POOLS, scores, DOCS, ROUGE_THRESHOLD)
#     items = [(d, n) for d, nodes in kept.items() for n in nodes]
#     return augcon.sft_records(items, augcon.answer_items(teacher, items, DEMOS), name)
#
# def held_out_fact(data):
#     run = run_method("sft", (0,), MODEL_NAME, CONFIG, train_records=data, eval_records=TEST,
#                      max_new_tokens=MAX_NEW_TOKENS, device=DEVICE)
#     rows = [p for p in run.predictions[0] if p["split"] == "fact" and p["prompt"] in UNSEEN_BY_ALL]
#     return float(np.mean([p["correct"] for p in rows]))
#
# randoms = []
# for seed in (0, 1, 2):
#     rng = random.Random(seed)
#     randoms.append(held_out_fact(data_from({d: [rng.random() for _ in POOLS[d]] for d in POOLS}, f"random-{seed}")))
# scored = []
# for seed in (0, 1, 2):
#     run = augcon.train_scorer(TRAIN_PAIRS, MODEL_NAME, replace(augcon.SCORER_BUDGET, steps=SCORER_STEPS), device=DEVICE, seed=seed)
#     flat = augcon.score_questions(run.model, TOK, [n.context for _, n in POOL], [n.question for _, n in POOL])
#     start, scores = 0, {}
#     for d, nodes in POOLS.items():
#         scores[d], start = flat[start:start + len(nodes)], start + len(nodes)
#     scored.append(held_out_fact(data_from(scores, f"scored-{seed}")))
# print(compare(scored, randoms).sentence("scorer-ranked data", "randomly ranked data"))
# ```
#
# (The held-out questions stay those no original data set contains; a new draw may contain some of them, which
# then test memory rather than recall: count them with `SEEN`'s recipe before reading the result.)
# </details>

# %% [markdown]
# **5. Check yourself: write the scorer loss and the ROUGE-L filter.** Write `my_scorer_loss(s_pos, s_neg)` (the official contrastive loss on the scorer's raw scores, a scalar) and
# `my_filter(queries, scores, threshold, keep)` (the indices kept, best score first) as sections 4 and 5 describe them,
# and check them with `check_piece(my_scorer_loss, "augcon-scorer-loss")` and
# `check_piece(my_filter, "augcon-filter")`.
#
# <details><summary>Hint</summary>
#
# Scorer: -mean(sigmoid(s+)) + mean(sigmoid(s-)). Filter: go through the queries by decreasing score; skip one
# whose ROUGE-L F (`rouge_score`'s `rougeL` fmeasure) with any kept query exceeds the threshold; stop once `keep`
# are kept (None: no limit).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# from rouge_score import rouge_scorer
#
# from sftkit.checks import check_piece
#
#
# def my_scorer_loss(s_pos, s_neg):
#     return -s_pos.sigmoid().mean() + s_neg.sigmoid().mean()
#
#
# def my_filter(queries, scores, threshold, keep):
#     rouge, kept = rouge_scorer.RougeScorer(["rougeL"]), []
#     for i in sorted(range(len(queries)), key=lambda i: -scores[i]):
#         if keep is not None and len(kept) == keep:
#             break
#         if all(rouge.score(queries[j], queries[i])["rougeL"].fmeasure <= threshold for j in kept):
#             kept.append(i)
#     return kept
#
#
# check_piece(my_scorer_loss, "augcon-scorer-loss")
# check_piece(my_filter, "augcon-filter")
# ```
#
# The sigmoid bounds each score's pull: one very confident positive cannot carry the batch, unlike a raw mean of
# logits.
# </details>

# %%
print(f"this run: {(time.time() - T0) / 60:.1f} minutes on {DEVICE} ({'light' if LIGHT else 'full'} profile)")
