import json

import pytest

from sftkit import results
from sftkit.io import SftkitError


def eval_rows(correct_test, correct_longer):
    rows = [{"id": f"t{i}", "skill": "add" if i % 2 else "sort", "split": "test", "correct": c} for i, c in enumerate(correct_test)]
    rows += [{"id": f"h{i}", "skill": "add", "split": "longer", "correct": c} for i, c in enumerate(correct_longer)]
    return rows


def test_rows_follow_the_schema_and_leaderboard_aggregates_seeds(tmp_path):
    rows = []
    for seed, test in [(0, [True, True, False, False]), (1, [True, True, True, True])]:
        rows += results.rows_from_eval(eval_rows(test, [False, True]), method="sft", variant="full", model="tiny",
                                       seed=seed, steps=10, step_time_s=0.1, peak_mem_mb=50.0)
    assert all(set(r) == set(results.FIELDS) for r in rows)
    overall = [r for r in rows if r["skill"] == "all" and r["split"] == "test"]
    assert [r["accuracy"] for r in overall] == [0.5, 1.0]
    path = results.save("99_demo", rows, tmp_path)
    assert all(json.loads(l)["notebook"] == "99_demo" for l in path.read_text().splitlines())
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- leaderboard:start -->\nold table\n<!-- leaderboard:end -->\noutro\n")
    table = results.write_leaderboard(tmp_path, readme=readme)
    assert "| 99_demo | sft | full | tiny | 2 | 75.0 ± 35.4 | – | 50.0 ± 0.0 | – | – | 100 | 50 |" in table
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("outro\n") and table in text
    assert (tmp_path / "leaderboard.md").exists()


def test_empty_results_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SftkitError, match="no results yet"):
        results.write_leaderboard(tmp_path)


def test_other_metrics_stay_out_of_the_exact_match_table(tmp_path):
    rows = results.rows_from_eval(eval_rows([True, False], [False]), method="sft", variant="full", model="tiny", seed=0)
    assert all(r["metric"] == "exact_match" and r["value"] == r["accuracy"] for r in rows)
    rows += [results.metric_row("transition_mse", v, "policy", method="ift", variant="lake", seed=s)
             for s, v in enumerate([0.010, 0.012])]
    results.save("98_mixed", rows, tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n")
    table = results.write_leaderboard(tmp_path, readme=readme)
    assert "ift" not in table and "| 98_mixed | sft | full |" in table
    line = "| 98_mixed | ift | lake | transition_mse | policy | 2 | 0.011 ± 0.0014 |"
    assert line in (tmp_path / "leaderboard.md").read_text() and line in readme.read_text()
    with pytest.raises(SftkitError, match="unknown results fields"):
        results.metric_row("success_rate", 1.0, "slippery", methd="ift")


def test_rows_without_a_metric_field_count_as_exact_match():
    old = {"notebook": "01", "method": "sft", "variant": "full", "model": "tiny", "seed": 0, "split": "test",
           "skill": "all", "accuracy": 0.8, "step_time_s": None, "peak_mem_mb": None}
    assert results.summary([old])[0]["test"] == "80.0"


def test_readme_tables_are_the_generated_ones():
    """The README's methods table is `methods.notebook_table()`; docs/results.md's table is the leaderboard of
    results/."""
    from sftkit.io import REPO_DIR
    from sftkit.methods import notebook_table

    text = (REPO_DIR / "README.md").read_text()
    assert f"<!-- methods:start -->\n{notebook_table()}\n<!-- methods:end -->" in text
    table = results.markdown_table(results.summary(results.load(REPO_DIR / "results")))
    assert f"<!-- leaderboard:start -->\n{table}" in (REPO_DIR / "docs" / "results.md").read_text()


def test_results_are_written_with_fixed_precision(tmp_path):
    """An identical run gives an identical file, and so does one whose floats differ only in the last bits."""
    run = dict(method="ift", variant="lake", steps=300, device="cpu")
    rows = [results.metric_row("transition_mse", 0.009074123456789012, "policy", seed=0, **run),
            {**results.metric_row("success_rate", 2 / 3, "slippery", seed=0, n=200, **run), "step_time_s": 0.16912345678}]
    noisy = [{**r, "value": r["value"] * (1 + 1e-13)} for r in rows]
    first = results.save("97_a", rows, tmp_path).read_bytes()
    assert results.save("97_b", rows, tmp_path).read_bytes() == first.replace(b"97_a", b"97_b")
    assert results.save("97_c", noisy, tmp_path).read_bytes() == first.replace(b"97_a", b"97_c")
    changed = [{**rows[0], "value": 0.0091}, rows[1]]
    assert results.save("97_d", changed, tmp_path).read_bytes() != first.replace(b"97_a", b"97_d")
    saved = [json.loads(line) for line in first.decode().splitlines()]
    assert [r["value"] for r in saved] == [0.00907412, 0.666667] and saved[1]["step_time_s"] == 0.169123
    assert results.fixed(float("nan")) != results.fixed(float("nan")) and results.fixed(3) == 3  # NaN and ints as given


def test_own_test_sets_get_their_own_table(tmp_path):
    """A notebook's own test splits (e.g. AugCon's granularities) are tabulated apart from the world's splits."""
    evals = [{"id": f"{s}-{k}", "skill": "facts", "split": s, "correct": c}
             for s, outcomes in (("fact", [True, True, False, False]), ("document", [True])) for k, c in enumerate(outcomes)]
    rows = [r for seed in (0, 1) for r in results.rows_from_eval(evals, notebook="97_own", method="augcon", variant="scorer",
                                                                 model="tiny", seed=seed)]
    table = results.own_tests_table(rows)
    assert "| notebook | method | variant | seeds | document EM % | fact EM % |" in table
    assert "| 97_own | augcon | scorer | 2 | 100.0 ± 0.0 | 50.0 ± 0.0 |" in table
    assert results.summary(rows) == []  # not in the table of the world's splits
    assert results.own_tests_table([r for r in rows if r["split"] == "test"]) == ""
    results.save("97_own", rows, tmp_path)
    results.write_leaderboard(tmp_path)
    assert "## Notebooks' own test sets" in (tmp_path / "leaderboard.md").read_text()


def test_update_replaces_only_the_runs_it_is_given(tmp_path):
    """`results.update` keeps every other saved run of the notebook (`save` replaces the whole file)."""
    def row(variant, seed, accuracy):
        return {"notebook": "10_x", "method": "m", "variant": variant, "seed": seed, "split": "test", "skill": "all",
                "accuracy": accuracy}

    results.save("10_x", [row("a", 0, 0.1), row("a", 1, 0.2), row("b", 0, 0.3)], tmp_path)
    results.update("10_x", [row("a", 1, 0.9)], tmp_path)
    got = {(r["variant"], r["seed"]): r["accuracy"] for r in results.load(tmp_path)}
    assert got == {("a", 0): 0.1, ("a", 1): 0.9, ("b", 0): 0.3}


def test_a_run_with_other_parameters_never_overwrites_the_committed_results(tmp_path, monkeypatch, capsys):
    """A re-run with the committed settings refreshes results/; one with other parameters (fewer seeds, other
    steps) goes to runs/results/ with one line saying so; SFTKIT_UPDATE_RESULTS=1 lets a changed design replace it."""
    from sftkit import io

    repo_results, runs = tmp_path / "results", tmp_path / "runs"
    repo_results.mkdir()
    monkeypatch.delenv("SFTKIT_RESULTS", raising=False)
    monkeypatch.setenv("SFTKIT_RUNS", str(runs))
    monkeypatch.setattr(io, "REPO_RESULTS", repo_results)
    monkeypatch.setattr(results, "REPO_RESULTS", repo_results)
    monkeypatch.setattr(results, "results_dir", lambda: repo_results)

    def rows(seeds, steps):
        return [results.metric_row("success_rate", 0.5, "slippery", method="ift", variant="lake", seed=s, steps=steps,
                                   n=10) for s in seeds]

    committed = results.save("04_lab", rows([0, 1, 2], 300))
    assert committed == repo_results / "04_lab.jsonl"
    assert results.save("04_lab", rows([0, 1, 2], 300)) == committed  # the same settings: refreshed in place
    assert results.update("04_lab", rows([1], 300)) == committed  # a resumed part of the same runs
    before = committed.read_text()
    elsewhere = results.save("04_lab", rows([0], 50))  # papermill -p STEPS 50 -y "SEEDS: [0]"
    assert elsewhere == runs / "results" / "04_lab.jsonl" and committed.read_text() == before
    assert "settings differ from the committed 04_lab results" in capsys.readouterr().out
    monkeypatch.setenv("SFTKIT_UPDATE_RESULTS", "1")
    assert results.save("04_lab", rows([0], 50)) == committed and committed.read_text() != before
