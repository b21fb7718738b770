"""The leaderboard page (`sftkit leaderboard --html`), the claims and the figures, on small hand-made results."""
import os
import re
import subprocess
import sys

import pytest

from sftkit import leaderboard, results, stats
from sftkit.io import SftkitError


def run_rows(notebook, method, variant, accs, seconds=10.0, split_accs=None):
    """Schema rows for one (method, variant): per seed an overall test accuracy, two skills, a shift."""
    rows = []
    for seed, acc in enumerate(accs):
        common = dict(notebook=notebook, method=method, variant=variant, model="tiny", seed=seed, steps=100,
                      step_time_s=seconds / 100, peak_mem_mb=300.0, train_seconds=seconds, device="cpu",
                      metric="exact_match")
        for split, skill, a in [("test", "all", acc), ("test", "add", acc), ("test", "sort", acc / 2),
                                ("wording", "all", (split_accs or {}).get("wording", acc / 3))]:
            rows.append({**{k: None for k in results.FIELDS}, **common, "split": split, "skill": skill, "n": 490,
                         "accuracy": a, "value": a})
    return rows


@pytest.fixture
def board(tmp_path):
    """A results dir: notebook 01 (base, SFT over 3 seeds, LoRA over 1), 02 (SFTMix), 04 (a metric row)."""
    d = tmp_path / "results"
    results.save("01_sft", run_rows("01_sft", "sft", "full", [0.9, 0.92, 0.94]) + run_rows("01_sft", "sft", "lora-r8", [0.8])
                 + run_rows("01_sft", "base", "zero-shot", [0.0], seconds=0.0), d)
    results.save("02_sftmix", run_rows("02_sftmix", "sftmix", "mu=0.2 (16 per skill)", [0.5, 0.52, 0.54], seconds=14.0)
                 + run_rows("02_sftmix", "sft", "full (16 per skill)", [0.9, 0.92, 0.94]), d)
    results.save("04_ift_frozenlake", [results.metric_row("transition_mse", v, "policy", method=m, variant="frozenlake",
                                                          seed=s, notebook="04_ift_frozenlake")
                                       for m, vs in (("ift", [0.01, 0.011]), ("sft", [0.02, 0.021])) for s, v in enumerate(vs)], d)
    return d


def test_page_has_one_row_per_run_and_nothing_to_load(board, tmp_path):
    path = leaderboard.write_html(tmp_path / "site" / "index.html", board)
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"https?://", page), "the page must open without a network"
    assert not re.search(r"<script|<link|@import|src=\"(?!data:)", page)
    assert 'src="data:image/png;base64,' in page
    table = page.split("<table>")[1]
    runs = [("01_sft", "sft", "full"), ("01_sft", "sft", "lora-r8"), ("01_sft", "base", "zero-shot"),
            ("02_sftmix", "sftmix", "mu=0.2 (16 per skill)"), ("02_sftmix", "sft", "full (16 per skill)")]
    body = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", table)
    assert sorted(body) == sorted(runs), "one row per (notebook, method, variant) with exact match on test"
    assert "92.0 ± 2.0" in table  # the README table's cells: results.summary through results.table_cells
    assert results.markdown_table(results.summary(results.load(board))).count("\n") == len(runs) + 1


def test_an_interrupted_write_leaves_the_earlier_page(board, tmp_path, monkeypatch):
    path = tmp_path / "index.html"
    leaderboard.write_html(path, board)
    before = path.read_text()
    results.save("03_ift", run_rows("03_ift", "ift", "lambda=0.2,gamma=0.95,schedule=fixed", [0.7, 0.72]), board)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        leaderboard.write_html(path, board)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "results"], "no temporary file left behind"
    monkeypatch.undo()
    leaderboard.write_html(path, board)
    assert "03_ift" in path.read_text()


def test_claims_use_the_one_rule_and_say_what_is_missing(board):
    rows = results.load(board)
    by = {(o.claim.method, o.claim.a.notebook): o for o in leaderboard.check_claims(rows)}
    (sftmix,) = [o for o in leaderboard.check_claims(rows) if o.claim.method == "sftmix" and o.claim.b.method == "sft"]
    # no per-item outcomes in these rows: unpaired, from seed means and n (stats.compare_means)
    assert sftmix.status == "reversed" and sftmix.comparison == stats.compare_means([0.5, 0.52, 0.54], [0.9, 0.92, 0.94], n=490)
    assert sftmix.detail == sftmix.comparison.sentence("SFTMix, 16 records per skill", "NTP, 16 records per skill on test")
    assert "unpaired" in sftmix.detail and "[" in sftmix.detail and "MDE" in sftmix.detail
    assert by[("sft", "01_sft")].status == "held"
    assert by[("ift", "04_ift_frozenlake")].status == "held"  # lower MSE is the paper's direction: "below"
    assert by[("skillmix", "10_skillmix")].status == "not yet run"
    assert "notebooks/10_skillmix.ipynb" in by[("skillmix", "10_skillmix")].detail
    assert by[("selfdebug", "11_selfdebug")].status == "not yet run"
    assert "| **held** |" in leaderboard.claims_table(list(by.values()))


def test_a_renamed_variant_is_a_clear_line_not_a_verdict(board):
    results.save("03_ift", run_rows("03_ift", "ift", "lambda=0.5", [0.7]), board)
    (outcome,) = [o for o in leaderboard.check_claims(results.load(board)) if o.claim.a.notebook == "03_ift"]
    assert outcome.status == "rows missing" and "lambda=0.5" in outcome.detail and outcome.comparison is None


def test_figure_and_heatmap(board):
    import matplotlib.pyplot as plt

    rows = results.load(board)
    points = leaderboard.cost_points(rows)
    assert {(p["method"], p["variant"], p["seeds"]) for p in points} >= {("sft", "full", 3), ("sftmix", "mu=0.2 (16 per skill)", 3)}
    fig = leaderboard.cost_figure(rows)
    ax = fig.axes[0]
    assert "training time" in ax.get_xlabel() and "exact match" in ax.get_ylabel()
    plt.close(fig)
    oracle = run_rows("08_superhf", "best-of-n", "best-of-N (gold picks, pass@N)", [1.0])
    labels, skills, matrix = leaderboard.skill_matrix(rows + oracle)
    assert skills == ["add", "sort"] and "sft (full; 01_sft)" in labels
    assert not any(label.startswith("best-of-n") for label in labels), "an oracle is an upper bound, not a method"
    assert matrix[labels.index("sft (full; 01_sft)")] == pytest.approx([0.92, 0.46])
    plt.close(leaderboard.skill_heatmap(rows))


def test_missing_notebooks_name_the_notebook_to_run(board):
    missing = dict(leaderboard.missing_notebooks(results.load(board)))
    assert missing["ift"] == "03_ift" and "sft" not in missing and "sftmix" not in missing


def test_cli_html_flag_and_one_line_errors(board, tmp_path):
    page = tmp_path / "page.html"
    cmd = [sys.executable, "-m", "sftkit", "leaderboard", "--results", str(board), "--html"]
    out = subprocess.run(cmd + [str(page)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert page.exists() and "wrote" in out.stdout and (board / "leaderboard.md").exists()
    (tmp_path / "a-file").write_text("")
    for bad, message in [(tmp_path, "is a directory"), (tmp_path / "a-file" / "page.html", "is a file, not a directory")]:
        out = subprocess.run(cmd + [str(bad)], capture_output=True, text=True)
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SftkitError, match="no results yet"):
        leaderboard.write_html(page, empty)


def test_claims_with_per_item_outcomes_are_paired(board):
    """Rows from `results.rows_from_eval` carry per-item outcomes; a claim whose sides both have them is decided
    by `stats.compare` on the (seeds, items) tables, the same numbers as calling it by hand."""
    items = [f"test-add-{i:04d}" for i in range(200)]

    def evaluated(method, variant, notebook, right_share):
        rows = []
        for seed in range(3):
            correct = [(i * 7 + seed) % 100 < right_share for i in range(len(items))]
            eval_rows = [{"id": x, "skill": "add", "split": "test", "correct": c} for x, c in zip(items, correct)]
            rows += results.rows_from_eval(eval_rows, notebook=notebook, method=method, variant=variant, model="tiny",
                                           seed=seed, steps=100)
        return rows

    sft = evaluated("sft", "full (16 per skill)", "02_sftmix", 90)
    mix = evaluated("sftmix", "mu=0.2 (16 per skill)", "02_sftmix", 80)
    results.save("02_sftmix", sft + mix, board)
    rows = results.load(board)
    (outcome,) = [o for o in leaderboard.check_claims(rows) if o.claim.method == "sftmix" and o.claim.b.method == "sft"]
    table_a = results.item_table(rows, "test", method="sftmix")
    table_b = results.item_table(rows, "test", method="sft", notebook="02_sftmix")
    assert table_a.shape == (3, 200) and set(table_a.ravel()) == {0.0, 1.0}
    assert outcome.comparison == stats.compare(table_a, table_b)
    assert outcome.status == "reversed" and "unpaired" not in outcome.detail and "n = 200 x 3 v 3 seeds" in outcome.detail


def test_superhf_claims_compare_proxy_reward_per_item_and_gold_at_a_matched_proxy_reward(board):
    """Notebook 08's claims: the proxy reward (0/1 per test item, saved with its items) is compared paired per
    item; the trade-off compares the gold accuracy each method's curve has at the matched proxy reward (one
    interpolated value per seed, a share of n items: unpaired, with the binomial item part)."""
    ids = [f"test-add-{i:04d}" for i in range(100)]
    key = results.items_key(ids)
    rows = []
    for variant, method, share in (("SuperHF kl=0.35", "superhf", 30), ("PPO beta=0.2", "ppo", 60)):
        for seed in range(3):
            scores = [float((i + seed) % 100 < share) for i in range(len(ids))]
            rows.append(results.metric_row("proxy_reward", sum(scores) / len(scores), "test", notebook="08_superhf",
                                           method=method, variant=variant, seed=seed, n=len(ids),
                                           items=results.encode_items(scores), items_key=key))
    for variant, method, values in (("SuperHF (KL sweep)", "superhf", [0.50, 0.52, 0.54]),
                                    ("PPO (KL sweep)", "ppo", [0.60, 0.61, 0.62])):
        rows += [results.metric_row("gold_at_matched_proxy", v, "test", notebook="08_superhf", method=method,
                                    variant=variant, seed=seed, n=490) for seed, v in enumerate(values)]
    results.save("08_superhf", rows, board)
    first, trade_off = [o for o in leaderboard.check_claims(results.load(board)) if o.claim.method == "superhf"]
    table = {m: results.item_table(rows, "test", method=m, metric="proxy_reward") for m in ("superhf", "ppo")}
    assert first.comparison == stats.compare(table["superhf"], table["ppo"])
    assert first.status == "reversed" and "unpaired" not in first.detail and "n = 100 x 3 v 3 seeds" in first.detail
    assert trade_off.comparison == stats.compare_means([0.50, 0.52, 0.54], [0.60, 0.61, 0.62], n=490)
    assert trade_off.status == "reversed" and trade_off.comparison.n == 490
    assert "unpaired" in trade_off.detail


def test_a_metric_claim_whose_rows_carry_items_is_paired(board):
    """Notebook 07's judgement accuracy is not exact match, but its rows carry per-item outcomes
    (`ppo.result_rows`): the PPO claim is `stats.compare` on the (seeds, items) tables, not the unpaired rule."""
    from sftkit.methods import ppo

    def judged(seed, right_share):
        return [{"id": f"compare-wide-{i:04d}", "task": "compare", "skill": "compare", "split": "wide", "answer": "yes",
                 "label": "yes" if (i * 7 + seed) % 100 < right_share else "no", "parsed": True,
                 "correct": (i * 7 + seed) % 100 < right_share} for i in range(200)]

    rows = [r for seed in range(3) for variant, method, share in (("SFT -> PPO + LoRA, tuned on dev", "ppo", 90),
                                                                  ("SFT + LoRA", "sft", 80))
            for r in ppo.result_rows(judged(seed, share), notebook="07_ppo", method=method, variant=variant, seed=seed)]
    results.save("07_ppo", rows, board)
    loaded = results.load(board)
    (outcome,) = [o for o in leaderboard.check_claims(loaded) if o.claim.method == "ppo"]
    accuracy = [r for r in loaded if r["metric"] == "judgement_accuracy"]
    paired = stats.compare(results.item_table(accuracy, "wide", method="ppo"), results.item_table(accuracy, "wide", method="sft"))
    assert outcome.comparison == paired and outcome.status == "held"
    assert "unpaired" not in outcome.detail and "n = 200 x 3 v 3 seeds" in outcome.detail
    assert paired != stats.compare_means([0.9] * 3, [0.8] * 3, n=200)  # the unpaired rule would give another interval


def test_page_reads_at_phone_width_and_shows_the_notebooks_own_tests(board, tmp_path):
    results.save("09_augcon", run_rows("09_augcon", "augcon", "scorer,rouge=0.7", [0.3, 0.32]) +
                 [{**r, "split": "fact"} for r in run_rows("09_augcon", "augcon", "scorer,rouge=0.7", [0.3, 0.32])
                  if r["skill"] == "all" and r["split"] == "test"], board)
    page = leaderboard.write_html(tmp_path / "index.html", board).read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (max-width:700px)" in page and '<div class="wide">' in page
    own = page.split("own test sets</h2>")[1].split("</table>")[0]
    assert "fact EM %" in own and "31.0 ± 1.4" in own
