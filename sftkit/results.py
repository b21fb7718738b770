"""The shared results schema: every notebook saves what it measured here; the leaderboard is built from it.

One JSONL file per notebook, `results/<notebook>.jsonl`, one row per (method, variant, seed, split, skill):

    {"notebook", "method", "variant", "model", "seed", "split", "skill", "n", "correct", "accuracy",
     "steps", "step_time_s", "peak_mem_mb", "train_seconds", "device", "sftkit_version", "metric", "value",
     "train_config"}

skill "all" is the split's overall exact match; its row also holds the per-item outcomes, `items` (one character
per item in the split's order, "1" right and "0" wrong; a list of fractions for partial credit) and `items_key`
(a hash of the item ids, so two runs are paired only on the same items): what `stats.compare` reads
(`item_table`). Rows saved before per-item outcomes existed lack both and are compared unpaired.
`train_config` holds the training settings
(`experiment.train_settings`) so a saved baseline is reused only on an exact match. `metric` is
"exact_match" (then `value` = `accuracy`) for language-model evaluations; notebooks that measure something
else (e.g. FrozenLake's success rate and transition-matrix MSE) write `metric_row`s with their own `metric`
and `value` and no `accuracy`. Rows without `metric` (older files) are exact match. A notebook rewrites its
own file on every run (atomically).
"""
from __future__ import annotations

import hashlib
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import __version__, stats
from .evaluate import accuracy
from .io import (
    REPO_RESULTS,
    SftkitError,
    atomic_write_text,
    read_jsonl,
    replace_marked_block,
    results_dir,
    runs_dir,
    shown,
    write_jsonl,
)
from .world import EVAL_SPLITS

FIELDS = ("notebook", "method", "variant", "model", "seed", "split", "skill", "n", "correct", "accuracy",
          "steps", "step_time_s", "peak_mem_mb", "train_seconds", "device", "sftkit_version", "metric", "value",
          "train_config", "items_key", "items")
EXACT_MATCH = "exact_match"


# ----------------------------------------------------------------------------------------------------
# Statistics over seeds, and the suite's one comparison rule


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_mean_std(values: list[float], percent: bool = True) -> str:
    m, s = mean_std(values)
    scale = 100 if percent else 1
    return f"{m * scale:.1f} ± {s * scale:.1f}" if len(values) > 1 else f"{m * scale:.1f}"


def accuracies(rows: list[dict], split: str = "test", skill: str = "all", **filters) -> list[float]:
    """One accuracy per seed, in seed order, from schema rows (`rows_from_eval` / `results.load`) or a
    `Run`'s rows: the rows of `split` and `skill` whose other fields match `filters` (e.g. method="sft",
    variant="full"). Replaces per-notebook helpers such as `overall` or `split_acc`."""
    picked = {r["seed"]: r["accuracy"] for r in rows
              if r["split"] == split and r["skill"] == skill and all(r.get(k) == v for k, v in filters.items())}
    return [picked[s] for s in sorted(picked)]


def by_skill(rows: list[dict], split: str = "test", **filters) -> dict[str, list[float]]:
    """{skill: accuracies over seeds} for every skill in `rows` of `split` (skill "all" last), e.g. for
    `plots.accuracy_bars`."""
    skills = sorted({r["skill"] for r in rows if r["split"] == split}, key=lambda s: (s == "all", s))
    return {s: accuracies(rows, split, skill=s, **filters) for s in skills}


def split_table(runs: dict[str, list[dict]], splits: tuple[str, ...] = EVAL_SPLITS, extra: dict | None = None) -> str:
    """A Markdown table, one row per label of `runs` (label -> schema rows), one column per split: exact
    match %, mean ± std over seeds ("–" where a run has no such split). `extra` adds columns:
    {column name: {label: text}}."""
    extra = extra or {}
    head = ["model", "seeds", *(f"{s} EM %" for s in splits), *extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, rows in runs.items():
        cells = [fmt_mean_std(accuracies(rows, s)) if accuracies(rows, s) else "–" for s in splits]
        seeds = max(len(accuracies(rows, s)) for s in splits)
        lines.append("| " + " | ".join([label, str(seeds), *cells, *(col.get(label, "") for col in extra.values())])
                     + " |")
    return "\n".join(lines)


def items_key(ids: list[str]) -> str:
    """A short hash naming an ordered list of item ids: equal keys, same items in the same order."""
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()[:16]


def encode_items(scores: list[float]) -> str | list[float]:
    """Per-item scores as saved: a string of "0"/"1" when every score is 0 or 1, else a list of rounded floats."""
    if all(s in (0, 1) for s in scores):
        return "".join("1" if s else "0" for s in scores)
    return [fixed(float(s)) for s in scores]


def decode_items(items: str | list[float]) -> list[float]:
    return [float(c) for c in items] if isinstance(items, str) else [float(x) for x in items]


def rows_from_eval(eval_rows: list[dict], **run) -> list[dict]:
    """Turn per-example evaluation rows into schema rows, one per (split, skill), tagged with `run` fields
    (method, variant, model, seed, steps, step_time_s, peak_mem_mb, train_seconds, device). Each split's "all"
    row carries its per-item outcomes (`items`, `items_key`), in evaluation order."""
    per_split: dict[str, list[dict]] = defaultdict(list)
    for r in eval_rows:
        per_split[r["split"]].append(r)
    out = []
    for (split, skill), acc in accuracy(eval_rows).items():
        row = {"notebook": None, **run, "split": split, "skill": skill, **acc, "sftkit_version": __version__,
               "metric": EXACT_MATCH, "value": acc["accuracy"]}
        if skill == "all":
            row["items_key"] = items_key([r.get("id", str(i)) for i, r in enumerate(per_split[split])])
            row["items"] = encode_items([float(r["correct"]) for r in per_split[split]])
        out.append({k: row.get(k) for k in FIELDS})
    return out


def item_table(rows: list[dict], split: str = "test", **filters) -> np.ndarray | None:
    """Per-item scores (seeds, items) of the "all" rows of `split` matching `filters`, in seed order, for
    `stats.compare`; None when a seed lacks per-item outcomes or the seeds scored different items."""
    picked = sorted((r for r in rows if r["split"] == split and r["skill"] == "all"
                     and all(r.get(k) == v for k, v in filters.items())), key=lambda r: str(r["seed"]))
    if not picked or any(r.get("items") is None for r in picked) or len({r.get("items_key") for r in picked}) > 1:
        return None
    return np.array([decode_items(r["items"]) for r in picked])


def compare_rows(a: list[dict], b: list[dict], split: str = "test") -> stats.Comparison:
    """`stats.compare` of two runs' rows on `split` ("all" rows, one per seed): paired on the same items when
    both saved per-item outcomes of the same items; otherwise (rows saved before per-item outcomes) unpaired,
    from the seed means and n (`stats.compare_means`)."""
    ta, tb = item_table(a, split), item_table(b, split)
    keys = [{r.get("items_key") for r in rows if r["split"] == split and r["skill"] == "all"} for rows in (a, b)]
    if ta is not None and tb is not None and keys[0] == keys[1]:
        return stats.compare(ta, tb)
    picked = [sorted((r for r in rows if r["split"] == split and r["skill"] == "all"), key=lambda r: str(r["seed"]))
              for rows in (a, b)]
    means = [[r["accuracy"] if r.get("accuracy") is not None else r["value"] for r in side] for side in picked]
    ns = [r.get("n") for side in picked for r in side]
    return stats.compare_means(*means, n=min(ns) if ns and None not in ns else None)


def metric_row(metric: str, value: float, split: str, **run) -> dict:
    """One schema row for a measurement that is not exact match: e.g. `metric_row("success_rate", 0.9,
    "slippery", method="ift", seed=0, n=200)`. `run` may set any other schema field (skill defaults to "all")."""
    row = {"skill": "all", **run, "split": split, "metric": metric, "value": float(value),
           "sftkit_version": __version__}
    unknown = set(row) - set(FIELDS)
    if unknown:
        raise SftkitError(f"unknown results fields {sorted(unknown)}; the schema has {list(FIELDS)}")
    return {k: row.get(k) for k in FIELDS}


def is_exact_match(row: dict) -> bool:
    return row.get("metric", EXACT_MATCH) == EXACT_MATCH


DIGITS = 6  # significant digits of every float a results file holds


def fixed(value):
    """A float rounded to `DIGITS` significant digits (other values unchanged), so a rerun whose numbers
    differ only in the last bits (thread scheduling, summation order) writes the same bytes."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{DIGITS}g}")
    return value


def run_keys(rows: list[dict]) -> set[tuple]:
    """What identifies the runs of `rows`: (method, variant, seed, steps, learning rate, batch size) per row (the
    last two from `train_config` where the row has one)."""
    return {(r.get("method"), r.get("variant"), r.get("seed"), r.get("steps"),
             *((r.get("train_config") or {}).get(k) for k in ("lr", "batch_size"))) for r in rows}


def destination(notebook: str, rows: list[dict], directory: str | Path | None = None) -> Path:
    """Where `save` / `update` write `notebook`'s rows. The repository's committed `results/` is only refreshed by
    runs it already holds, with the same settings (a re-run with the notebook's defaults, or a resumed one), or
    when `SFTKIT_UPDATE_RESULTS=1` (`sftkit tutorial --update-results`): a run with other parameters (papermill
    `-p`, an edited parameters cell, fewer seeds) goes to `runs/results/<notebook>.jsonl` instead, with one line
    saying so, so it never overwrites the reference numbers. A directory chosen explicitly (`directory`,
    `$SFTKIT_RESULTS`, as the tests do) is written as asked."""
    if directory is not None or os.environ.get("SFTKIT_RESULTS") or os.environ.get("SFTKIT_UPDATE_RESULTS") == "1":
        return Path(directory or results_dir()) / f"{notebook}.jsonl"
    committed = Path(results_dir()) / f"{notebook}.jsonl"
    if committed.parent.resolve() != REPO_RESULTS.resolve() or not committed.exists():
        return committed
    if run_keys(rows) <= run_keys(read_jsonl(committed)):
        return committed
    elsewhere = runs_dir() / "results" / f"{notebook}.jsonl"
    print(f"results: these runs' settings differ from the committed {notebook} results, so they go to {shown(elsewhere)} "
          "(results/ keeps the reference numbers; SFTKIT_UPDATE_RESULTS=1 or `sftkit tutorial --update-results` "
          "replaces them)")
    return elsewhere


def save(notebook: str, rows: list[dict], directory: str | Path | None = None) -> Path:
    """Write `rows` as <results>/<notebook>.jsonl (replacing the previous run's file atomically) and return
    its path. The results directory is `io.results_dir()`: the repository's results/, or a per-user one in a
    read-only or shared checkout (it prints one line saying where). Top-level floats (accuracy, value,
    step_time_s, peak_mem_mb, train_seconds) are written with `DIGITS` significant digits; `train_config`
    is written as given (baselines are matched on it exactly). Measured times and memory still differ
    between runs: only the deterministic numbers repeat byte for byte."""
    path = destination(notebook, rows, directory)
    write_jsonl(path, [{**{k: fixed(r.get(k)) for k in FIELDS}, "notebook": notebook} for r in rows])
    return path


def update(notebook: str, rows: list[dict], directory: str | Path | None = None) -> Path:
    """`save` `rows` into <results>/<notebook>.jsonl without losing the rest of the file: a saved row of the same
    (method, variant, seed) is replaced, every other saved row of `notebook` is kept. For notebooks that save
    after each arm and reuse earlier runs (`experiment.run_or_reuse`): `save` replaces the whole file."""
    path = destination(notebook, rows, directory)
    new = {(r["method"], r["variant"], r["seed"]) for r in rows}
    kept = [r for r in (read_jsonl(path) if path.exists() else []) if (r["method"], r["variant"], r["seed"]) not in new]
    return save(notebook, kept + rows, path.parent)


def load(directory: str | Path | None = None) -> list[dict]:
    """Every row of every results file."""
    rows = []
    for path in sorted(Path(directory or results_dir()).glob("*.jsonl")):
        for i, row in enumerate(read_jsonl(path), 1):
            missing = [k for k in ("method", "variant", "seed", "split", "skill") if k not in row]
            if missing:
                raise SftkitError(f"{path}:{i}: not a results row (no {', '.join(repr(k) for k in missing)}); "
                                  "results files are written by sftkit.results.save")
            rows.append(row)
    return rows


def summary(rows: list[dict], splits: tuple[str, ...] = EVAL_SPLITS) -> list[dict]:
    """Mean ± std over seeds of overall accuracy, per (notebook, method, variant, model) and split."""
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    costs: dict[tuple, list] = defaultdict(list)
    for r in rows:
        if r["skill"] != "all" or not is_exact_match(r) or r["split"] not in splits:
            continue
        key = (r["notebook"], r["method"], r["variant"] or "", r["model"])
        groups[key][r["split"]].append(r["accuracy"] if r.get("accuracy") is not None else r["value"])
        if r["split"] == splits[0]:
            costs[key].append((r["step_time_s"], r["peak_mem_mb"]))
    out = []
    for key, by_split in groups.items():
        notebook, method, variant, model = key
        row = {"notebook": notebook, "method": method, "variant": variant, "model": model,
               "seeds": max(len(v) for v in by_split.values())}
        for s in splits:
            row[s] = fmt_mean_std(by_split[s]) if by_split.get(s) else "–"
            row[s + "_mean"] = mean_std(by_split[s])[0] if by_split.get(s) else None
        times = [t for t, _ in costs[key] if t is not None]
        mems = [m for _, m in costs[key] if m is not None]
        row["step_time_ms"] = f"{1000 * mean_std(times)[0]:.0f}" if times else "–"
        row["peak_mem_mb"] = f"{mean_std(mems)[0]:.0f}" if mems else "–"
        out.append(row)
    return out


def table_cells(summary_rows: list[dict], splits: tuple[str, ...] = EVAL_SPLITS) -> tuple[list[str], list[list[str]]]:
    """(column heads, one list of cell texts per `summary` row): the leaderboard's columns, shared by the README's
    Markdown table (`markdown_table`) and the HTML page (`sftkit.leaderboard`)."""
    head = ["notebook", "method", "variant", "model", "seeds", *(f"{s} EM %" for s in splits),
            "step ms", "peak MB"]
    body = [[str(c) for c in (r["notebook"], r["method"], r["variant"] or "–", r["model"], r["seeds"],
                              *(r[s] for s in splits), r["step_time_ms"], r["peak_mem_mb"])] for r in summary_rows]
    return head, body


def markdown_table(summary_rows: list[dict], splits: tuple[str, ...] = EVAL_SPLITS) -> str:
    """A Markdown table of `summary` rows (accuracy in %, mean ± std over seeds)."""
    head, body = table_cells(summary_rows, splits)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def other_metrics_table(rows: list[dict]) -> str:
    """A Markdown table of the rows that are not exact match: mean ± std of `value` over seeds, per
    (notebook, method, variant, metric, split). Empty string when there are none."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if not is_exact_match(r) and r["skill"] == "all":
            groups[(r["notebook"], r["method"], r["variant"] or "–", r["metric"], r["split"])].append(r["value"])
    if not groups:
        return ""
    lines = ["| notebook | method | variant | metric | split | seeds | mean ± std |", "|" + "---|" * 7]
    for (notebook, method, variant, metric, split), values in groups.items():
        m, sd = mean_std(values)
        lines.append(f"| {notebook} | {method} | {variant} | {metric} | {split} | {len(values)} | "
                     f"{m:.4g} ± {sd:.2g} |")
    return "\n".join(lines)


def own_tests_cells(rows: list[dict], standard: tuple[str, ...] = EVAL_SPLITS) -> tuple[list[str], list[list[str]]]:
    """(column heads, one list of cell texts per (notebook, method, variant)) of exact-match rows on a notebook's
    own test sets (splits outside `standard`, e.g. AugCon's closed-book granularities): mean ± std over seeds per
    split; ([], []) when there are none. Shared by the Markdown table and the HTML page."""
    own = [r for r in rows if is_exact_match(r) and r["skill"] == "all" and r["split"] not in standard]
    if not own:
        return [], []
    splits = list(dict.fromkeys(r["split"] for r in own))
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in own:
        groups[(r["notebook"], r["method"], r["variant"] or "–")][r["split"]].append(r["accuracy"])
    head = ["notebook", "method", "variant", "seeds", *(f"{s} EM %" for s in splits)]
    body = [[notebook, method, variant, str(max(len(v) for v in by_split.values())),
             *(fmt_mean_std(by_split[s]) if by_split.get(s) else "–" for s in splits)]
            for (notebook, method, variant), by_split in groups.items()]
    return head, body


def own_tests_table(rows: list[dict], standard: tuple[str, ...] = EVAL_SPLITS) -> str:
    """`own_tests_cells` as a Markdown table; empty string when there are none."""
    head, body = own_tests_cells(rows, standard)
    if not head:
        return ""
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(c) + " |" for c in body])


def write_leaderboard(directory: str | Path | None = None, readme: str | Path | None = None) -> str:
    """Build results/leaderboard.md from every results file; also refresh the table in `readme` (docs/results.md) if given."""
    directory = Path(directory or results_dir())
    rows = load(directory)
    if not rows:
        raise SftkitError(f"{directory}: no results yet; run a notebook first")
    table = markdown_table(summary(rows))
    note = ("Exact match (%) on the tiny world, mean ± std over seeds, generated by `sftkit leaderboard` "
            "from `results/*.jsonl`. Step time and peak memory are per optimizer step on the machine "
            "that ran the notebook.")
    other = other_metrics_table(rows)
    own = own_tests_table(rows)
    body = f"# Leaderboard\n\n{note}\n\n{table}\n"
    if own:
        body += ("\n## Notebooks' own test sets\n\nExact match (%) on test sets a notebook builds itself, mean ± std "
                 f"over seeds.\n\n{own}\n")
    if other:
        body += f"\n## Other measurements\n\nMetrics other than exact match (e.g. FrozenLake), mean ± std over seeds.\n\n{other}\n"
    atomic_write_text(directory / "leaderboard.md", body)
    if readme:
        block = table + (f"\n\nOn notebooks' own test sets (exact match %):\n\n{own}" if own else "") + \
            (f"\n\nMetrics other than exact match, mean ± std over seeds:\n\n{other}" if other else "")
        replace_marked_block(readme, "leaderboard", block)
    return table
