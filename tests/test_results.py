import json

import pytest

from sftkit import results
from sftkit.io import SftkitError


def eval_rows(correct_test, correct_hard):
    rows = [{"id": f"t{i}", "skill": "add" if i % 2 else "sort", "split": "test", "correct": c} for i, c in enumerate(correct_test)]
    rows += [{"id": f"h{i}", "skill": "add", "split": "hard", "correct": c} for i, c in enumerate(correct_hard)]
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
    readme.write_text(f"intro\n{results.START}\nold table\n{results.END}\noutro\n")
    table = results.write_leaderboard(tmp_path, readme=readme)
    assert "| 99_demo | sft | full | tiny | 2 | 75.0 ± 35.4 | 50.0 ± 0.0 | 100 | 50 |" in table
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("outro\n") and table in text
    assert (tmp_path / "leaderboard.md").exists()


def test_empty_results_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SftkitError, match="no results yet"):
        results.write_leaderboard(tmp_path)
