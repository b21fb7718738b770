"""Figures and HTML views shared by the notebooks (matplotlib; HTML strings for `IPython.display.HTML`)."""
from __future__ import annotations

import html
from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np

from .data import IGNORE
from .results import accuracies, mean_std
from .world import EVAL_SPLITS


def source_of(fn) -> str:
    """The source of `fn` without its docstring: the code a notebook shows next to its equation."""
    import inspect

    quotes = chr(34) * 3
    return inspect.getsource(fn).replace(f"    {quotes}{fn.__doc__}{quotes}\n", "")


def moving_average(values: list[float], window: int) -> np.ndarray:
    """Means of each `window` consecutive values: [len(values) - window + 1] (a training curve, smoothed)."""
    return np.convolve(np.asarray(values, dtype=float), np.ones(window) / window, mode="valid")


def loss_curves(curves: dict[str, list[tuple[list[int], list[float]]]], ax=None, title="training loss"):
    """Plot loss vs step; `curves` maps a label to one (steps, losses) pair per seed (mean line, min-max band)."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for label, runs in curves.items():
        steps = runs[0][0]
        ys = np.array([r[1][:len(steps)] for r in runs])
        ax.plot(steps, ys.mean(0), label=f"{label} (n={len(runs)})")
        if len(runs) > 1:
            ax.fill_between(steps, ys.min(0), ys.max(0), alpha=0.2)
    ax.set(xlabel="optimizer step", ylabel="loss", title=title, yscale="log")
    ax.legend()
    return ax


def accuracy_bars(results: dict[str, dict[str, list[float]]], ax=None, title="exact match by skill", xlabel=None):
    """Grouped bars: `results` maps a model label to {skill (or split): accuracies over seeds}; error bars = std.

    A bar whose mean is 0 has no height, so it is labelled "0" (in the bar's colour) just above the axis,
    and a skill a model has no accuracies for is labelled "n/a" instead of being drawn as a zero.
    """
    ax = ax or plt.subplots(figsize=(10, 3.5))[1]
    skills = list(next(iter(results.values())))
    skills = [s for s in skills if s != "all"] + (["all"] if "all" in skills else [])
    width = 0.8 / len(results)
    x = np.arange(len(skills))
    for i, (label, by_skill) in enumerate(results.items()):
        stats = [mean_std(by_skill[s]) if by_skill.get(s) else (np.nan, 0.0) for s in skills]
        xs = x + i * width - 0.4 + width / 2
        bars = ax.bar(xs, [100 * m for m, _ in stats], width, yerr=[100 * s for _, s in stats], label=label,
                      capsize=2)
        colour = bars.patches[0].get_facecolor() if bars.patches else None
        for xi, (m, _) in zip(xs, stats):
            text = "n/a" if np.isnan(m) else "0" if m == 0 else None
            if text:
                ax.text(xi, 1, text, ha="center", va="bottom", fontsize=8, color=colour, rotation=90 * (text == "n/a"))
    ax.set_xticks(x, skills, rotation=30)
    ax.set(ylabel="exact match %", ylim=(0, 105), title=title)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, ncol=len(results))
    return ax


def split_bars(runs: dict[str, list[dict]], splits: tuple[str, ...] = EVAL_SPLITS, ax=None,
               title="exact match on test and each shift"):
    """Grouped bars of overall exact match per split (x) for each label of `runs` (label -> schema rows),
    mean ± std over seeds: how a method moves `test` and each shift at once."""
    return accuracy_bars({label: {s: accuracies(rows, s) for s in splits} for label, rows in runs.items()},
                         ax=ax, title=title, xlabel="split")


def fit_curves(histories: dict[str, list[dict]], axes=None, title: str = ""):
    """Over-fitting at a glance, from `Probe(sftkit.experiment.fit_probe(...))` entries in a training history
    (label -> history): left, the answer NLL on the training data (dashed) and on dev (solid) against the step;
    right, dev exact match. The gap between dashed and solid is what the model learned only by heart."""
    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(11, 3.2))[1]
    for k, (label, history) in enumerate(histories.items()):
        points = [h for h in history if "dev_nll" in h]
        steps = [h["step"] for h in points]
        colour = plt.cm.tab10(k)
        axes[0].plot(steps, [h["train_nll"] for h in points], ls="--", color=colour, label=f"{label}: train")
        axes[0].plot(steps, [h["dev_nll"] for h in points], ls="-", color=colour, label=f"{label}: dev")
        axes[1].plot(steps, [100 * h["dev_em"] for h in points], marker="o", ms=3, color=colour, label=label)
    axes[0].set(xlabel="optimizer step", ylabel="answer NLL per token", yscale="log", title=title or "train vs dev loss")
    axes[1].set(xlabel="optimizer step", ylabel="dev exact match %", ylim=(0, 100), title="dev exact match")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    return axes


def token_span(text: str, colour: str, title: str = "") -> str:
    """One token as a coloured monospace chip (spaces shown as ·, newlines as ⏎), with an optional tooltip."""
    shown = html.escape(text.replace(" ", "·").replace("\n", "⏎"))
    tip = f' title="{title}"' if title else ""
    return (f'<span{tip} style="background:{colour};padding:1px;margin:1px;border-radius:3px;'
            f'font-family:monospace">{shown}</span>')


def mask_html(tokenizer, example: dict) -> str:
    """A tokenized example as coloured tokens: green = trained on (answer), grey = masked (IGNORE)."""
    spans = [token_span(tokenizer.decode([tok]), "#b7e4c7" if lab != IGNORE else "#e9ecef")
             for tok, lab in zip(example["input_ids"], example["labels"])]
    return "<div style='line-height:2'>" + "".join(spans) + "</div>"


def token_values_html(tokens: list[str], values: list[float], scale: float | None = None) -> str:
    """Tokens on a diverging background: green for positive values (e.g. PPO advantages), red for
    negative, white at 0; `scale` is the value of full colour (default: the largest |value|). The value is
    in each token's tooltip."""
    scale = scale or max((abs(v) for v in values), default=1.0) or 1.0
    spans = []
    for tok, v in zip(tokens, values):
        a = min(abs(v) / scale, 1.0)
        rgb = (int(255 - 120 * a), 255, int(255 - 120 * a)) if v >= 0 else (255, int(255 - 120 * a), int(255 - 120 * a))
        spans.append(token_span(tok, f"rgb{rgb}", title=f"{v:+.3f}"))
    return "<span style='line-height:2'>" + "".join(spans) + "</span>"


def samples_html(predictions: dict[str, list[dict]], n: int = 10, ids: list[str] | None = None) -> str:
    """Side-by-side table: prompt, gold answer, and each model's answer (green when exactly right)."""
    first = next(iter(predictions.values()))
    ids = ids or [r["id"] for r in first[:n]]
    index = {label: {r["id"]: r for r in rows} for label, rows in predictions.items()}
    head = "".join(f"<th>{html.escape(label)}</th>" for label in predictions)
    body = []
    for i in ids:
        ref = index[next(iter(index))][i]
        cells = "".join(
            f"<td style='background:{'#d8f3dc' if index[l][i]['correct'] else '#ffe3e3'};font-family:monospace'>"
            f"{html.escape(index[l][i]['prediction'])}</td>" for l in predictions)
        body.append(f"<tr><td>{html.escape(ref['skill'])}</td><td>{html.escape(ref['prompt'])}</td>"
                    f"<td style='font-family:monospace'>{html.escape(ref['answer'])}</td>{cells}</tr>")
    return (f"<table><tr><th>skill</th><th>prompt</th><th>gold</th>{head}</tr>" + "".join(body) + "</table>")


def tree(nodes: list, ax=None, wrap: int = 26, title: str = "", marks: dict[int, str] | None = None):
    """Draw one Context-Split-Tree (`sftkit.methods.augcon.Node`s of one round, parents indexing into the
    list): a box per node at its depth (y, root on top), leaves spread left to right, each box the node's
    question and the length of its context in characters (its granularity). `marks` maps a node index to a
    colour (e.g. kept vs dropped by the filter)."""
    import textwrap

    children: dict = defaultdict(list)
    for i, n in enumerate(nodes):
        children[n.parent].append(i)
    x: dict[int, float] = {}

    def place(i: int, left: float) -> float:  # -> the next free x after i's subtree
        if not children[i]:
            x[i] = left
            return left + 1
        for c in children[i]:
            left = place(c, left)
        x[i] = float(np.mean([x[c] for c in children[i]]))
        return left

    free = 0.0
    for root in children[None]:
        free = place(root, free)
    depth = max(n.depth for n in nodes)
    ax = ax or plt.subplots(figsize=(max(8, 1.9 * free), 1.6 * (depth + 1)))[1]
    for i, n in enumerate(nodes):
        if n.parent is not None:
            ax.plot([x[n.parent], x[i]], [-nodes[n.parent].depth, -n.depth], color="0.6", lw=1, zorder=1)
    for i, n in enumerate(nodes):
        text = textwrap.fill(n.question, wrap) + f"\n[{len(n.context)} chars]"
        ax.text(x[i], -n.depth, text, ha="center", va="center", fontsize=7, zorder=2,
                bbox=dict(boxstyle="round", fc=(marks or {}).get(i, "white"), ec="0.5"))
    ax.set(xlim=(-0.7, free - 0.3), ylim=(-depth - 0.6, 0.6), title=title)
    ax.set_yticks([-d for d in range(depth + 1)], [f"depth {d}" for d in range(depth + 1)])
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    return ax


def false_verdict_rates(rates: dict[str, dict[str, float]], ax=None, level: float = 0.05,
                        title="two identical methods: how often a verdict says they differ"):
    """Bars of the share of simulated designs (label -> `stats.rates` result) in which the retired rule and
    `stats.compare` call two identical methods different, with the 5% a verdict promises as a line."""
    ax = ax or plt.subplots(figsize=(7, 3.2))[1]
    x = np.arange(len(rates))
    for offset, key, name, colour in ((-0.2, "old_rule", "retired rule: gap > larger seed std", "#c44e52"),
                                      (0.2, "compare", "stats.compare: 95% interval excludes 0", "#4c72b0")):
        values = [100 * r[key] for r in rates.values()]
        bars = ax.bar(x + offset, values, 0.4, label=name, color=colour)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.axhline(100 * level, color="black", lw=0.8, ls="--")
    ax.set_xticks(x, list(rates))
    ax.set_ylabel("false 'differs' (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return ax


def mde_curves(mdes: dict[str, dict[int, float]], ax=None, target: float = 5.0,
               title="the smallest difference a design detects (80% power)"):
    """Lines of MDE in points against the number of items, one per label (e.g. "3 v 3 seeds"): {label: {n: mde}}."""
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    for label, by_n in mdes.items():
        ns = sorted(by_n)
        ax.plot(ns, [100 * by_n[n] for n in ns], marker="o", label=label)
    ax.axhline(target, color="black", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("items in the split (n)")
    ax.set_ylabel("MDE (points)")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return ax
