"""A read-only or shared checkout (one checkout for a class on a JupyterHub): results and model outputs go
to a per-user directory, with one line saying where; nothing is written into the checkout."""
import os

import pytest

from sftkit import io, results


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A stand-in repository results/ holding one committed file, and a home of our own."""
    repo_results = tmp_path / "repo" / "results"
    repo_results.mkdir(parents=True)
    (repo_results / "01_sft.jsonl").write_text('{"notebook": "01_sft"}\n')
    monkeypatch.setattr(io, "REPO_RESULTS", repo_results)
    monkeypatch.setattr(io, "REPO_RUNS", tmp_path / "repo" / "runs")
    monkeypatch.delenv("SFTKIT_RESULTS", raising=False)
    monkeypatch.delenv("SFTKIT_RUNS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.setattr(io, "_announced", set())
    return repo_results


def test_a_writable_checkout_keeps_its_results_dir(checkout, capsys):
    assert io.results_dir() == checkout
    assert capsys.readouterr().out == ""


def test_a_read_only_checkout_sends_results_to_a_per_user_copy(checkout, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    before = sorted(p.name for p in checkout.iterdir())
    path = results.save("00_world", [results.metric_row("m", 1.0, "test", method="base", seed=0)])
    mine = tmp_path / "home" / ".local" / "share" / "sftkit" / "results"
    assert path == mine / "00_world.jsonl" and path.exists()
    assert (mine / "01_sft.jsonl").exists()  # seeded with the committed results, as a fresh clone has them
    assert sorted(p.name for p in checkout.iterdir()) == before  # nothing written into the checkout
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "is read-only for this user, so results go to" in out[0] and str(mine) in out[0]
    assert io.results_dir() == mine and capsys.readouterr().out == ""  # said once per process
    assert io.runs_dir() == mine.parent / "runs"


def test_shared_checkouts_owned_by_another_user_count_as_not_ours(tmp_path, monkeypatch):
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX ownership")
    owner = tmp_path.stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1 if owner + 1 != 0 else owner + 2)
    assert io.not_writable(tmp_path / "results") == "belongs to another user (a shared checkout)"
    monkeypatch.setattr(os, "getuid", lambda: owner)
    assert io.not_writable(tmp_path / "results") is None
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert io.not_writable(tmp_path) == "is read-only for this user"


def test_no_writable_place_at_all_is_one_clear_line(checkout, monkeypatch, tmp_path):
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    blocker = tmp_path / "home" / ".local"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where a directory should be")
    with pytest.raises(io.SftkitError, match=r"cannot be created .*; set SFTKIT_RESULTS to a writable directory$"):
        io.results_dir()


def test_sftkit_results_overrides_everything(checkout, monkeypatch, tmp_path):
    monkeypatch.setattr(io, "not_writable", lambda path: "is read-only for this user")
    monkeypatch.setenv("SFTKIT_RESULTS", str(tmp_path / "elsewhere"))
    assert io.results_dir() == tmp_path / "elsewhere"
