"""The command line: bad input gives one line naming the file and line, and a non-zero exit."""
import json
import subprocess
import sys

import pytest

from sftkit.cli import main

GOOD = {"messages": [{"role": "user", "content": "Reverse the word abc."}, {"role": "assistant", "content": "cba"}],
        "skill": "reverse", "answer": "cba"}


def write(path, lines):
    path.write_text("".join(l if isinstance(l, str) else json.dumps(l) + "\n" for l in lines))
    return path


@pytest.mark.parametrize("lines,expected", [
    ([GOOD, "{not json\n"], ":2: malformed JSON"),
    ([GOOD, GOOD, {"messages": [{"role": "user", "content": "hi"}]}], ":3: record has no assistant turn"),
    ([{**GOOD, "skill": "juggle"}], ":1: unknown skill 'juggle'"),
    (["[1, 2]\n"], ":1: expected a JSON object"),
])
def test_bad_training_data_names_file_and_line(tmp_path, capsys, random_models, lines, expected):
    data = write(tmp_path / "bad.jsonl", lines)
    code = main(["train", "sft", "--model", random_models["llama"], "--data", str(data), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("sftkit: error: ") and len(err.splitlines()) == 1
    assert f"bad.jsonl{expected}" in err
    assert not (tmp_path / "out").exists()


def test_missing_file_and_missing_gold(tmp_path, capsys, random_models):
    assert main(["eval", "--model", random_models["llama"], "--data", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err
    data = write(tmp_path / "nogold.jsonl", [{k: v for k, v in GOOD.items() if k != "answer"}])
    assert main(["eval", "--model", random_models["llama"], "--data", str(data)]) == 2
    assert "nogold.jsonl:1: field 'answer'" in capsys.readouterr().err


def test_missing_model_is_one_line(tmp_path, capsys):
    data = write(tmp_path / "d.jsonl", [GOOD])
    assert main(["eval", "--model", str(tmp_path / "no-model"), "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-model" in err and len(err.splitlines()) == 1


def test_train_saves_atomically_then_evaluates(tmp_path, capsys, random_models):
    data = write(tmp_path / "d.jsonl", [GOOD] * 8)
    out = tmp_path / "model"
    assert main(["train", "sft", "--model", random_models["gpt2"], "--data", str(data), "--output", str(out),
                 "--steps", "4", "--batch-size", "4", "--save-steps", "2"]) == 0
    assert (out / "config.json").exists() and (out / "train_log.json").exists()
    said = capsys.readouterr().out
    assert "mean training loss" in said and "nan" not in said  # 4 steps < logging_steps: no per-step loss logged
    assert not (tmp_path / "model.checkpoints").exists()  # removed once the final model is in place
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers
    preds = tmp_path / "preds.jsonl"
    assert main(["eval", "--model", str(out), "--data", str(data), "--output", str(preds), "--max-new-tokens", "4"]) == 0
    assert len(preds.read_text().splitlines()) == 8
    said = capsys.readouterr().out.splitlines()
    assert said[0] == f"evaluating {out} on 8 items from 1 file: a teacher-forced pass, then generating what it leaves"
    assert any(" all " in line for line in said[1:])


def test_training_resumes_from_its_last_checkpoint(tmp_path, random_models):
    from sftkit.model import load_model
    from sftkit.train import TrainConfig, train

    records = [GOOD] * 8
    ckpt = tmp_path / "ckpt"
    model, tok = load_model(random_models["llama"])
    train(model, tok, records, TrainConfig(steps=2, batch_size=4, save_steps=2), output_dir=str(ckpt))
    assert (ckpt / "checkpoint-2").exists()
    model, tok = load_model(random_models["llama"])  # a "restarted" run with a longer budget
    result = train(model, tok, records, TrainConfig(steps=4, batch_size=4, save_steps=2), output_dir=str(ckpt))
    assert result.steps_run == 2  # steps 1-2 were not repeated
    assert (ckpt / "checkpoint-4").exists()


def test_train_reports_a_loss_when_resumed_with_no_steps_left(tmp_path, capsys, random_models):
    """A run killed after its final checkpoint and re-run has no steps left and (fewer steps than logging_steps)
    no logged loss: the line says so instead of the Trainer's 0.0 "mean" over no steps."""
    from sftkit.model import load_model
    from sftkit.train import TrainConfig, train

    data = write(tmp_path / "d.jsonl", [GOOD] * 8)
    out = tmp_path / "model"
    model, tok = load_model(random_models["llama"])  # the killed run: its checkpoint at the final step survived
    train(model, tok, [GOOD] * 8, TrainConfig(steps=2, batch_size=4, save_steps=2, extra={"method": "sft"}),
          output_dir=str(tmp_path / "model.checkpoints"))  # the settings `sftkit train sft` uses
    assert main(["train", "sft", "--model", random_models["llama"], "--data", str(data), "--output", str(out),
                 "--steps", "2", "--batch-size", "4", "--save-steps", "2"]) == 0
    said = capsys.readouterr().out
    assert "no steps left to run" in said and "loss 0.0000" not in said and "nan" not in said


def test_pretrain_shorter_than_its_logging_interval_logs_and_prints_its_loss(tmp_path, capsys, monkeypatch):
    """`sftkit pretrain --steps 3` (fewer than log_every) logs the mean loss of its steps instead of
    failing on an empty loss list."""
    import math

    import sftkit.pretrain

    monkeypatch.setattr(sftkit.pretrain, "write_model_card", lambda path: "")  # the card evaluates the model: slow
    assert main(["pretrain", "--steps", "3", "--batch-size", "2", "--output", str(tmp_path / "base")]) == 0
    log = json.loads((tmp_path / "base" / "pretrain_log.json").read_text())
    assert log["step"] == [3] and math.isfinite(log["loss"][0])
    assert capsys.readouterr().out.strip().endswith(f"final loss {log['loss'][0]}")


def test_resuming_a_tied_model_warns_only_about_genuinely_missing_weights(tmp_path, random_models, caplog):
    """The tiny Llama ties lm_head.weight to its embeddings, so checkpoints do not store it: resuming is
    silent about it, yet a weight really missing from a checkpoint is still reported."""
    import logging

    from safetensors.torch import load_file, save_file

    from sftkit.model import load_model
    from sftkit.train import TrainConfig, train

    def resume(steps):
        model, tok = load_model(random_models["llama"])
        caplog.clear()
        train(model, tok, [GOOD] * 8, TrainConfig(steps=steps, batch_size=4, save_steps=2), output_dir=str(tmp_path))
        records = {id(r): r for r in caplog.records}  # once, whether or not transformers propagates to root
        return [r.getMessage() for r in records.values() if "missing keys" in r.getMessage()]

    hf_logger = logging.getLogger("transformers")  # propagates to the root logger caplog listens on only sometimes
    hf_logger.addHandler(caplog.handler)
    try:
        resume(2)
        assert resume(4) == []
        weights = tmp_path / "checkpoint-4" / "model.safetensors"
        save_file({k: v for k, v in load_file(weights).items() if k != "model.norm.weight"}, weights,
                  metadata={"format": "pt"})
        warned = resume(6)
    finally:
        hf_logger.removeHandler(caplog.handler)
    assert len(warned) == 1 and "model.norm.weight" in warned[0] and "lm_head" not in warned[0]


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, random_models, monkeypatch):
    """A run that crashes mid-epoch and is restarted ends with the same weights as one that never stopped:
    the samplers take their pass number from Trainer (set_epoch), not from a counter of their own."""
    import torch

    from sftkit.model import load_model
    from sftkit.train import Progress, TrainConfig, train

    words = ("abc", "hello", "xy", "tiny", "sftkit", "q", "word", "lake")
    records = [{"messages": [{"role": "user", "content": f"Reverse the word {w}."},
                             {"role": "assistant", "content": w[::-1]}]} for w in words]
    config = TrainConfig(steps=6, batch_size=4, save_steps=3)  # 2 steps per epoch; checkpoint at step 3
    model, tok = load_model(random_models["llama"])
    straight = train(model, tok, records, config).model

    class Crash(Exception):
        pass

    def crash_at_step_4(self, args, state, control, **kw):
        if state.global_step == 4:
            raise Crash

    with monkeypatch.context() as m:
        m.setattr(Progress, "on_step_end", crash_at_step_4)
        model, tok = load_model(random_models["llama"])
        with pytest.raises(Crash):
            train(model, tok, records, config, output_dir=str(tmp_path))
    model, tok = load_model(random_models["llama"])
    resumed = train(model, tok, records, config, output_dir=str(tmp_path))
    assert resumed.steps_run == 3  # steps 4-6, from checkpoint-3 (mid-way through the second epoch)
    for (name, a), b in zip(straight.named_parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, msg=name)


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "sftkit.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout and "tutorial" in out.stdout


def test_python_dash_m_sftkit_is_the_command():
    """`python -m sftkit` works where no `sftkit` script is on the PATH (Windows, no make)."""
    out = subprocess.run([sys.executable, "-m", "sftkit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "tutorial" in out.stdout and "doctor" in out.stdout
    out = subprocess.run([sys.executable, "-m", "sftkit", "leaderboard", "--results", "/nonexistent-sftkit"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip() == "sftkit: error: /nonexistent-sftkit: no results yet; run a notebook first"


def test_unwritable_outputs_are_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    """A read-only place for --output or for the notebooks themselves (a shared checkout) fails at once, in one line.
    The check asks the OS (`os.access`), which answers yes to root, so read-only is mocked here."""
    import os

    import sftkit.cli

    readonly = tmp_path / "readonly"
    readonly.mkdir()
    notebook = readonly / "00_world.ipynb"
    notebook.write_text("{}")
    monkeypatch.setattr(sftkit.cli.os, "access", lambda path, mode: not str(path).startswith(str(readonly)))
    assert main(["train", "sft", "--output", str(readonly / "runs" / "sft")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is read-only for this user; choose another --output, e.g. " in err
    assert err.endswith(os.path.join(".local", "share", "sftkit", "runs", "sft"))
    assert main(["tutorial", str(notebook)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith("writes each notebook back in place: run it in a clone of your own")


def test_bool_knobs_are_flags():
    import argparse
    import dataclasses

    from sftkit.cli import add_knob
    from sftkit.methods.base import MethodConfig, knob

    @dataclasses.dataclass
    class Config(MethodConfig):
        whiten: bool = knob(True, "whiten advantages")

    parser = argparse.ArgumentParser()
    add_knob(parser, Config.knobs()[0])
    assert parser.parse_args([]).whiten is True
    assert parser.parse_args(["--no-whiten"]).whiten is False  # type=bool would have read "False" as True
    assert parser.parse_args(["--whiten"]).whiten is True


def test_data_side_methods_are_generated_not_trained(capsys):
    from sftkit.cli import build_parser

    parser = build_parser(with_methods=True)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "augcon", "--output", "x"])
    args = parser.parse_args(["generate", "augcon", "--output", "x", "--rouge-threshold", "0.9"])
    assert args.method == "augcon" and args.rouge_threshold == 0.9 and args.teacher == "scripted"
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", "sft", "--output", "x"])
    capsys.readouterr()


# ----------------------------------------------------------------------------------------------------
# Issue 33: bad numbers and outputs refused up front; resume only what matches; half-written checkpoints.

@pytest.mark.parametrize("argv,flag", [
    (["train", "sft", "--steps", "0"], "--steps"),
    (["train", "sft", "--steps", "-3"], "--steps"),
    (["train", "ppo", "--steps", "0"], "--steps"),
    (["train", "superhf", "--steps", "-1"], "--steps"),
    (["train", "sft", "--batch-size", "0"], "--batch-size"),
    (["train", "sft", "--lr", "nan"], "--lr"),
    (["train", "sft", "--save-steps", "-1"], "--save-steps"),
    (["train", "sft", "--max-length", "0"], "--max-length"),
    (["train", "ppo", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["train", "ppo", "--top-p", "0"], "--top-p"),
    (["train", "dpo", "--data", "x.jsonl", "--lr", "-1"], "--lr"),
    (["eval", "--batch-size", "0"], "--batch-size"),
    (["eval", "--max-new-tokens", "-1"], "--max-new-tokens"),
    (["generate", "skillmix", "--num-data", "0"], "--num-data"),
    (["generate", "skillmix", "--error-rate", "1.5"], "--error-rate"),
    (["generate", "augcon", "--scorer-steps", "0"], "--scorer-steps"),
    (["pretrain", "--steps", "0"], "--steps"),
])
def test_bad_numeric_flags_are_one_line_before_any_work(tmp_path, capsys, argv, flag):
    out = tmp_path / "out"
    assert main(argv + ["--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sftkit: error: ") and flag in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary directory


def test_output_of_the_wrong_kind_is_refused_up_front(tmp_path, capsys, random_models):
    existing = write(tmp_path / "notes.txt", ["my notes\n"])
    data = write(tmp_path / "d.jsonl", [GOOD] * 8)
    assert main(["train", "sft", "--model", random_models["llama"], "--data", str(data), "--output", str(existing),
                 "--steps", "1", "--batch-size", "4"]) == 2
    err = capsys.readouterr().err
    assert "is an existing file" in err and err.count("\n") == 1
    assert existing.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "notes.txt"]  # no .notes.txt.old, no temps
    folder = tmp_path / "folder"
    folder.mkdir()
    for argv in (["eval", "--model", random_models["llama"], "--data", str(data)],
                 ["generate", "skillmix", "--num-data", "2"], ["generate", "selfdebug"], ["generate", "augcon"]):
        assert main(argv + ["--output", str(folder)]) == 2, argv
        err = capsys.readouterr().err
        assert "is an existing directory" in err and err.count("\n") == 1, (argv, err)
    assert list(folder.iterdir()) == []


def _train_to(ckpt, model_path, records, **changes):
    from sftkit.model import load_model
    from sftkit.train import TrainConfig, train

    model, tok = load_model(model_path)
    config = TrainConfig(**{"steps": 4, "batch_size": 4, "save_steps": 2, "extra": {"method": "sft"}, **changes})
    return train(model, tok, records, config, output_dir=str(ckpt))


def test_resume_refuses_checkpoints_made_with_other_settings(tmp_path, random_models):
    """Killed at a checkpoint, then re-run with another lr or other data: refused in one line naming what
    changed (it used to continue the old run silently while the log recorded the new settings)."""
    from sftkit.io import SftkitError

    ckpt = tmp_path / "ckpt"
    _train_to(ckpt, random_models["llama"], [GOOD] * 8, steps=2)
    other = [{**GOOD, "messages": [GOOD["messages"][0], {"role": "assistant", "content": "abc"}]}] * 8
    with pytest.raises(SftkitError, match=r"other settings \(config\.lr 0\.001 -> 0\.002\)"):
        _train_to(ckpt, random_models["llama"], [GOOD] * 8, lr=2e-3)
    with pytest.raises(SftkitError, match=r"other settings \(data \(other records\)\)"):
        _train_to(ckpt, random_models["llama"], other)
    result = _train_to(ckpt, random_models["llama"], [GOOD] * 8)  # the same settings, a longer budget: resumes
    assert (result.resumed_from, result.steps_run) == (2, 2)


def test_cli_says_resumed_from_step_n(tmp_path, capsys, random_models):
    data = write(tmp_path / "d.jsonl", [GOOD] * 8)
    out = tmp_path / "model"
    argv = ["train", "sft", "--model", random_models["llama"], "--data", str(data), "--output", str(out),
            "--steps", "4", "--batch-size", "4", "--save-steps", "2"]
    _train_to(tmp_path / "model.checkpoints", random_models["llama"], [GOOD] * 8, steps=2)  # the killed run
    assert main(argv + ["--lr", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "other settings (config.lr 0.001 -> 0.01)" in err and err.count("\n") == 1
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "resumed from step 2" in said and "4 steps (resumed from step 2; 2 run now)" in said


def test_a_half_written_checkpoint_is_skipped(tmp_path, capsys, random_models):
    """A crash while the Trainer writes checkpoint-4 in place leaves it without its completion mark (and here
    with truncated weights): the re-run removes it, says so, and resumes from checkpoint-2."""
    from sftkit.train import CHECKPOINT_MARK

    ckpt = tmp_path / "ckpt"
    _train_to(ckpt, random_models["llama"], [GOOD] * 8)
    weights = ckpt / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    (ckpt / "checkpoint-4" / CHECKPOINT_MARK).unlink()
    capsys.readouterr()
    result = _train_to(ckpt, random_models["llama"], [GOOD] * 8)
    said = capsys.readouterr().out
    assert "skipping incomplete checkpoint" in said and "checkpoint-4" in said and "resumed from step 2" in said
    assert (result.resumed_from, result.steps_run) == (2, 2)
    assert (ckpt / "checkpoint-4" / CHECKPOINT_MARK).exists()


@pytest.mark.parametrize("content", ["", "{not json", '{"cells": 3}', "print('hello')\n"])
def test_tutorial_on_a_file_that_is_not_a_notebook_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "nb.ipynb"
    path.write_text(content)
    assert main(["tutorial", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a Jupyter notebook" in err and "Traceback" not in err
    assert path.read_text() == content


def test_leaderboard_errors_are_one_line(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    write(results / "nb.jsonl", [{"method": "sft", "variant": "", "seed": 0, "split": "test"}])
    assert main(["leaderboard", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nb.jsonl:1: not a results row (no 'skill')" in err
    assert main(["leaderboard", "--results", str(results), "--readme", str(tmp_path / "NOPE.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NOPE.md: no such file" in err
    assert sorted(p.name for p in results.iterdir()) == ["nb.jsonl"]


def test_a_missing_model_folder_is_named_as_such(tmp_path, capsys):
    data = write(tmp_path / "d.jsonl", [GOOD])
    assert main(["eval", "--model", str(tmp_path / "no-model"), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "no such model folder" in err and "Repo id" not in err and err.count("\n") == 1


def test_train_without_output_is_argparses_one_line(capsys):
    """`sftkit train sft --data sd.jsonl --max-length 512` without --output: a usage line naming --output, exit 2."""
    with pytest.raises(SystemExit) as stop:
        main(["train", "sft", "--data", "sd.jsonl", "--max-length", "512"])
    assert stop.value.code == 2
    assert "the following arguments are required: --output" in capsys.readouterr().err


def test_pairs_makes_the_preference_file_dpo_reads(tmp_path, capsys, random_models):
    """`sftkit pairs`: gold vs a corruption per prompt, plus with --model the model's own wrong samples, or with
    --on-policy notebook 05's recipe; the file loads as preference data (what `sftkit train dpo --data` reads)."""
    from sftkit.data import load_preferences
    from sftkit.world import SKILLS

    out = tmp_path / "pairs.jsonl"
    assert main(["pairs", "--output", str(out), "--per-skill", "2"]) == 0
    pairs = load_preferences(str(out))
    assert len(pairs) == 2 * len(SKILLS) and {p["source"] for p in pairs} == {"corruption"}
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    assert f"wrote {len(pairs)} pairs to {out} (0 from the model's own mistakes" in capsys.readouterr().out
    assert main(["pairs", "--output", str(out), "--per-skill", "1", "--model", random_models["llama"], "--samples", "2",
                 "--split", "dev"]) == 0
    pairs = load_preferences(str(out))
    assert {p["source"] for p in pairs} == {"corruption", "sample"}  # a random model's samples are wrong
    assert all(p["id"].startswith("dev-") for p in pairs)
    assert main(["pairs", "--output", str(out), "--corruptions", "0"]) == 2
    assert "no rejected answer" in capsys.readouterr().err
    assert main(["pairs", "--output", str(out), "--on-policy"]) == 2
    assert "--on-policy pairs come from a model's own samples: give --model" in capsys.readouterr().err
    assert main(["pairs", "--output", str(out), "--per-skill", "1", "--model", random_models["llama"], "--samples", "2",
                 "--on-policy"]) == 0
    pairs = load_preferences(str(out))  # a random model is always wrong: every chosen answer is the gold one
    assert len(pairs) == len(SKILLS) and {p["source"] for p in pairs} == {"gold-chosen"}
    assert f"wrote {len(pairs)} on-policy pairs to {out} (0 with a right sample" in capsys.readouterr().out


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `sftkit ...` command line in the code blocks of README.md and docs/*.md (also after `$(which sftkit)`,
    `python -m sftkit` or `.venv/bin/sftkit`), as (the line, its arguments): comments cut, optional `[...]` parts
    dropped, a `...` placeholder read as a value."""
    import re
    import shlex
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    found = []
    for path in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                code = re.split(r"\s#\s", " " + line.strip())[0].strip()
                m = re.match(r"(?:.*\$\(which sftkit\)|(?:\.venv/bin/)?python -m sftkit|(?:\.venv/bin/)?sftkit)\s+(.*)", code)
                if m and not code.startswith("#"):
                    args = re.sub(r"\[[^\[\]]*\]", "", m.group(1))
                    found.append((line.strip(), ["X" if a == "..." else a for a in shlex.split(args)]))
    return found


def test_every_documented_command_parses():
    """The README's and docs' command lines are complete (every required flag, no unknown one): e.g. the
    self-debugging line once lacked --output, and no command made the pairs.jsonl `sftkit train dpo` reads."""
    from sftkit.cli import build_parser

    commands = documented_commands()
    assert len(commands) >= 25 and any(args[0] == "pairs" for _, args in commands)
    parser = build_parser()
    for line, args in commands:
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"documented command does not parse: {line}")


def test_leaderboard_writes_the_blocks_its_file_has(tmp_path, capsys):
    """docs/results.md holds the results tables, the README the notebook table: --readme refreshes the blocks
    the file has, and a file with neither marker is one line."""
    from sftkit import results as results_module

    results = tmp_path / "results"
    row = {"notebook": "01_sft", "method": "sft", "variant": "full", "model": "tiny", "seed": 0, "split": "test",
           "skill": "all", "n": 10, "correct": 9, "accuracy": 0.9, "metric": "exact_match", "value": 0.9}
    results_module.save("01_sft", [row], results)
    tables, notebooks, neither = (tmp_path / n for n in ("results.md", "README.md", "other.md"))
    tables.write_text("<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n")
    notebooks.write_text("<!-- methods:start -->\n<!-- methods:end -->\n")
    neither.write_text("no markers\n")
    assert main(["leaderboard", "--results", str(results), "--readme", str(tables)]) == 0
    assert "| 01_sft | sft | full |" in tables.read_text()
    assert main(["leaderboard", "--results", str(results), "--readme", str(notebooks)]) == 0
    assert "02_sftmix" in notebooks.read_text() and "| 01_sft | sft | full |" not in notebooks.read_text()
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--readme", str(neither)]) == 2
    assert "no <!-- leaderboard:start --> or <!-- methods:start --> marker" in capsys.readouterr().err
