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
# **The paper's setting, and this notebook's.** The paper generates question-answer pairs from the contexts of
# a benchmark, fine-tunes on them without the contexts, and asks the benchmark's closed-book questions; its
# claim is that AugCon's data beat other generators' (Table 1), and its ablation removes the scorer's filter
# (Table 2). Here: 40 documents, three data sets made from them by the same teacher at the same size (AugCon;
# one question per document; AugCon's own pool ranked **at random** instead of by the scorer, the control that
# isolates the scorer), closed-book questions at three granularities (one fact, a paragraph's two facts, a
# document's three), each graded **per requested fact** against the world (partial credit), with exact match
# kept as a second column. Each data set is drawn **three times** (teacher seed, scorer seed, random ranking),
# and fine-tuning seed *i* trains on draw *i*, so the data's own variance is in every interval.
#
# **What you will learn**
# - how the Context-Split-Tree turns one document into questions from the whole document down to single
#   facts, and what each stopping rule does;
# - how a contrastive scorer learns "good question" from nothing but the difference between a careful prompt
#   and a sloppy one, and what it did and did not learn (measured against gold labels);
# - what the ROUGE-L filter drops, by kind of question;
# - whether fine-tuning on AugCon's data beats one question per document, and whether its scorer beats a
#   random ranking of the same pool, with every verdict from `sftkit.stats.compare`.
#
# **Runtime** (2-core laptop CPU): the full profile (3 data draws, a 3-point learning-rate grid, 9 + 6
# fine-tuning runs of 120 steps) took 12.6 minutes in the committed run; `make test` runs a light profile (one
# draw, one learning rate, 40 steps) in about 2 minutes. The last cell prints this run's time. Nothing
# is reused from `results/`: every run trains. GPU: not measured here.

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the student: the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
DRAWS = (0,) if LIGHT else (0, 1, 2)  # draw i: teacher seed i, scorer seed i, random ranking i, fine-tuning seed i
STEPS = 40 if LIGHT else 120  # SFT steps per run, the same for every data set
BATCH_SIZE = 16
LR_GRID = (3e-3,) if LIGHT else (1e-3, 3e-3, 1e-2)  # each arm's learning rate is chosen on dev, on draw 0, from this grid
TEACHER = "scripted"       # "scripted" (the tiny world's), "hf:MODEL" (local transformers) or "openai:MODEL" (a server)
QUESTION_ERRORS = (0.2, 0.05)  # the question writer's share of mistakes and of non-answers (sampling, temperature 0.85)
ANSWER_ERRORS = (0.05, 0.0)    # the answer writer's (greedy, from the context)
SCORER_STEPS = 30 if LIGHT else 100  # the contrastive scorer's optimizer steps (batches of 8 pairs), per draw
ROUGE_THRESHOLD = 0.7      # official config.rouge_thres
MAX_NEW_TOKENS = 110       # the longest closed-book answer (a document's three facts) is about 90 characters
DEV_EVERY = 4              # every 4th document's closed-book questions are dev (learning rates), the rest test

# %%
# %matplotlib inline
import collections
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
from sftkit.results import fmt_mean_std, rows_from_eval
from sftkit.stats import RULE, compare, holm
from sftkit.teachers import teacher_from

T0 = time.time()
set_seed(0)
DEVICE = pick_device(DEVICE)
DOCS = augcon.default_documents()
CLOSED_BOOK = augcon.closed_book_questions(DOCS)
DEV_DOCS = {d["id"] for k, d in enumerate(DOCS) if k % DEV_EVERY == DEV_EVERY - 1}
DEV = [r for r in CLOSED_BOOK if r["meta"]["document"] in DEV_DOCS]
TEST = [r for r in CLOSED_BOOK if r["meta"]["document"] not in DEV_DOCS]
GRAINS = tuple(augcon.GRANULARITIES)
print(f"device {DEVICE}; {len(DOCS)} documents; closed-book questions of {len(DOCS) - len(DEV_DOCS)} test documents: " +
      ", ".join(f"{g} {sum(r['split'] == g for r in TEST)}" for g in GRAINS) + f"; of {len(DEV_DOCS)} dev documents: {len(DEV)}")

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
# know exactly which facts a question about it should ask for, and any answer can be checked fact by fact.

# %%
doc = DOCS[0]
print(doc["text"], "\n")
for f in doc["facts"]:
    print(f"paragraph {f['paragraph']}: {f['town']} {f['attribute']} = {f['value']}")


# %% [markdown]
# The **scripted teacher** plays the strong LLM from those recorded facts; it is no model at all, and it is
# honest about it. Asked the split prompt, it asks for every fact the context states, **worded as a writer
# would vary it** ("Who rules Tobeka?", "Which colour marks Gamo?", "Tell me the colour of Tobeka, and the
# ruler of Gamo."; `augcon.SINGLE_TEMPLATES`, `augcon.MULTI_OPENERS`), and splits at the paragraph or sentence
# nearest the middle. With probability `error` it makes a realistic mistake: half the time a reply the parser
# rejects, otherwise a *flawed question* (only part of the context, a fact the context does not state, or
# nothing in particular); with probability `laziness` it gives a non-answer. Under the weakened prompts it
# drifts into flawed questions more often (`augcon.FLAW_RATE`): that is the behaviour the scorer is built to
# detect, written down as a rule here, where a real LLM would have its own, unknown failure modes.
#
# The official code samples questions at temperature 0.85 and answers greedily, from the context; a sampling
# writer errs more than a greedy reader, so the scripted teacher gets two error rates (`QUESTION_ERRORS`,
# `ANSWER_ERRORS`). The teacher's seed is the data draw's: another seed words, errs and drifts elsewhere.
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
# gold columns below (question quality, answer right, per-fact credit) do not exist: they come from the tiny
# world's facts.

# %%
def teachers(seed):
    """(question writer, answer writer) of data draw `seed`: one teacher, two decoding regimes."""
    return (teacher_from(TEACHER, *QUESTION_ERRORS, seed=seed, tasks=augcon.teacher_tasks()),
            teacher_from(TEACHER, *ANSWER_ERRORS, seed=seed, tasks=augcon.teacher_tasks()))

teacher, answerer = teachers(DRAWS[0])
print(teacher, "\n", answerer)

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
# ## 4. Three independent draws of the whole pipeline
#
# A data set is one draw of everything random in making it: the teacher's wording and mistakes, the scorer's
# pairs, held-out split and initialisation, and (for the control) the random ranking. `augcon.make_draw(...,
# seed)` runs steps 1 to 3 once for the three data sets; draw *i* uses teacher seed *i*, scorer seed *i* and
# `random.Random(i)`, and fine-tuning seed *i* (section 9) trains on draw *i*. The cells below look inside
# draw 0 and print every draw's counts.

# %%
SCORER_CONFIG = replace(augcon.SCORER_BUDGET, steps=SCORER_STEPS)
DRAW, BOOT_LOG = {}, {}
for seed in DRAWS:
    t = time.time()
    question_teacher, answer_teacher = teachers(seed)
    demos, BOOT_LOG[seed] = augcon.bootstrap_demos(answer_teacher, augcon.seed_examples())
    d = DRAW[seed] = augcon.make_draw(DOCS, question_teacher, answer_teacher, demos, seed, SCORER_CONFIG, MODEL_NAME,
                                      DEVICE, ROUGE_THRESHOLD)
    print(f"draw {seed}: {sum(map(len, d.pools.values()))} pool questions; scorer pairs {len(d.train_pairs)} to train, "
          f"{len(d.held_pairs)} held out; {SCORER_STEPS} scorer steps at {1000 * d.scorer.step_time_s:.0f} ms; "
          f"held-out pairs ranked positive first {d.held_accuracy:.1%}; {time.time() - t:.0f} s")
D0 = DRAW[DRAWS[0]]
POOL = [(doc_id, n) for doc_id, nodes in D0.pools.items() for n in nodes]

# %% [markdown]
# Draw 0's pool, by depth and by the gold label of each question: *complete* (asks for every fact its context
# states), *partial*, *unanswerable* (asks for a fact the context does not state) or *generic*.

# %%
QUALITY = list(QUALITY_COLOURS)
table = collections.Counter((n.depth, augcon.question_quality(n.question, n.context)) for _, n in POOL)
lines = ["| depth | " + " | ".join(QUALITY) + " | all |", "|---|" + "---|" * (len(QUALITY) + 1)]
for depth in sorted({n.depth for _, n in POOL}):
    counts = [table[depth, q] for q in QUALITY]
    lines.append(f"| {depth} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 5. Step 2: a scorer that learns "good question" by contrast
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
# the official loss over a batch of P positive and N negative scores $s = w^\top h_{\text{last}}$:
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


# %% [markdown]
# What the labels say, for draw 0's training pairs, by what each question asks for and its gold label: the
# scorer sees only "positive" or "negative", never the gold label.

# %%
def side_mix(pairs, side):
    return collections.Counter((augcon.question_kind(q), augcon.question_quality(q, p["context"]))
                               for p in pairs for q in [p[side][0]["content"].removeprefix("Question: ")])

KINDS = ("one fact", "several facts", "no fact")
mixes = {side: side_mix(D0.train_pairs, side) for side in ("chosen", "rejected")}
lines = ["| asks for | gold label | positives | negatives |", "|---|---|---|---|"]
for kind in KINDS:
    for q in QUALITY:
        if mixes["chosen"][kind, q] or mixes["rejected"][kind, q]:
            lines.append(f"| {kind} | {q} | {mixes['chosen'][kind, q]} | {mixes['rejected'][kind, q]} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# **What the scorer learned.** The left panel is draw 0's training curve and the middle one its held-out pairs.
# The right panel and the table score every pool question of every draw by its **rank within its document's
# pool** (0 the document's worst, 1 its best): that rank, not the raw score, is what the filter acts on, and it
# is comparable across the three scorers. Most pool questions were trained on, so read these as what each scorer
# learned, not as a test.

# %%
RANKS = {seed: augcon.within_document_rank(DRAW[seed].scores) for seed in DRAWS}
scored = [(augcon.question_kind(n.question), augcon.question_quality(n.question, n.context), r)
          for seed in DRAWS for doc_id, nodes in DRAW[seed].pools.items()
          for n, r in zip(nodes, RANKS[seed][doc_id])]
hist = [h for h in D0.scorer.history if "loss" in h and "step" in h]
TOK = load_model(MODEL_NAME, tokenizer_only=True)
held_pos = augcon.score_questions(D0.scorer.model, TOK, [p["context"] for p in D0.held_pairs],
                                  [p["chosen"][0]["content"][10:] for p in D0.held_pairs])
held_neg = augcon.score_questions(D0.scorer.model, TOK, [p["context"] for p in D0.held_pairs],
                                  [p["rejected"][0]["content"][10:] for p in D0.held_pairs])
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
axes[0].plot([h["step"] for h in hist], [h["loss"] for h in hist], label="loss (min -1)")
axes[0].plot([h["step"] for h in hist], [h["reward_accuracy"] for h in hist], label="positive scored higher (share)")
axes[0].set(xlabel="optimizer step", ylabel="value", title="draw 0: scorer training (logged batches)")
axes[0].axhline(0, color="0.7", lw=0.8); axes[0].legend(fontsize=8)
bins = np.histogram_bin_edges(held_pos + held_neg, 30)
axes[1].hist(held_pos, bins, alpha=0.6, label="positives (full prompt)")
axes[1].hist(held_neg, bins, alpha=0.6, label="negatives (weakened prompts)")
axes[1].set(xlabel="score (head logit)", ylabel="held-out questions", title="draw 0: held-out pairs (unseen contexts)")
axes[1].legend(fontsize=8)
groups = {(k, q): [r for kk, qq, r in scored if (kk, qq) == (k, q)] for k in KINDS for q in QUALITY}
groups = {key: g for key, g in groups.items() if len(g) >= 5}
axes[2].boxplot(list(groups.values()), tick_labels=[f"{k}\n{q}\n(n={len(g)})" for (k, q), g in groups.items()])
axes[2].set(ylabel="rank in its document's pool (1 = best)", title=f"pool questions, {len(DRAWS)} draw(s)")
axes[2].tick_params(axis="x", labelsize=7)
plt.tight_layout(); plt.show()
lines = ["| asks for | gold label | questions | median rank | mean rank |", "|---|---|---|---|---|"]
for (k, q), g in groups.items():
    lines.append(f"| {k} | {q} | {len(g)} | {np.median(g):.2f} | {np.mean(g):.2f} |")
display(Markdown("\n".join(lines)))
by_depth = collections.defaultdict(list)
for seed in DRAWS:
    for doc_id, nodes in DRAW[seed].pools.items():
        for n, r in zip(nodes, RANKS[seed][doc_id]):
            by_depth[n.depth, augcon.question_kind(n.question), augcon.question_quality(n.question, n.context)].append(r)
COLUMNS = [("one fact", "complete"), ("one fact", "unanswerable"), ("several facts", "complete"), ("no fact", "complete")]
lines = ["| depth (0: whole document) | " + " | ".join(f"{k}, {q}" for k, q in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
for depth in sorted({key[0] for key in by_depth}):
    cells = [by_depth.get((depth, *c), []) for c in COLUMNS]
    lines.append(f"| {depth} | " + " | ".join(f"{np.median(g):.2f} (n={len(g)})" if g else "–" for g in cells) + " |")
display(Markdown("Median rank by depth\n\n" + "\n".join(lines)))

# %% [markdown]
# **Does the scorer read the context?** An unanswerable question is only unanswerable *given its context*:
# "Who rules Tobeka?" is a fine question about a paragraph that says who rules Tobeka. So the probe scores the
# same answerable one-fact questions twice, with their own context and with a context from another document
# that does not mention the town, where the question becomes unanswerable. A scorer that checked
# answerability would score the second lower.

# %%
for seed in DRAWS:
    own, other = augcon.context_probe(DRAW[seed].scorer.model, TOK, DRAW[seed].pools, seed=seed, n=60)
    print(f"draw {seed}: {len(own)} answerable one-fact questions; with their own context {np.mean(own):+.2f}, with a "
          f"context that does not state the fact {np.mean(other):+.2f}; own context scored higher for "
          f"{np.mean([a > b for a, b in zip(own, other)]):.0%}")

# %% [markdown]
# ## 6. Ranking and the ROUGE-L filter
#
# Per document, the pool is ranked by score; a question whose ROUGE-L F with an already kept question exceeds
# 0.7 is a near-duplicate and dropped; ranking stops once one question per 35 characters is kept
# (`augcon.filter_report` says which rule dropped what). A near-duplicate is a **duplicate** when the kept
# question it resembles asks for every fact it asks for (or is the same string): nothing is lost. It costs
# coverage when it asks for **other facts**. Per kind of question, for the scorer's ranking and the random one:

# %%
TEXT = {d["id"]: d["text"] for d in DOCS}

def reports(pools, scores):
    return {doc_id: augcon.filter_report([n.question for n in pools[doc_id]], scores[doc_id], ROUGE_THRESHOLD,
                                         augcon.query_budget(TEXT[doc_id])) for doc_id in pools}

VERDICTS = ("kept", "duplicate", "other facts", "over budget")
lines = ["| draw | ranking | asks for | pool | " + " | ".join(VERDICTS) + " |", "|---|---|---|---|" + "---|" * len(VERDICTS)]
for seed in DRAWS:
    for ranking, scores in (("scorer", DRAW[seed].scores), ("random", DRAW[seed].random_scores)):
        counts = augcon.drop_counts(DRAW[seed].pools, reports(DRAW[seed].pools, scores))
        for kind in KINDS:
            row = [counts.get((kind, v), 0) for v in VERDICTS]
            lines.append(f"| {seed} | {ranking} | {kind} | {sum(row)} | " + " | ".join(map(str, row)) + " |")
display(Markdown("\n".join(lines)))


# %% [markdown]
# What each ranking kept, by gold label (flawed = not complete):

# %%
def mix(kept):
    c = collections.Counter(augcon.question_quality(n.question, n.context) for nodes in kept.values() for n in nodes)
    total = sum(c.values())
    return total, [c[k] for k in QUALITY], 1 - c["complete"] / total

lines = ["| draw | questions | kept | " + " | ".join(QUALITY) + " | flawed share |", "|---|---|---|" + "---|" * (len(QUALITY) + 1)]
for seed in DRAWS:
    pool_mix = collections.Counter(augcon.question_quality(n.question, n.context) for ns in DRAW[seed].pools.values() for n in ns)
    total = sum(pool_mix.values())
    lines.append(f"| {seed} | the whole pool | {total} | " + " | ".join(str(pool_mix[k]) for k in QUALITY) +
                 f" | {1 - pool_mix['complete'] / total:.1%} |")
    for label, kept in (("kept, ranked by the scorer", DRAW[seed].kept), ("kept, ranked at random", DRAW[seed].kept_random)):
        total, counts, flawed = mix(kept)
        lines.append(f"| {seed} | {label} | {total} | " + " | ".join(map(str, counts)) + f" | {flawed:.1%} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# Explore any document of draw 0: its first tree, each box coloured by what the filter did (green kept, grey a
# near-duplicate, white over budget), and the ranked list with the reasons.

# %%
VERDICT_COLOURS = {"kept": "#b2f2bb", "near-duplicate": "#dee2e6", "over budget": "white"}
REPORTS = reports(D0.pools, D0.scores)

def explore(document):
    nodes, report = D0.pools[document], REPORTS[document]
    verdict = {r["index"]: r for r in report}
    first = [i for i, n in enumerate(nodes) if n.round == 0]
    plots.tree([nodes[i] for i in first], marks={k: VERDICT_COLOURS[verdict[i]["verdict"]] for k, i in enumerate(first)},
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
widgets.interact(explore, document=widgets.Dropdown(options=list(D0.pools), value=DOCS[1]["id"]));

# %% [markdown]
# ## 7. Step 3: answers from the context, with bootstrapped demos
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
# the format; for a real model they are the "self-improvement". Draw 0's bootstrap:

# %%
for row in BOOT_LOG[DRAWS[0]]:
    print(f"judge says {'yes' if row['verdict'] else 'no '} to: {row['question']} -> {row['answer']}")
print(f"\nthe answer prompt's instruction:\n\n{augcon.ANSWER_INSTRUCTION}")


# %% [markdown]
# ## 8. The three data sets side by side
#
# **One question per document** (the baseline): each document's root question, the one CST asks about the
# whole document, answered once by the same teacher and demos, repeated round-robin until the data set has
# AugCon's size: what one call per document gives, at the same number of training examples. **AugCon without
# the scorer** ranks AugCon's pool at random instead of by the scorer, with the same ROUGE-L filter, budget
# and answer step. (The paper's "w/o filter" ablation samples questions at random with neither scorer nor
# filter, so it is not the same control.)

# %%
def facts_asked(record):
    pairs = augcon.asked(record["messages"][0]["content"])
    return 0 if pairs is None else len(pairs)

fig, ax = plt.subplots(figsize=(8, 3.4))
width = 0.8 / len(augcon.ARMS)
for i, label in enumerate(augcon.ARMS):
    counts = collections.Counter(facts_asked(r) for r in D0.data[label])
    ax.bar(np.arange(5) + i * width - 0.4 + width / 2, [counts[k] for k in range(5)], width,
           label=f"{label} ({len(D0.data[label])})")
ax.set_xticks(range(5), ["0 (filler,\ngeneric)", "1", "2", "3", "4 (whole\ndocument)"])
ax.set(xlabel="facts a training question asks for (stated in its context or not)", ylabel="training examples",
       title="draw 0: what each data set teaches")
ax.legend(fontsize=8); plt.show()
TEST_FACTS = {(t, a) for r in TEST for t, a in augcon.asked(r["messages"][0]["content"])}
lines = ["| data set | draw | examples | distinct questions | answers right | test facts some answer states | "
         "test questions seen verbatim |", "|---|---|---|---|---|---|---|"]
for label in augcon.ARMS:
    for seed in DRAWS:
        data = DRAW[seed].data[label]
        taught = {(t, a) for r in data for (t, a), _ in augcon.stated_values(r["messages"][1]["content"]).items()}
        questions = {r["messages"][0]["content"] for r in data}
        lines.append(f"| {label} | {seed} | {len(data)} | {len(questions)} | "
                     f"{np.mean([r['meta']['answer_right'] for r in data]):.1%} | {len(TEST_FACTS & taught)} / {len(TEST_FACTS)} | "
                     f"{sum(r['messages'][0]['content'] in questions for r in TEST)} / {len(TEST)} |")
display(Markdown("\n".join(lines)))
display(Markdown("\n".join(["| draw 0, AugCon: question | answer | depth |", "|---|---|---|"] +
                           [f"| {r['messages'][0]['content']} | {r['messages'][1]['content']} | {r['meta']['depth']} |"
                            for r in D0.data["AugCon"][:8]])))

# %% [markdown]
# ## 9. Fine-tuning and the closed-book test
#
# The closed-book test asks about the documents, without them, with gold answers from the recorded facts (not
# the teacher's): each town's three facts one at a time (**fact**); the paragraph that also states a
# neighbour's fact, its two facts asked neighbour first (**paragraph**); and the town's own three facts
# (**document**), in the canonical wording. No data set contains a paragraph or document test question (the
# teacher asks for facts in the order they appear, and any context holding a town's three facts also holds the
# neighbour's), so those test whether a model can put together what it learnt. Every answer is graded **per
# requested fact**: the share of the facts it asks for that the answer states with their true value (and no
# other), checked against the world (`augcon.fact_credit`). Exact match is the second column.

# %%
print(plots.source_of(augcon.fact_credit))
example = next(r for r in TEST if r["split"] == "document")
for reply in (example["answer"], example["answer"].rsplit(" The ", 1)[0], "I think it is violet."):
    print(f"{augcon.fact_credit(augcon.asked(example['messages'][0]['content']), reply):.3f}  {reply}")

# %% [markdown]
# The questions of every 4th document are **dev**, used only to choose each arm's learning rate; the other 30
# documents' questions are the **test** (items paired across arms and seeds). Every data set is learnt from all
# 40 documents, as the paper's data cover every context.
#
# **Headline claims, named before running** (test, all three granularities together, per-fact credit, paired
# on the same items, `sftkit.stats.compare`, seeds = data draws):
#
# 1. **AugCon's data above one question per document** (the paper's claim: better data than other ways of
#    making SFT data from the same texts, Table 1).
# 2. **AugCon's data above the same pool ranked at random** (the scorer's claim: Table 2's filter ablation
#    reports 0.849 with it, 0.828 without).
#
# Secondary, Holm-corrected: both claims per granularity (6 comparisons). Exact match is descriptive.
#
# **Training.** Every data set gets plain SFT (`sftkit.experiment.BASELINE`'s recipe: 15 warm-up steps, cosine
# decay) from the base model for `STEPS` steps of `BATCH_SIZE` examples. Each arm's learning rate is chosen
# from `LR_GRID` on dev (mean per-fact credit) with draw 0; the grid's winner's draw-0 run is that arm's seed 0,
# and draws 1 and 2 train at the same rate. The same number of examples is not the same compute: the
# baseline's answers state a whole document, so its steps take longer (printed below).

# %%
base_model, base_tok = load_model(MODEL_NAME, device=DEVICE)
BASE = augcon.credit_rows(evaluate(base_model, base_tok, TEST, MAX_NEW_TOKENS))
del base_model
EVAL = DEV + TEST
TUNE, RUNS = {}, {label: {} for label in augcon.ARMS}

def train(label, lr, seeds):
    t = time.time()
    run = run_method("sft", seeds, MODEL_NAME, replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE, lr=lr),
                     train_records=lambda seed: DRAW[seed].data[label], eval_records=EVAL,
                     max_new_tokens=MAX_NEW_TOKENS, device=DEVICE)
    ms = 1000 * np.mean([run.training[s].step_time_s for s in seeds])
    print(f"{label}, lr {lr:g}, draw(s) {', '.join(map(str, seeds))}: {time.time() - t:.0f} s ({ms:.0f} ms/step)")
    return run

def mean_credit(predictions, ids):
    return float(np.mean([p["correct"] for p in augcon.credit_rows(predictions) if p["id"] in ids]))

DEV_IDS = {r["id"] for r in DEV}
for label in augcon.ARMS:
    for lr in LR_GRID:
        TUNE[label, lr] = train(label, lr, DRAWS[:1])
LR = {label: max(LR_GRID, key=lambda lr: mean_credit(TUNE[label, lr].predictions[DRAWS[0]], DEV_IDS)) for label in augcon.ARMS}
lines = ["| trained on (draw 0) | " + " | ".join(f"lr {lr:g}" for lr in LR_GRID) + " |", "|---|" + "---|" * len(LR_GRID)]
for label in augcon.ARMS:
    cells = [f"{100 * mean_credit(TUNE[label, lr].predictions[DRAWS[0]], DEV_IDS):.1f}" for lr in LR_GRID]
    lines.append(f"| {label} | " + " | ".join(f"**{c}**" if lr == LR[label] else c for c, lr in zip(cells, LR_GRID)) + " |")
display(Markdown(f"Dev per-fact credit % ({len(DEV)} questions; bold: chosen)\n\n" + "\n".join(lines)))
edge = [label for label in augcon.ARMS if len(LR_GRID) > 1 and LR[label] in (LR_GRID[0], LR_GRID[-1])]
print("chosen at the grid's edge: " + (", ".join(f"{label} ({LR[label]:g})" for label in edge) or "none"))

# %%
for label in augcon.ARMS:
    RUNS[label] = {"tune": TUNE[label, LR[label]], "rest": train(label, LR[label], DRAWS[1:]) if DRAWS[1:] else None}

# %%
TEST_IDS = [r["id"] for r in TEST]

def predictions(label, seed):
    parts = RUNS[label]
    run = parts["tune"] if seed == DRAWS[0] else parts["rest"]
    by_id = {p["id"]: p for p in augcon.credit_rows(run.predictions[seed])}
    return [by_id[i] for i in TEST_IDS]

def table(label, grain=None, key="correct"):
    # (seeds, items): per-fact credit (key "correct") or exact match ("exact") on the test, one granularity or all
    return np.array([[float(p[key]) for p in predictions(label, s) if grain in (None, p["split"])] for s in DRAWS])

def cell(x):
    return fmt_mean_std(list(x.mean(1)))

head = "| trained on | lr | " + " | ".join(f"{g} (n={sum(r['split'] == g for r in TEST)})" for g in GRAINS) + \
       f" | all (n={len(TEST)}) | exact match: " + " / ".join(GRAINS) + " |"
lines = [head, "|---|---|" + "---|" * (len(GRAINS) + 2)]
base = {g: 100 * np.mean([p["correct"] for p in BASE if p["split"] == g]) for g in GRAINS}
lines.append("| nothing (the base model) | – | " + " | ".join(f"{base[g]:.1f}" for g in GRAINS) +
             f" | {100 * np.mean([p['correct'] for p in BASE]):.1f} | " +
             " / ".join(f"{100 * np.mean([p['exact'] for p in BASE if p['split'] == g]):.1f}" for g in GRAINS) + " |")
for label in augcon.ARMS:
    lines.append(f"| {label} | {LR[label]:g} | " + " | ".join(cell(table(label, g)) for g in GRAINS) +
                 f" | {cell(table(label))} | " + " / ".join(cell(table(label, g, 'exact')) for g in GRAINS) + " |")
display(Markdown(f"Test, per-fact credit % (mean ± std over {len(DRAWS)} draws; a draw's data and its fine-tuning "
                 "seed together)\n\n" + "\n".join(lines)))
ax = plots.accuracy_bars({label: {g: list(table(label, g).mean(1)) for g in GRAINS} for label in augcon.ARMS},
                         title="closed-book per-fact credit on the test documents (mean ± std over draws)",
                         xlabel="granularity")
ax.set(ylabel="per-fact credit %"); ax.set_ylim(0, 125)
plt.show()

# %%
MAIN, BASELINE_ARM, NO_SCORER = augcon.ARMS
HEADLINE = {"AugCon above one question per document": (MAIN, BASELINE_ARM),
            "AugCon above the same pool ranked at random": (MAIN, NO_SCORER)}
print(RULE, "\n\nHeadline, test, all granularities, per-fact credit:")
HEAD = {name: compare(table(a), table(b)) for name, (a, b) in HEADLINE.items()}
for name, (a, b) in HEADLINE.items():
    print(f"  {name}: " + HEAD[name].sentence(a, b))
secondary = [(name, g, compare(table(a, g), table(b, g))) for name, (a, b) in HEADLINE.items() for g in GRAINS]
print(f"\nSecondary, per granularity ({len(secondary)} comparisons; Holm-adjusted p):")
for (name, g, c), p in zip(secondary, holm([c.p_value for *_, c in secondary])):
    print(f"  {g:9s} {c.sentence(*HEADLINE[name])} Holm p = {p:.3f}")
print("\nExact match, test, all granularities (descriptive):")
for a, b in HEADLINE.values():
    print(f"  {compare(table(a, key='exact'), table(b, key='exact')).sentence(a, b)}")

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
for g in (*GRAINS, None):
    lines.append(f"| this notebook, {g or 'all granularities'} (test, tiny model, closed-book per-fact credit %) | "
                 f"{cell(table(MAIN, g))} | {cell(table(BASELINE_ARM, g))} (one question per document); "
                 f"{cell(table(NO_SCORER, g))} (without the scorer) |")
display(Markdown("\n".join(lines)))


# %%
def samples(label, grain, seed):
    rows = [p for p in predictions(label, seed) if p["split"] == grain][:8]
    display(HTML(plots.samples_html({label: rows}, ids=[r["id"] for r in rows])))

samples(MAIN, "document", DRAWS[0])  # a static first view; the explorer below changes it
widgets.interact(samples, label=list(augcon.ARMS), grain=list(GRAINS), seed=list(DRAWS));

# %%
METHOD = {MAIN: ("augcon", f"scorer,rouge={ROUGE_THRESHOLD}"), BASELINE_ARM: ("one-per-doc", "root questions"),
          NO_SCORER: ("augcon", f"random ranking,rouge={ROUGE_THRESHOLD}")}
saved = []
for label in augcon.ARMS:
    method, variant = METHOD[label]
    for seed in DRAWS:
        run = RUNS[label]["tune"] if seed == DRAWS[0] else RUNS[label]["rest"]
        tags = next(r for r in run.rows if r["seed"] == seed)
        tags = {k: tags[k] for k in ("model", "steps", "step_time_s", "peak_mem_mb", "train_seconds", "device", "train_config")}
        for metric, key in (("fact_credit", "correct"), (results.EXACT_MATCH, "exact")):
            rows = [{**p, "correct": p[key]} for p in predictions(label, seed)]
            for row in rows_from_eval(rows + [{**p, "split": "test"} for p in rows], notebook="09_augcon", method=method,
                                      variant=variant, seed=seed, **tags):
                saved.append({**row, "metric": metric})
    for seed in DRAWS:
        if label == MAIN:
            d = DRAW[seed]
            for metric, value in (("scorer_heldout_pair_accuracy", d.held_accuracy), ("flawed_share_kept_scorer", mix(d.kept)[2]),
                                  ("flawed_share_kept_random", mix(d.kept_random)[2]),
                                  ("answers_right_share", float(np.mean([r["meta"]["answer_right"] for r in d.data[MAIN]])))):
                saved.append(results.metric_row(metric, value, "augcon-data", notebook="09_augcon", method="augcon",
                                                variant=variant, model=MODEL_NAME, seed=seed, device=DEVICE))
path = results.save("09_augcon", saved)
print(f"saved {len(saved)} rows to {path.name} (test documents; per-fact credit and exact match)")

# %% [markdown]
# ## What we saw
#
# The verdicts in section 9 are computed from this run's numbers; read them first. What they mean:
#
# - **AugCon's data against one question per document (headline 1): inconclusive.** Over all test questions the
#   difference is +5.6 points with an interval from -5.6 to +16.9 and an MDE of 15.5: three data draws with 150
#   items cannot tell them apart. AugCon's model is far more variable from draw to draw (fact credit 18.1 ± 10.0
#   against 6.7 ± 0.0), although both arms trained at the same learning rate (the grid's top, 0.01, chosen on
#   draw 0's dev questions): the spread comes from the data draws, not from the learning rate alone.
# - **The scorer against a random ranking of the same pool (headline 2): below.** AugCon's data scored 15.0 points
#   *under* the same pool ranked at random ([-26.3, -3.7], MDE 15.5), the reverse of the paper's ablation. Two
#   causes are mixed here and this design does not separate them: the arms trained at different learning rates
#   (each its dev choice: 0.01 for AugCon, 0.003 without the scorer), and the scorer changes *what* is kept.
#   Section 6's first table shows the second: in every draw the scorer keeps fewer one-fact questions and more
#   filler ("no fact") questions than the random ranking, because it ranks filler questions above one-fact
#   questions (section 5). Filler answers teach no fact the test asks for.
# - **Paragraph and document questions measure something under per-fact credit.** Exact match stays 0.0 for every arm (no model
#   writes the exact three-fact answer to a question it never saw), but per-fact credit shows each model
#   stating some of the requested facts, from 7.2 to 17.2% of them (section 9's table); none of the
#   per-granularity comparisons with the baseline is decided, and the random ranking is above AugCon on
#   facts and on paragraphs by their own intervals, but not after the Holm correction (Holm p 0.114 each).
# - **What the scorer learned.** It learned the form of a question, not whether its context answers it. It ranks
#   multi-fact questions highest, filler questions next, one-fact questions low and generic ones last (section
#   5's tables), which is the contrast its labels carry: most negatives are generic questions or one-fact
#   questions about a fact the context does not state. It does not prefer unanswerable questions: their median
#   rank is below the complete one-fact questions' at every depth that has both (1 to 4), and the set it keeps is less
#   flawed than the random one's in every draw (section 6's second table). But the context probe shows why that is
#   form, not understanding: the same answerable question scores about the same with a context that does not
#   state its fact (own context higher for 50 to 62% of questions; a scorer that checked would almost always
#   score it higher). A fix would need negatives
#   that differ only in the context (exercise 4 asks where the scorer's ranking matters most); the paper's
#   weakened prompts do not supply them.
# - **The filter removes duplicates as well as coverage.** With varied wording, about half of what it drops
#   as near-duplicates asks for no fact the kept question lacks (section 6: "duplicate" beside "other facts"),
#   and the budget, one question per 35 characters, decides more than the near-duplicate rule ("over budget").
# - **The data are mostly right.** With a greedy answer writer (`ANSWER_ERRORS`), nearly all of each data set's
#   answers are right from their context (94.3 to 97.4%, section 8). "The passage does not say ..." answers to
#   unanswerable questions count as right (they are true of the context), though they teach nothing closed-book.
# - **Against the paper:** the paper fine-tunes a 70B model on data from real benchmarks' contexts and reports a
#   few points of exact match over the strongest other generator and over its no-filter ablation. This tiny
#   model, scripted teacher and 40 synthetic documents do not reproduce either gap: the comparison with one
#   question per document is undecided at this size, and the scorer, which learnt question form from the weakened
#   prompts, cost fact coverage here. Learning rates were tuned on one draw only (the 15-minute budget allowed no more),
#   and two arms chose the grid's edge.
#
# ## Exercises
#
# Hints and worked solutions are folded: click to open. The solutions are code to paste into a new cell
# after the cells they name; none of them runs by default.
#
# **1.** Raise `ROUGE_THRESHOLD` to 0.9 for draw 0 and count what the filter keeps and drops by kind. Which
# kinds gain, and are the extra questions new facts or rewordings of kept ones?
#
# <details><summary>Hint</summary>
#
# `augcon.filter_report` and `augcon.drop_counts` take the threshold; section 6's table is the 0.7 version. At 0.9
# the budget (one question per 35 characters) binds more often than the near-duplicate rule.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# rep09 = {d: augcon.filter_report([n.question for n in D0.pools[d]], D0.scores[d], 0.9, augcon.query_budget(TEXT[d]))
#          for d in D0.pools}
# counts = augcon.drop_counts(D0.pools, rep09)
# for kind in KINDS:
#     print(kind, {v: counts.get((kind, v), 0) for v in VERDICTS})
# ```
# </details>
#
# **2.** Make the answer writer perfect (`ANSWER_ERRORS = (0.0, 0.0)`) and rerun the notebook. How much of the
# gap between AugCon's fact credit and 100% was the teacher's wrong answers?
#
# <details><summary>Hint</summary>
#
# Section 8 prints the share of right answers in each data set; with a perfect writer it is 100% (a "The
# passage does not say ..." answer to an unanswerable question counts as right), yet those answers and the
# generic questions still teach no fact.
# </details>
#
# <details><summary>Solution</summary>
#
# Set `ANSWER_ERRORS = (0.0, 0.0)` in the parameters cell and run all cells (about the full profile's runtime).
# Wrong answers in the data are learned like right ones, so the fact credit should rise; whatever gap remains is
# the small model's (and the budget's: facts no kept question asks about are taught by no answer).
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
# from sftkit.train import train as train_model
#
# class PaperScorerTrainer(augcon.ScorerTrainer):
#     def loss(self, model, inputs, outputs):
#         positive, negative = outputs.logits.squeeze(-1).float().chunk(2)
#         self.record(reward_accuracy=(positive > negative).float().mean())
#         return bradley_terry_loss(positive, negative).mean()
#
# model, tok = load_reward_model(MODEL_NAME, device=DEVICE)
# paper_run = train_model(model, tok, D0.train_pairs, SCORER_CONFIG, trainer_cls=PaperScorerTrainer,
#                         dataset=tokenize_pairs(tok, D0.train_pairs, SCORER_CONFIG.max_length))
# held = D0.held_pairs
# pos = augcon.score_questions(paper_run.model, tok, [p["context"] for p in held], [p["chosen"][0]["content"][10:] for p in held])
# neg = augcon.score_questions(paper_run.model, tok, [p["context"] for p in held], [p["rejected"][0]["content"][10:] for p in held])
# print(f"paper's loss: {np.mean([a > b for a, b in zip(pos, neg)]):.1%} vs the official code's {D0.held_accuracy:.1%}")
# ```
# </details>
#
# **4.** Does the scorer matter more when the question writer is sloppier? Set `QUESTION_ERRORS = (0.4, 0.05)`
# and rerun sections 4 to 6 (no fine-tuning needed). Compare the flawed share each ranking keeps, and the
# unanswerable questions among them.
#
# <details><summary>Hint</summary>
#
# Section 6's second table has both rankings per draw; section 5's table says where the scorer ranks each kind
# of flawed question, so you can predict the answer before you run it.
# </details>
#
# <details><summary>Solution</summary>
#
# Edit the parameters cell, then run from the top to the end of section 6 (about three scorer trainings). The
# scorer ranks generic questions low, so with more of them in the pool its kept set loses more of them than a
# random ranking does. Unanswerable questions already survive less often under the scorer than under random
# ranking (section 6's second table), but section 5's probe shows it is the question's form it reads, not its
# context: unanswerable questions that look like complete ones are the ones it is likely to keep.
# </details>

# %% [markdown]
# **5. Check yourself: write the scorer loss and the ROUGE-L filter.** Write `my_scorer_loss(s_pos, s_neg)` (the official contrastive loss on the scorer's raw scores, a scalar) and
# `my_filter(queries, scores, threshold, keep)` (the indices kept, best score first) as sections 5 and 6 describe them,
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
