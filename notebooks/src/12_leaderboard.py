# %% [markdown]
# # 12 · The leaderboard: every method on one board
#
# Nine methods, one tiny world, one budget, one test. Each earlier notebook saved what it measured to
# `results/<notebook>.jsonl` in one schema (`sftkit.results`); this notebook reads every one of those files and
# **trains nothing**. Where a method's notebook has not been run yet, it says which notebook to run.
#
# **What you will learn**
# - how to read one table of every method: `test`, each shift split, step time, peak memory and seeds, the same
#   table docs/results.md shows (both come from `sftkit.results.summary`);
# - what each method's accuracy cost: exact match against training time, with error bars over seeds;
# - which skills each method learned (a method x skill heatmap on `test`);
# - for each seed paper, its headline claim beside what we measured here and whether it held, decided by the
#   suite's one comparison, `sftkit.stats.compare` (difference, 95% interval over seeds and items, n, MDE);
# - how to publish the board as one HTML page that opens without a network (`sftkit leaderboard --html`).
#
# **Runtime:** a few seconds on any machine (it only reads files and draws); no GPU needed.

# %% tags=["parameters"]
RESULTS_DIR = None  # None: sftkit.io.results_dir() (the repository's results/, $SFTKIT_RESULTS, or your own copy)
SPLIT = "test"      # the split of the figure, the heatmap and the claims' default side

# %%
# %matplotlib inline
import time
from collections import Counter

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from sftkit import leaderboard, results
from sftkit.io import results_dir, shown
from sftkit.leaderboard import CLAIMS, Claim, Side, check_claim, check_claims, claims_table  # noqa: F401 (Claim, Side: exercise 1)
from sftkit.results import mean_std
from sftkit.stats import RULE, compare_means

T0 = time.time()
DIRECTORY = results_dir() if RESULTS_DIR is None else RESULTS_DIR
ROWS = results.load(DIRECTORY)
files = Counter(r["notebook"] for r in ROWS)
print(f"{len(ROWS)} rows from {len(files)} results files in {shown(DIRECTORY)}/:")
for notebook, n in sorted(files.items()):
    print(f"  {notebook:24s} {n:5d} rows")

# %% [markdown]
# Every registered method (`sftkit.methods.NAMES`) has a notebook that teaches it. A method whose notebook
# saved nothing yet is listed here with the notebook to run; nothing is trained in its place.

# %%
missing = leaderboard.missing_notebooks(ROWS)
for method, notebook in missing:
    print(f"{method}: no results yet; run notebooks/{notebook}.ipynb (it writes results/{notebook}.jsonl)")
if not missing:
    print("every registered method has results")

# %% [markdown]
# ## 1. One table
#
# Exact match (%) on `test` and the four shifts (wording, longer, larger, composed), mean ± std over seeds, one
# row per (notebook, method, variant, model); step time and peak memory per optimizer step on the machine that
# ran that notebook. This is docs/results.md's table, from the same function (`results.markdown_table(results.summary(rows))`).

# %%
display(Markdown(results.markdown_table(results.summary(ROWS))))

# %% [markdown]
# Some notebooks measure on test sets of their own (AugCon's closed-book granularities, Instruct-SkillMix's skill
# pairs) or measure something other than exact match (FrozenLake's transition error, PPO's judgement accuracy,
# SuperHF's proxy reward): those rows are here, from the same files.

# %%
for title, table in (("Notebooks' own test sets (exact match %)", results.own_tests_table(ROWS)),
                     ("Other measurements (mean ± std over seeds)", results.other_metrics_table(ROWS))):
    if table:
        display(Markdown(f"**{title}**\n\n{table}"))

# %% [markdown]
# ## 2. Accuracy against cost
#
# Each point is one row of the table with a measured training time: exact match on `SPLIT` against the seconds
# one training run took (mean over seeds; error bars are the std over seeds on both axes). Times were measured on
# whatever machine ran each notebook, so compare them within one machine; on the committed results every
# notebook ran on the same 2-core CPU. A run that starts from another model counts only its own training: DPO
# and RPO (notebook 05) add their preference phase to an SFT model whose cost is notebook 01's, and notebook
# 08's rows start from its SFT start policy.

# %%
fig = leaderboard.cost_figure(ROWS, split=SPLIT)
plt.show()

# %% [markdown]
# Which runs can the comparison not tell apart from the best one, and which of those was cheapest? Rows trained
# for another purpose (a notebook's own ablations) count as well: the question is only what the budget bought.
# The points keep one accuracy per seed, so this is the unpaired comparison from seed means (`compare_means`);
# runs with one seed are left out, since nothing can be shown about them (their variance over seeds is unknown).

# %%
points = [p for p in leaderboard.cost_points(ROWS, split=SPLIT) if p["seeds"] > 1]  # one seed: no seed variance
if points:
    best = max(points, key=lambda p: mean_std(p["acc"])[0])
    n = next(r["n"] for r in ROWS if r["split"] == SPLIT and r["skill"] == "all" and r.get("n"))
    ties = [p for p in points if p is best or not compare_means(p["acc"], best["acc"], n=n).differs]
    cheapest = min(ties, key=lambda p: mean_std(p["seconds"])[0])
    name = lambda p: f"{p['method']} ({p['variant']}; {p['notebook']})"
    print(RULE)
    print(f"most accurate on {SPLIT}: {name(best)}, {100 * mean_std(best['acc'])[0]:.1f}% in "
          f"{mean_std(best['seconds'])[0]:.0f} s per run")
    print(f"{len(ties)} run(s) not distinguishable from it (inconclusive); the cheapest of them: {name(cheapest)}, "
          f"{100 * mean_std(cheapest['acc'])[0]:.1f}% in {mean_std(cheapest['seconds'])[0]:.0f} s")
else:
    print("no runs with a measured training time yet")

# %% [markdown]
# ## 3. Skill by skill
#
# One row per method (the variant its paper proposes where a claim below names it, else its best-measured
# variant; the label says which, and in which notebook), one column per skill of the world, exact match on
# `SPLIT` in %, mean over seeds.

# %%
fig = leaderboard.skill_heatmap(ROWS, split=SPLIT)
plt.show()
labels, skills, matrix = leaderboard.skill_matrix(ROWS, split=SPLIT)
for j, skill in enumerate(skills):
    scored = [(row[j], label) for row, label in zip(matrix, labels) if row[j] is not None]
    if scored:
        top, who = max(scored)
        print(f"{skill:10s} best {100 * top:5.1f}%  {who.split(' (')[0]}")

# %% [markdown]
# ## 4. The papers' claims, checked here
#
# Each seed paper's headline claim is kept as data in one place, `sftkit.leaderboard.CLAIMS`, sourced from the
# papers (through `METHODS.md`) and each notebook's "What we saw". A claim names the two sets of saved rows it
# compares (notebook, method, variant, split, metric) and the direction the paper reports; the verdict is
# `stats.compare` on those rows: paired per item where both sides saved per-item outcomes, otherwise unpaired
# from the seed means (the sentence says which). The papers measured large models on real benchmarks; here only the *direction* of
# each claim is tested, on the tiny world. "not yet run" means the claim's notebook has saved no results.

# %%
print(RULE)
OUTCOMES = check_claims(ROWS)
display(Markdown(claims_table(OUTCOMES)))

# %% [markdown]
# One claim, as data: the rows it compares and how its verdict is computed.

# %%
claim = next(c for c in CLAIMS if c.method == "rpo")
print(claim.a)
print(claim.b)
outcome = check_claim(claim, ROWS)
print(outcome.status, "-", outcome.detail)

# %% [markdown]
# ## What we saw
#
# The counts and lists below are computed from the results files this run read; read them with the table above.

# %%
counts = Counter(o.status for o in OUTCOMES)
measured = [o for o in OUTCOMES if o.comparison is not None]
print(f"{len(OUTCOMES)} claims: " + ", ".join(f"{n} {leaderboard.VERDICT_WORDS[s]}" for s, n in counts.most_common()))
for status in ("held", "not shown", "reversed"):
    names = [f"{o.claim.method}: {o.claim.a.label} vs {o.claim.b.label} ({o.claim.a.notebook})" for o in OUTCOMES
             if o.status == status]
    if names:
        print(f"\n{leaderboard.VERDICT_WORDS[status]}:\n  " + "\n  ".join(names))
waiting = sorted({o.claim.a.notebook for o in OUTCOMES if o.status == "not yet run"})
if waiting:
    print("\nnot yet run: " + ", ".join(f"notebooks/{n}.ipynb" for n in waiting))

# %% [markdown]
# How to read it:
#
# - **Most claims are about direction, and the tiny world often disagrees.** The papers measured 7-70B models
#   with judges and benchmarks; here a 1.8M-parameter model is scored by exact match on a world whose answers
#   are one string each. A claim that is "not shown" or "reversed" here is a measurement of *this* setting
#   (model size, budget, metric), not a refutation of the paper; a claim that "held" held here too.
# - **A verdict carries its uncertainty.** Each sentence gives the difference, its 95% interval, items x seeds
#   on each side and the MDE. "Not shown" means *inconclusive at that MDE*, not "equal"; with one seed on each
#   side nothing can be shown. Rows saved before per-item outcomes existed (notebooks 02-11 until they are
#   re-run) are compared unpaired, which is conservative: the paired comparison is sharper.
# - **Cost is part of the result.** Methods that sample (PPO, SuperHF) cost several times more per step than
#   the loss-side methods; the figure shows what that bought on `test`.
# - **Results that are missing are said to be missing.** Notebook 11 adds its rows when it is run;
#   this notebook then checks its claim with the same code.
#
# ## Publish it
#
# `sftkit leaderboard --html runs/leaderboard.html` writes the table, the figure and the claims as one file
# that opens without a network (the figure is embedded; no script, stylesheet or font is loaded). The same
# from Python, into your runs directory:

# %%
from sftkit.io import runs_dir

page = leaderboard.write_html(runs_dir() / "leaderboard.html", DIRECTORY)
print(f"wrote {shown(page)} ({page.stat().st_size // 1024} KiB)")

# %% [markdown]
# ## Exercises
#
# Hints and worked solutions are folded: click to open.
#
# **1. Add a claim.** Notebook 06 also ran its ablation with a sub-optimal source whose mistakes are scattered
# rather than systematic (`06_crlft_scattered`). Does full C-RLFT beat SFT on all the mixed data there?
#
# <details><summary>Hint</summary>
#
# A `Claim` names two `Side`s (label, notebook, method, variant); the variants are in the table above
# (notebook `06_crlft_scattered`). `check_claim(claim, ROWS)` computes the verdict.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# c = Claim("crlft", "OpenChat C-RLFT", "C-RLFT above SFT on the same mixed data, scattered mistakes",
#           Side("C-RLFT", "06_crlft_scattered", "crlft",
#                "condition=system,r_expert=1.0,r_sub=0.1,norm=token (scattered source, C-RLFT)"),
#           Side("SFT on all the mixed data", "06_crlft_scattered", "sft", "full (scattered source, mixed data)"))
# o = check_claim(c, ROWS)
# print(o.status, "-", o.detail)
# ```
# The verdict is computed from the saved rows; put it next to the systematic source's claim in the table
# above. Where the weaker source's mistakes are scattered, the gold answer stays the mixture's most common
# one, so plain SFT on everything has little to lose (notebook 06, section 4b).
# </details>
#
# **2. Another cost.** Draw exact match against *peak memory* instead of training time.
#
# <details><summary>Hint</summary>
#
# `results.summary(ROWS)` gives each row's `test_mean` and its mean `peak_mem_mb` (as text, "–" when not measured).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# rows = [r for r in results.summary(ROWS) if r["peak_mem_mb"] != "–" and r["test_mean"] is not None]
# fig, ax = plt.subplots(figsize=(8, 4))
# for method in sorted({r["method"] for r in rows}):
#     mine = [r for r in rows if r["method"] == method]
#     ax.scatter([float(r["peak_mem_mb"]) for r in mine], [100 * r["test_mean"] for r in mine], label=method)
# ax.set(xlabel="peak memory per step (MB)", ylabel="exact match on test (%)")
# ax.legend(fontsize=8)
# plt.show()
# ```
# On the 1.8M-parameter model the differences are small; the online methods, which train LoRA adapters only,
# use the least. On a large model the reference copy of DPO and RPO and the second forward pass of IFT are
# what separates them.
# </details>
#
# **3. What could each design detect?** For every measured claim, print its difference, its MDE and whether it
# was compared paired. Which "not shown" verdicts could not have been "held" whatever the method did?
#
# <details><summary>Hint</summary>
#
# Each measured outcome carries its `comparison` (`diff`, `ci`, `mde`, `verdict`, `note`).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# for o in OUTCOMES:
#     c = o.comparison
#     if c is not None:
#         kind = "unpaired" if "unpaired" in c.note else "paired"
#         print(f"{o.claim.method:9s} {o.status:9s} diff {o.claim.scale * c.diff:+7.1f}  MDE {o.claim.scale * c.mde:6.1f}"
#               f"  {kind}")
# ```
# A "not shown" claim whose MDE is larger than any effect the method could plausibly have here was never
# decidable by this design: more seeds, a larger split, or per-item outcomes (paired) would be needed. Read the
# printed numbers rather than this paragraph: they change when a notebook is re-run.
# </details>

# %%
print(f"this run: {time.time() - T0:.1f} s (it reads results and draws; nothing is trained)")
