"""Every method on one board: the seed papers' headline claims beside what the suite measured, the accuracy-vs-cost
figure, the per-skill heatmap, and the standalone HTML page `sftkit leaderboard --html PATH` writes.

Everything here reads the shared results files (`sftkit.results`) and trains nothing. The table is
`results.summary` through `results.table_cells`, the same code that writes docs/results.md's table; every verdict is
`stats.compare` (through `results.compare_rows`): paired on the same items when both sides saved per-item
outcomes, else unpaired from seed means (the verdict says which), printed as difference, 95% interval, n, MDE.

`CLAIMS` is the one place the papers' headline claims live, as data: each names the two sets of saved rows it
compares (`Side`: notebook, method, variant, split, metric) and the direction the paper reports. A claim whose
notebook has not saved results yet reads "not yet run"; one whose file exists but lacks the named rows says which
rows it looked for and what the file has, so a renamed variant shows up as a clear line, never as a wrong verdict.
"""
from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .io import SftkitError, atomic_write_text, results_dir
from .results import EXACT_MATCH, compare_rows, is_exact_match, item_table, load, mean_std, own_tests_cells, summary, table_cells
from .stats import RULE, Comparison, compare_means

# ----------------------------------------------------------------------------------------------------
# The claims: what each seed paper reports, and which saved rows test it here


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the saved rows of (notebook, method, variant) on `split` and `skill`, one
    value per seed (`accuracy` for exact match, else `value` of `metric`). `variant=None` accepts any variant
    when the rows have exactly one."""

    label: str
    notebook: str
    method: str
    variant: str | None
    split: str = "test"
    metric: str = EXACT_MATCH
    skill: str = "all"

    def matches(self, row: dict) -> bool:
        return (row.get("notebook") == self.notebook and row["method"] == self.method
                and (self.variant is None or row.get("variant") == self.variant) and row["split"] == self.split
                and row["skill"] == self.skill and row.get("metric", EXACT_MATCH) == self.metric)

    def describe(self) -> str:
        variant = "any variant" if self.variant is None else f"variant {self.variant!r}"
        return f"method {self.method!r}, {variant}, split {self.split!r}, metric {self.metric!r}"


@dataclass(frozen=True)
class Claim:
    """A seed paper's headline claim, as a comparison of two saved row sets: the paper reports `a` `expect`
    ("above" or "below") `b`. `scale` and `unit` print the measured gap (100, "points" for accuracies)."""

    method: str  # the method's registry name (`sftkit.methods.NAMES`)
    name: str  # the paper's short name ("; " between two papers, as in the method's `PAPER.arxiv`)
    reports: str  # what the paper reports, in its own setting (METHODS.md, the notebook's "What we saw")
    a: Side
    b: Side
    expect: str = "above"
    scale: float = 100.0
    unit: str = "points"

    @property
    def paper(self) -> str:
        """Short citation, e.g. "SFTMix 2410.05248": `name` with the arXiv id(s) of the method's `PAPER`."""
        from .methods import get  # imports the method's module: only when a claim is shown

        return "; ".join(f"{n} {i}" for n, i in zip(self.name.split("; "), get(self.method).paper.arxiv.split("; ")))


NAME = {"sft": "FLAN; InstructGPT", "sftmix": "SFTMix", "ift": "IFT", "dpo": "DPO", "rpo": "RPO", "crlft": "OpenChat C-RLFT",
        "ppo": "PPO for language understanding", "superhf": "SuperHF", "augcon": "AugCon", "skillmix": "Instruct-SkillMix",
        "selfdebug": "LEDEX"}  # each paper's short name; its arXiv id lives in the method's `PAPER`

SFT_FULL = Side("SFT (notebook 01)", "01_sft", "sft", "full")
SFTMIX_SMALL = Side("SFTMix, 16 records per skill", "02_sftmix", "sftmix", "mu=0.2 (16 per skill)")
DPO_TUNED = Side("DPO (tuned on dev)", "05_dpo_rpo", "dpo", "beta=0.1 (lr 3e-05, tuned on dev)")
RPO_PUSHED = "reduction=mean,beta=0.1,eta=0.2 (lr 0.001, {} labels)"
AUGCON_CREDIT = {"split": "test", "metric": "fact_credit"}  # 09's test documents, all granularities, per requested fact
AUGCON = Side("AugCon data (scorer)", "09_augcon", "augcon", "scorer,rouge=0.7", **AUGCON_CREDIT)
SKILLMIX_1K = "k=2,n=1000"
CRLFT = Side("C-RLFT (systematic source)", "06_crlft", "crlft",
             "condition=system,r_expert=1.0,r_sub=0.1,norm=token (systematic source, C-RLFT)")

CLAIMS: tuple[Claim, ...] = (
    Claim("sft", NAME["sft"],
          "instruction tuning turns a model that only continues text into one that follows instructions "
          "(FLAN: zero-shot gains on held-out tasks at 137B parameters)",
          SFT_FULL, Side("the base model, zero-shot", "01_sft", "base", "zero-shot")),
    Claim("sftmix", NAME["sftmix"],
          "SFTMix above NTP where NTP over-fits: MT-Bench 4.36 -> 4.58, AlpacaEval-2 LC 8.65 -> 10.32 "
          "(Llama-3.1-8B, Alpaca-52K, 3 epochs)",
          SFTMIX_SMALL, Side("NTP, 16 records per skill", "02_sftmix", "sft", "full (16 per skill)")),
    Claim("sftmix", NAME["sftmix"],
          "... because of the confidence split: Mixup of confident with unconfident examples, not any Mixup",
          SFTMIX_SMALL, Side("the same Mixup on random halves", "02_sftmix", "sftmix",
                             "mu=0.2,halves=random (16 per skill)")),
    Claim("ift", NAME["ift"],
          "IFT above SFT from the same data: Open-LLM average 59.61 vs 58.65, AlpacaEval-2 LC 13.27 vs 8.67 "
          "(Mistral-7B, UltraFeedback)",
          Side("IFT, 48 records per skill", "03_ift", "ift", "lambda=0.2,gamma=0.95,schedule=fixed (48 per skill)"),
          Side("SFT with IFT's sequence mean (lambda 0, gamma 0)", "03_ift", "ift",
               "lambda=0.0,gamma=0.0,schedule=fixed (48 per skill)")),
    Claim("ift", NAME["ift"],
          "on FrozenLake, IFT's transition-matrix MSE to the optimal policy is much lower than SFT's",
          Side("IFT's transition MSE", "04_ift_frozenlake", "ift", "frozenlake", split="policy", metric="transition_mse"),
          Side("SFT's", "04_ift_frozenlake", "sft", "frozenlake", split="policy", metric="transition_mse"),
          expect="below", scale=1e3, unit="x1e-3"),
    Claim("dpo", NAME["dpo"],
          "DPO improves on the SFT model it starts from, with no reward model and no sampling",
          DPO_TUNED, Side("its SFT start models", "05_dpo_rpo", "sft", "start (16 per skill, 120 steps)")),
    Claim("rpo", NAME["rpo"],
          "RPO (DPO + an SFT term) above DPO: AlpacaEval-2 LC 23.28 vs 21.15 (zephyr-beta), 15.51 vs 15.36 (gemma), "
          "with the 'sum' variant; here the official code's 'mean' variant (at the official eta, 'sum' equals DPO)",
          Side("RPO-mean (tuned on dev)", "05_dpo_rpo", "rpo", "reduction=mean,beta=0.1,eta=0.2 (lr 0.0003, tuned on dev)"),
          DPO_TUNED),
    Claim("rpo", NAME["rpo"],
          "... because its SFT term mitigates overoptimization: trained on a proxy reward model's labels, RPO keeps "
          "more true quality than DPO (lr 1e-3, a proxy 69% accurate on the pairs)",
          Side("RPO-mean on proxy labels", "05_dpo_rpo", "rpo", RPO_PUSHED.format("proxy")),
          Side("DPO on the same labels", "05_dpo_rpo", "dpo", "beta=0.1 (lr 0.001, proxy labels)")),
    Claim("crlft", NAME["crlft"],
          "full C-RLFT on mixed-quality data above SFT on the expert data alone: 77.3 vs 64.5 average score "
          "(Llama-2-13B, ~6K GPT-4 inside ~64K GPT-3.5 conversations)",
          CRLFT, Side("expert-only SFT", "06_crlft", "sft", "full (systematic source, expert data only)")),
    Claim("crlft", NAME["crlft"],
          "... and above plain SFT on the whole mixture, whose weaker source is systematically wrong",
          CRLFT, Side("SFT on everything", "06_crlft", "sft", "full (systematic source, mixed data)")),
    Claim("ppo", NAME["ppo"],
          "PPO + LoRA above SFT + LoRA by 6.3 points on GLUE (LLaMA2-7B)",
          Side("SFT -> PPO + LoRA (tuned on dev)", "07_ppo", "ppo", "SFT -> PPO + LoRA, tuned on dev", split="wide",
               metric="judgement_accuracy"),
          Side("SFT + LoRA", "07_ppo", "sft", "SFT + LoRA", split="wide", metric="judgement_accuracy")),
    Claim("superhf", NAME["superhf"],
          "SuperHF beats PPO-based RLHF on the training reward",
          Side("SuperHF (kl 0.35)'s proxy reward", "08_superhf", "superhf", "SuperHF kl=0.35", metric="proxy_reward"),
          Side("PPO's (β 0.2), same proxy and replies", "08_superhf", "ppo", "PPO beta=0.2", metric="proxy_reward"),
          unit="x0.01 reward"),
    Claim("superhf", NAME["superhf"],
          "... and trades reward against reward hacking more favourably than PPO: at the same proxy reward, more "
          "true quality (here: gold accuracy where the curves over each method's KL settings reach the same proxy reward)",
          Side("SuperHF's gold accuracy at the matched proxy reward", "08_superhf", "superhf", "SuperHF (KL sweep)",
               metric="gold_at_matched_proxy"),
          Side("PPO's", "08_superhf", "ppo", "PPO (KL sweep)", metric="gold_at_matched_proxy")),
    Claim("augcon", NAME["augcon"],
          "fine-tuning on AugCon's context-driven questions beats other ways of making SFT data from the same texts",
          AUGCON, Side("one question per document", "09_augcon", "one-per-doc", "root questions", **AUGCON_CREDIT)),
    Claim("augcon", NAME["augcon"],
          "the contrastive scorer's filter helps: TriviaQA 0.849 with it, 0.828 without",
          AUGCON, Side("the same pool ranked at random", "09_augcon", "augcon", "random ranking,rouge=0.7", **AUGCON_CREDIT)),
    Claim("skillmix", NAME["skillmix"],
          "instructions that need k = 2 random skills at once make strong instruction-tuning data "
          "(4K examples: 42.76% AlpacaEval-2 LC for LLaMA-3-8B-Base); here asked of three skill pairs the mixes never "
          "held, from start models that know each skill alone",
          Side("SkillMix k=2, 1K (lr tuned on dev)", "10_skillmix", "skillmix", SKILLMIX_1K, split="unseen-pair"),
          Side("single-skill k=1, 1K (lr tuned on dev)", "10_skillmix", "single-skill", "k=1,n=1000", split="unseen-pair")),
    Claim("skillmix", NAME["skillmix"],
          "20% lazy 'shirker' responses make the fine-tuned model much worse",
          Side("20% shirkers", "10_skillmix", "skillmix", f"{SKILLMIX_1K},junk=0.2", split="seen-pair"),
          Side("none", "10_skillmix", "skillmix", SKILLMIX_1K, split="seen-pair"), expect="below"),
    Claim("selfdebug", NAME["selfdebug"],
          "SFT on execution-verified explanation + refinement data raises pass@1 after refinement (by up to 15.92% "
          "over four benchmarks)",
          Side("SFT on LEDEX data", "11_selfdebug", "selfdebug", "LEDEX SFT", split="code-heldout",
               metric="pass@1 round 2"),
          Side("SFT on the same tasks' gold code + other tasks (size-matched)", "11_selfdebug", "sft",
               "gold code + other tasks", split="code-heldout", metric="pass@1 round 2")),
    Claim("selfdebug", NAME["selfdebug"],
          "RL (PPO) on the model's own debugging attempts adds to SFT: up to +3.54% pass@1",
          Side("LEDEX SFT -> PPO, own failures at fresh tasks", "11_selfdebug", "ppo",
               "LEDEX SFT -> PPO (50 steps, selfdebug reward)", split="code-heldout", metric="pass@1 round 2"),
          Side("LEDEX SFT", "11_selfdebug", "selfdebug", "LEDEX SFT", split="code-heldout", metric="pass@1 round 2")),
)


@dataclass(frozen=True)
class Outcome:
    """A claim checked against saved rows: `status` is "held", "not shown" (inconclusive), "reversed",
    "not yet run" (no results file for its notebook) or "rows missing" (`detail` says which)."""

    claim: Claim
    status: str
    detail: str
    comparison: Comparison | None = None


def side_rows(rows: list[dict], side: Side) -> tuple[list[dict], str]:
    """(the side's rows, one per seed, "") or ([], why not)."""
    picked = [r for r in rows if side.matches(r)]
    variants = sorted({str(r.get("variant")) for r in picked})
    if len(variants) > 1:
        return [], f"{len(variants)} variants match {side.describe()} ({'; '.join(variants)}): name one in the claim"
    if not picked:
        return [], f"no rows with {side.describe()}"
    return picked, ""


PROPORTIONS = ("judgement_accuracy", "pass@1", "proxy_reward", "gold_at_matched_proxy")  # metrics (besides exact
# match) that are a share of n items (08's proxy scores each item 0 or 1; its matched gold accuracy is interpolated)


def paired_items(a: list[dict], b: list[dict], split: str) -> bool:
    """Both sides saved per-item scores of the same items on `split` (any metric: `results.item_table`)."""
    keys = [{r.get("items_key") for r in rows if r["split"] == split} for rows in (a, b)]
    return item_table(a, split) is not None and item_table(b, split) is not None and keys[0] == keys[1]


def side_comparison(claim: Claim, a: list[dict], b: list[dict]) -> Comparison:
    """`stats.compare` of the two sides: paired per item where both saved per-item scores of the same items
    (`results.compare_rows`; exact match, or a metric saved with its items); otherwise from seed means, with a
    binomial item part when the metric is a share of n items, else the seed spread alone (`stats.compare_means`)."""
    if claim.a.skill == "all" and claim.a.split == claim.b.split and (
            claim.a.metric == EXACT_MATCH or paired_items(a, b, claim.a.split)):
        return compare_rows(a, b, claim.a.split)
    means = [[r["accuracy"] if r.get("accuracy") is not None and side.metric == EXACT_MATCH else r["value"]
              for r in sorted(rows, key=lambda r: str(r["seed"]))] for side, rows in ((claim.a, a), (claim.b, b))]
    share = claim.a.metric == EXACT_MATCH or claim.a.metric.startswith(PROPORTIONS)
    ns = [r.get("n") for r in a + b]
    return compare_means(*means, n=min(ns) if share and ns and None not in ns else None)


def check_claim(claim: Claim, rows: list[dict]) -> Outcome:
    """Apply the suite's one comparison (`stats.compare`) to the claim's two row sets."""
    notebooks = {r.get("notebook") for r in rows}
    missing = sorted({s.notebook for s in (claim.a, claim.b)} - notebooks)
    if missing:
        return Outcome(claim, "not yet run", f"run notebooks/{missing[0]}.ipynb (no results/{missing[0]}.jsonl yet)")
    (a, why_a), (b, why_b) = side_rows(rows, claim.a), side_rows(rows, claim.b)
    if not a or not b:
        side = claim.a if not a else claim.b
        have = sorted({(r["method"], str(r.get("variant")), r["split"], r.get("metric", EXACT_MATCH))
                       for r in rows if r.get("notebook") == side.notebook and r["skill"] == "all"})
        shown = "; ".join("/".join(h) for h in have[:6]) + (f"; ... ({len(have)} in all)" if len(have) > 6 else "")
        return Outcome(claim, "rows missing", f"results/{side.notebook}.jsonl: {why_a or why_b}; it has (method/variant/"
                       f"split/metric) {shown}")
    c = side_comparison(claim, a, b)
    status = "held" if c.verdict == claim.expect else ("not shown" if not c.differs else "reversed")
    on = claim.a.split if claim.a.split == claim.b.split else f"{claim.a.split} / {claim.b.split}"
    return Outcome(claim, status, c.sentence(claim.a.label, f"{claim.b.label} on {on}", unit=claim.unit,
                                             scale=claim.scale), c)


def check_claims(rows: list[dict], claims: tuple[Claim, ...] = CLAIMS) -> list[Outcome]:
    return [check_claim(c, rows) for c in claims]


VERDICT_WORDS = {"held": "held", "not shown": "not shown (inconclusive)",
                 "reversed": "reversed (the opposite direction)", "not yet run": "not yet run", "rows missing": "rows missing"}


def claims_table(outcomes: list[Outcome]) -> str:
    """A Markdown table: method, paper, what the paper reports, what we measured (the rule's sentence), verdict."""
    lines = ["| method | paper | the paper reports | we measured here | held? |", "|---|---|---|---|---|"]
    for o in outcomes:
        cells = [o.claim.method, o.claim.paper, o.claim.reports, o.detail, f"**{VERDICT_WORDS[o.status]}**"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def missing_notebooks(rows: list[dict]) -> list[tuple[str, str]]:
    """(method, notebook) for every registered method (`sftkit.methods.NAMES`) whose notebook saved no rows."""
    from .methods import all_methods

    notebooks = {r.get("notebook") for r in rows}
    return [(m.name, m.paper.notebook) for m in all_methods() if m.paper.notebook not in notebooks]


# ----------------------------------------------------------------------------------------------------
# Cost, skills, the figure


def cost_points(rows: list[dict], split: str = "test") -> list[dict]:
    """One point per (notebook, method, variant, model) with exact match on `split` and a measured cost:
    {"notebook", "method", "variant", "model", "seeds", "acc" (per seed), "seconds" (per seed)}. A run's cost
    is its `train_seconds`, else `step_time_s` x `steps` (wall time on the machine that ran the notebook)."""
    groups: dict[tuple, dict] = defaultdict(dict)
    for r in rows:
        if r["split"] != split or r["skill"] != "all" or not is_exact_match(r):
            continue
        seconds = r.get("train_seconds")
        if seconds is None and r.get("step_time_s") is not None and r.get("steps"):
            seconds = r["step_time_s"] * r["steps"]
        if seconds is not None:
            acc = r["accuracy"] if r.get("accuracy") is not None else r["value"]
            groups[(r["notebook"], r["method"], r["variant"] or "", r["model"])][r["seed"]] = (acc, seconds)
    return [{"notebook": n, "method": m, "variant": v, "model": mo, "seeds": len(by_seed),
             "acc": [a for a, _ in by_seed.values()], "seconds": [s for _, s in by_seed.values()]}
            for (n, m, v, mo), by_seed in groups.items()]


def cost_figure(rows: list[dict], ax=None, split: str = "test"):
    """Exact match on `split` (%) against training seconds, one point per (notebook, method, variant), error bars
    = std over seeds on both axes, one colour per method. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    points = cost_points(rows, split)
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 5))
    fig = ax.figure
    methods = list(dict.fromkeys(p["method"] for p in points))
    colours = {m: plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")(i) for i, m in enumerate(methods)}
    for method in methods:
        mine = [p for p in points if p["method"] == method]
        xs, xerr = zip(*(mean_std(p["seconds"]) for p in mine))
        ys, yerr = zip(*(mean_std(p["acc"]) for p in mine))
        ax.errorbar(xs, [100 * y for y in ys], xerr=xerr, yerr=[100 * e for e in yerr], fmt="o", capsize=3,
                    color=colours[method], label=method, alpha=0.85)
    ax.set_xlabel("training time per run (s, on the machine that ran the notebook)")
    ax.set_ylabel(f"exact match on {split} (%)")
    ax.set_title(f"accuracy against cost: {len(points)} runs, mean ± std over seeds")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    if methods:
        ax.legend(fontsize=8, loc="best")
    return fig


def skill_matrix(rows: list[dict], split: str = "test") -> tuple[list[str], list[str], list[list[float | None]]]:
    """(row labels, skills, mean exact match per row and skill, None where not measured): one row per registered
    method (`sftkit.methods.NAMES`; an oracle such as best-of-N with gold picks is an upper bound, not a method). Its
    (notebook, variant) is the one the method's first claim in `CLAIMS` compares when that side is measured by
    skill on `split` (the paper's own variant), else the one with the most seeds and then the highest mean `split`
    accuracy; the labels name both."""
    from .methods import NAMES  # rows of registered methods only: baselines and oracles (best-of-N) are not methods

    em = [r for r in rows if r["split"] == split and is_exact_match(r) and r["method"] in NAMES]
    per_group: dict[tuple, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for r in em:
        acc = r["accuracy"] if r.get("accuracy") is not None else r["value"]
        per_group[(r["method"], r["notebook"], r["variant"] or "")][r["skill"]][r["seed"]] = acc
    headline = {}
    for claim in CLAIMS:
        side = claim.a
        if claim.method not in headline and side.metric == EXACT_MATCH and side.split == split and side.variant:
            headline[claim.method] = (side.method, side.notebook, side.variant)
    best: dict[str, tuple] = {}
    for key, skills in per_group.items():
        if "all" not in skills or len(skills) < 2:
            continue
        rank = (key == headline.get(key[0]), len(skills["all"]), mean_std(list(skills["all"].values()))[0])
        if key[0] not in best or rank > best[key[0]][0]:
            best[key[0]] = (rank, key)
    skills = sorted({s for _, key in best.values() for s in per_group[key]} - {"all"})
    labels, matrix = [], []
    for method, (_, key) in best.items():
        labels.append(f"{method} ({key[2] or '–'}; {key[1]})")
        matrix.append([mean_std(list(per_group[key][s].values()))[0] if per_group[key].get(s) else None for s in skills])
    return labels, skills, matrix


def skill_heatmap(rows: list[dict], ax=None, split: str = "test"):
    """The `skill_matrix` as a heatmap with each cell's exact match (%) written in it. Returns the Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    labels, skills, matrix = skill_matrix(rows, split)
    grid = np.array([[np.nan if v is None else 100 * v for v in row] for row in matrix]) if matrix else np.zeros((0, 0))
    if ax is None:
        fig, ax = plt.subplots(figsize=(1 + 0.8 * max(len(skills), 1), 1 + 0.45 * max(len(labels), 1)))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, "–" if np.isnan(v) else f"{v:.0f}", ha="center", va="center", fontsize=8,
                    color="white" if np.isnan(v) or v < 60 else "black")
    ax.set_xticks(range(len(skills)), skills, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("skill")
    ax.set_title(f"exact match on {split} by skill (%), mean over seeds")
    ax.figure.colorbar(im, ax=ax, label="exact match (%)")
    return ax.figure


# ----------------------------------------------------------------------------------------------------
# The standalone page


def png_data_uri(fig) -> str:
    """A matplotlib figure as a `data:image/png;base64,...` URI (the page needs no file beside it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 .8em;color:#222}
.wide{overflow-x:auto}@media (max-width:700px){body{margin:1em auto}table{font-size:12px}h1{font-size:1.4em}}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
.held{color:#176b1d}.reversed{color:#a11}.note{color:#555;font-size:13px}"""


def _html_table(head: list[str], body: list[list[str]], numeric_from: int = 0, classes: list[str] | None = None) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for i, cells in enumerate(body):
        cls = f' class="{classes[i]}"' if classes else ""
        out.append(f"<tr{cls}>" + "".join(f'<td{" class=n" if numeric_from and j >= numeric_from else ""}>'
                                          f"{html.escape(c)}</td>" for j, c in enumerate(cells)) + "</tr>")
    return "\n".join(out + ["</table>"])


def html_page(rows: list[dict], title: str = "sftkit leaderboard") -> str:
    """The standalone page: the leaderboard table (the README's columns), the accuracy-vs-cost figure as an
    embedded PNG, and the papers' claims with their verdicts. No external URL, script or stylesheet."""
    import matplotlib.pyplot as plt

    head, body = table_cells(summary(rows))
    fig = cost_figure(rows)
    try:
        figure = png_data_uri(fig)
    finally:
        plt.close(fig)
    outcomes = check_claims(rows)
    claims = _html_table(["method", "paper", "the paper reports", "we measured here", "held?"],
                         [[o.claim.method, o.claim.paper, o.claim.reports, o.detail, VERDICT_WORDS[o.status]]
                          for o in outcomes], classes=[o.status.replace(" ", "-") for o in outcomes])
    own_head, own_body = own_tests_cells(rows)
    own = (f'<h2>Notebooks\' own test sets</h2>\n<p class="note">Exact match (%) on test sets a notebook builds itself, '
           f'mean ± std over seeds.</p>\n<div class="wide">{_html_table(own_head, own_body, numeric_from=3)}</div>\n'
           if own_head else "")
    note = ("Exact match (%) on the tiny world's test split and its four shifts, mean ± std over seeds; step time and "
            "peak memory per optimizer step on the machine that ran each notebook. Generated by "
            "<code>sftkit leaderboard --html</code> from <code>results/*.jsonl</code>.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{note}</p>
<div class="wide">{_html_table(head, body, numeric_from=4)}</div>
{own}<h2>Accuracy against cost</h2>
<img alt="exact match on test against training seconds, one point per run, error bars over seeds" src="{figure}">
<h2>The papers' claims, checked here</h2>
<p class="note">{html.escape(RULE)} The papers measured other models on other benchmarks: only the direction of
each claim is tested.</p>
<div class="wide">{claims}</div>
</body></html>
"""


def check_page_path(path: str | Path) -> Path:
    """`path` as a Path, or one `SftkitError` line: a directory, or a file where a directory should be."""
    path = Path(path)
    if path.is_dir():
        raise SftkitError(f"{path}: is a directory; give the page's file name, e.g. {path / 'leaderboard.html'}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SftkitError(f"{path}: {parent} is a file, not a directory")
    return path


def write_html(path: str | Path, directory: str | Path | None = None) -> Path:
    """Write `html_page` of every results file in `directory` (default `io.results_dir()`) to `path`, atomically
    (a temporary file in the same directory, then `os.replace`): an interrupted write leaves the previous page."""
    directory = Path(directory or results_dir())
    rows = load(directory)
    if not rows:
        raise SftkitError(f"{directory}: no results yet; run a notebook first")
    path = check_page_path(path)
    page = html_page(rows)
    try:
        atomic_write_text(path, page)
    except OSError as e:
        raise SftkitError(f"{path}: cannot write the page ({e.strerror or e})") from None
    return path


__all__ = ["CLAIMS", "Claim", "Outcome", "Side", "check_claim", "check_claims", "claims_table", "cost_figure",
           "cost_points", "html_page", "missing_notebooks", "skill_heatmap", "skill_matrix", "write_html"]
