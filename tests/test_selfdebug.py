"""LEDEX (self-debugging) data side: mutations that fail in the sandbox while the gold programs pass, execution
feedback from hand-checked programs, the explanation proxy, the reply parser (bad replies skipped with a reason),
the scripted teacher's task, execution verification, the reward on hand values, pass@k over refinement rounds with a
fake generate callable, and make_data end to end. Every program runs in the sandbox (a few seconds in all)."""
from __future__ import annotations

import json
import random
import re

import pytest
import torch

from sftkit.data import validate_conversation
from sftkit.io import WORLD_DIR
from sftkit.methods import selfdebug as sd
from sftkit.sandbox import pass_at_k, run_many, run_program
from sftkit.teachers import UNRECOGNISED_REPLY, ScriptedTeacher
from sftkit.world import program_records

pytestmark = pytest.mark.usefixtures("repository_untouched")

PLUS5 = {"id": "t-plus5", "skill": "code", "answer": "def f(x): return x + 5",
         "messages": [{"role": "user", "content": "Write a Python function f(x) that returns x plus 5."},
                      {"role": "assistant", "content": "def f(x): return x + 5"}],
         "meta": {"expr": "x + 5", "tests": [[0, 5], [1, 6], [5, 10]]}}


def attempt(code: str, record: dict = PLUS5) -> sd.Attempt:
    return sd.Attempt(record, code, "hand", run_program(code, record["meta"]["tests"]))


def some_tasks() -> list[dict]:
    """Two one-line code tasks and one program of each family."""
    programs = {r["meta"]["family"]: r for r in program_records("train")}
    return sd.default_tasks("train")[:2] + list(programs.values())


def test_mutants_of_a_one_liner_by_hand():
    found = {(m.kind, m.program) for m in sd.mutants("def f(x): return x - 5")}
    assert found == {("missing_return", "def f(x): x - 5"), ("operator", "def f(x): return x + 5"),
                     ("operator", "def f(x): return x * 5"), ("swapped", "def f(x): return 5 - x"),
                     ("off_by_one", "def f(x): return x - 6"), ("off_by_one", "def f(x): return x - 4"),
                     ("constant", "def f(x): return x - 7")}
    assert sd.mutants("def f(x): return x + 23")[-1].program == "def f(x): return x + 32"  # digits transposed
    assert "def f(x): return x + 02" not in {m.program for m in sd.mutants("def f(x): return x + 20")}
    two = {m.program for m in sd.mutants("def f(a, b):\n    return a - 3 * b") if m.kind == "swapped"}
    assert two == {"def f(b, a):\n    return a - 3 * b", "def f(a, b):\n    return 3 - a * b"}
    picked = sd.pick_mutants("def f(x): return x - 5", 4, random.Random(0))
    assert len(picked) == 4 and len({m.kind for m in picked}) == 4  # spread over kinds


def test_mutations_fail_in_the_sandbox_and_gold_passes():
    tasks = some_tasks()
    attempts, report = sd.mutated_attempts(tasks, per_task=6, seed=0)  # raises if a gold program failed
    assert report["tasks"] == len(tasks) and report["failing"] == len(attempts)
    assert report["failing"] >= 0.9 * report["mutants"]
    assert set(report["by_kind"]) == set(sd.KINDS)
    assert all(not a.result.passed and a.source == f"mutation:{a.mutation.kind}" for a in attempts)
    rerun = run_many([(a.code, a.record["meta"]["tests"]) for a in attempts[:4]])
    assert not any(r.passed for r in rerun)
    broken = dict(tasks[0], answer="def f(x): return None")
    with pytest.raises(Exception, match="gold program fails its own tests"):
        sd.mutated_attempts([broken], per_task=1)


def test_feedback_text_from_hand_checked_programs():
    programs = ["def f(x): return x - 5", "def f(x): return x + 5 if x < 5 else 1 // 0", "def f(x): return x +",
                "def g(x): return x + 5", "def f(x): return x + 5", "def f(x): x + 5"]
    results = run_many([(p, PLUS5["meta"]["tests"]) for p in programs])
    texts = [sd.feedback_text(r) for r in results]
    assert texts[0] == "f(0) returned -5, expected 5."
    assert texts[1] == "f(5) raised ZeroDivisionError: integer division or modulo by zero, expected 10."
    assert texts[2] == "The code failed before the tests: SyntaxError: invalid syntax (line 1)."
    assert texts[3] == "f(0) raised NoFunction: the program defines no function f(), expected 5."
    assert texts[4] == "All 3 tests passed."
    assert texts[5] == "f(0) returned None, expected 5."
    assert [sd.failing_call(r) for r in results] == ["f(0)", "f(5)", None, "f(0)", None, "f(0)"]


def test_changed_fragments_and_the_explanation_proxy():
    assert sd.changed_fragments("def f(x): return x - 5", "def f(x): return x + 5") == [(1, "x - 5", "x + 5")]
    assert sd.changed_fragments("def f(x): x + 5", "def f(x): return x + 5") == [(1, ": x", ": return x")]
    wrong, gold = "def f(n):\n    t = 0\n    for i in range(1, n):\n        t += i\n    return t", \
        "def f(n):\n    t = 0\n    for i in range(1, n + 1):\n        t += i\n    return t"
    assert sd.changed_fragments(wrong, gold) == [(3, "n)", "n + 1)")]
    full = "Line 3 has `range(1, n)` but it needs `n + 1)`, so f(3) fails."
    assert sd.explanation_checks(full, wrong, gold, "f(3)") == {"bug": True, "fix": True, "test": True}
    assert sd.explanation_checks("The code is wrong.", wrong, gold, "f(3)") == {"bug": False, "fix": False, "test": False}
    assert sd.explanation_checks("x-5 should be x+5", "def f(x): return x - 5", PLUS5["answer"], None) \
        == {"bug": True, "fix": True}  # whitespace ignored; no call, no "test" check
    assert sd.explain("def f(x): return x - 5", PLUS5["answer"], "f(0)") \
        == "Line 1 has `x - 5` where it needs `x + 5`, so f(0) fails."


def test_parse_reply_skips_bad_replies_with_a_reason():
    good = sd.parse_reply("Explanation: the sign is wrong.\nFixed code:\ndef f(x): return x + 5")
    assert good == sd.Parsed("the sign is wrong.", "def f(x): return x + 5", "")
    fenced = sd.parse_reply("Explanation: sign.\nFixed code:\n```python\ndef f(x):\n    return x + 5\n```\nDone.")
    assert fenced.code == "def f(x):\n    return x + 5"
    for reply, reason in [("I am not sure.", "no 'Explanation:'"),
                          ("Explanation:\nFixed code:\ndef f(x): 1", "empty explanation"),
                          ("Explanation: the sign.", "no 'Fixed code:'"),
                          ("Explanation: the sign.\nFixed code:\n", "no code after 'Fixed code:'")]:
        parsed = sd.parse_reply(reply)
        assert (parsed.explanation, parsed.code, parsed.reason) == (None, None, reason)
    assert sd.refined_code("Sure:\ndef f(x): return x + 5") == "def f(x): return x + 5"
    assert sd.extract_code("no code here") == ""


def test_scripted_teacher_explains_and_fixes_or_errs():
    task = sd.default_tasks("train")[0]  # the world's "x plus 23"
    prompt = sd.attempt_prompt(attempt("def f(x): return x - 23", task))
    assert prompt.endswith("Task: Write a Python function f(x) that returns x plus 23.\nCode:\ndef f(x): return x - 23\n"
                           "Feedback: f(0) returned -23, expected 23.")
    right = ScriptedTeacher(tasks=sd.teacher_tasks(), strict=True).ask(prompt)
    assert right == ("Explanation: Line 1 has `x - 23` where it needs `x + 23`, so f(0) fails.\nFixed code:\n"
                     "def f(x): return x + 23")
    bad = sd.parse_reply(ScriptedTeacher(tasks=sd.teacher_tasks(), error_rate=1.0).ask(prompt))
    assert bad.code not in (None, task["answer"]) and not run_program(bad.code, task["meta"]["tests"]).passed
    unknown = sd.debug_prompt("Write a Python function f(x) that returns x plus 1000000.", "def f(x): 1", "f(0) fails.")
    assert ScriptedTeacher(tasks=sd.teacher_tasks()).ask(unknown) == UNRECOGNISED_REPLY


def test_verification_keeps_only_passing_refinements():
    a = attempt("def f(x): return x - 5")
    replies = [sd.format_reply("Use +.", "def f(x): return x + 5"), sd.format_reply("Use *.", "def f(x): return x * 5"),
               "I cannot help with that.", sd.format_reply("Oops.", "def f(x) return x + 5")]
    parsed = [sd.parse_reply(r) for r in replies]
    trajectories = sd.verify([sd.Trajectory(a, r, p.explanation, p.code, reason=p.reason) for r, p in zip(replies, parsed)])
    assert [t.kept for t in trajectories] == [True, False, False, False]
    assert sd.verification_report(trajectories) == {
        "replies": 4, "kept": 1, "unparsed": {"no 'Explanation:'": 1},
        "failed": {"refinement fails: WrongAnswer": 1, "refinement fails: SyntaxError": 1}}
    records = sd.sft_records(trajectories)
    assert len(records) == 1 and records[0]["messages"][1]["content"] == replies[0]
    rl = sd.rl_records(trajectories)
    assert [r["meta"]["kept"] for r in rl] == [True, False, False, False] and rl[2]["messages"][1]["content"] == replies[2]
    assert rl[0]["meta"]["failing_call"] == "f(0)" and rl[1]["meta"]["pass_rate"] == pytest.approx(0.0)


def test_reward_on_hand_values():
    record = sd.trajectory_record(sd.Trajectory(attempt("def f(x): return x - 5"), "", None, None), 0)
    replies = [sd.format_reply("Line 1 has `x - 5` where it needs `x + 5`, so f(0) fails.", "def f(x): return x + 5"),
               sd.format_reply("f(0) is wrong.", "def f(x): return 5 if x == 0 else x"),  # passes f(0) only: 1/3
               sd.format_reply("It should be x + 5.", "def f(x): return x - 5"),  # names the fix only, still wrong
               "I am not sure."]
    scored = sd.score_replies([record] * 4, replies, explanation_weight=0.5, unparsed_reward=-1.0)
    assert [s["reward"] for s in scored] == pytest.approx([1.5, 1 / 3 + 0.5 / 3, 0.5 / 3, -1.0])
    assert scored[1]["checks"] == {"bug": False, "fix": False, "test": True} and scored[3]["reason"] == "no 'Explanation:'"
    rewards = sd.reward_fn(sd.Config(explanation_weight=0.0))([record] * 2, replies[:2])
    assert rewards.dtype == torch.float32 and rewards.tolist() == pytest.approx([1.0, 1 / 3])


def test_pass_at_k_across_refinement_rounds_with_a_fake_generate():
    """Chain j of a task starts j too high (x + 5 + j) and each refinement moves the constant down by one, so with
    n=4 chains c = 1, 2, 3, 4 have passed after rounds 0, 1, 2, 3."""
    asked = {}

    def generate(prompts):
        replies = []
        for p in prompts:
            if p.startswith("Write"):
                j = asked[p] = asked.get(p, -1) + 1
                replies.append(f"def f(x): return x + {int(p.split('plus ')[1].rstrip('.')) + j}")
            else:
                k = int(p.split("Code:\ndef f(x): return x + ")[1].split("\n")[0])
                replies.append(sd.format_reply("One too high.", f"def f(x): return x + {k - 1}"))
        return replies

    plus7 = dict(PLUS5, id="t-plus7", messages=[{"role": "user", "content": "Write a Python function f(x) that returns x plus 7."}],
                 meta={"tests": [[0, 7], [2, 9]]})
    out = sd.refinement_rounds([PLUS5, plus7], generate, n=4, rounds=3, ks=(1, 2, 10))
    assert out["passed"] == [[1, 1], [2, 2], [3, 3], [4, 4]]
    assert [r["round"] for r in out["rows"]] == [0, 1, 2, 3]
    assert [r["pass@1"] for r in out["rows"]] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert [r["pass@2"] for r in out["rows"]] == pytest.approx([pass_at_k(4, c, 2) for c in (1, 2, 3, 4)])
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5) and "pass@10" not in out["rows"][0]  # k > n is left out


def test_sampled_attempts_keep_distinct_failing_samples():
    replies = iter(["def f(x): return x + 5", "def f(x): return x - 5", "def f(x): return x - 5", "I do not know."])
    attempts, report = sd.sampled_attempts([PLUS5], lambda prompts: [next(replies) for _ in prompts], n=4)
    assert report == {"samples": 4, "passed": 1, "no_code": 1, "failing": 3, "distinct_failing": 2}
    assert [(a.code, a.source) for a in attempts] == [("def f(x): return x - 5", "sample"), ("", "sample")]


def test_make_data_end_to_end_with_the_scripted_teacher():
    logs = []
    teacher = ScriptedTeacher(tasks=sd.teacher_tasks(), error_rate=sd.ERROR_RATE, laziness_rate=0.1, seed=0)
    config = sd.Config(mutations_per_task=2, replies_per_attempt=2)
    records = sd.make_data(some_tasks()[:4], teacher, config, log=logs.append)
    assert logs[0].startswith("wrong attempts: ") and logs[1].startswith("verification: ")
    kept, replies = (int(x) for x in logs[1].split(": ")[1].split(" teacher")[0].split(" of "))
    assert len(records) == kept and 0 < kept < replies == 2 * int(logs[0].split(": ")[1].split(" of")[0])
    for r in records:
        validate_conversation(r)
        assert r["meta"]["kept"] and r["meta"]["pass_rate"] == 1.0
    fixed = [sd.parse_reply(r["messages"][1]["content"]).code for r in records]
    assert all(res.passed for res in run_many([(c, r["meta"]["tests"]) for c, r in zip(fixed, records)]))
    assert sd.default_tasks("test")[-1]["split"] == "programs-test"


def test_model_generate_with_a_small_random_model(random_models):
    from sftkit.model import load_model

    model, tokenizer = load_model(random_models["llama"], device="cpu")
    generate = sd.model_generate(model, tokenizer, max_new_tokens=4, temperature=1.0)
    replies = generate(["Write a Python function f(x) that returns x plus 5.", "Fix the code."])
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)


# ----------------------------------------------------------------------------------------------------
# Registry and command line


def test_registered_data_side_with_its_paper():
    from sftkit.methods import NAMES, get

    spec = get("selfdebug")
    assert NAMES.index("selfdebug") == NAMES.index("skillmix") + 1
    assert spec.shape == "data" and spec.paper.arxiv == "2405.18649" and spec.paper.notebook in sd.__doc__
    assert spec.config().explanation_weight == 0.5


def test_run_codes_runs_each_distinct_program_once(monkeypatch):
    calls = []
    real = sd.run_many

    def counting(jobs, **kwargs):
        calls.append(len(jobs))
        return real(jobs, **kwargs)

    monkeypatch.setattr(sd.method, "run_many", counting)  # where run_codes looks it up
    codes = ["def f(x): return x + 5", "def f(x): return x - 5", "def f(x): return x + 5"]
    results = sd.run_codes([PLUS5] * 3, codes)
    assert calls == [2] and [r.passed for r in results] == [True, False, True] and results[0] is results[2]


def test_one_line_tasks_and_read_tasks(tmp_path):
    tasks = sd.one_line_tasks("larger")
    assert tasks and all(r["skill"] == "code" and "\n" not in r["answer"] for r in tasks)
    assert len({sd.task_prompt(r) for r in tasks}) == len(tasks)
    with pytest.raises(sd.SftkitError, match="split must be one of"):
        sd.one_line_tasks("nope")
    good = {k: PLUS5[k] for k in ("messages", "answer", "meta")}
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "meta": {}}) + "\n")
    with pytest.raises(sd.SftkitError, match=r"tasks.jsonl:2: field 'meta.tests'"):
        sd.read_tasks(path)
    path.write_text(json.dumps(good) + "\n")
    assert sd.read_tasks(path) == [{**good, "skill": "code", "id": "task-00000"}]


def test_generate_cli_writes_verified_sft_records_and_rl_prompts(tmp_path, capsys):
    from sftkit.cli import main

    out, rl = tmp_path / "sd.jsonl", tmp_path / "rl.jsonl"
    assert main(["generate", "selfdebug", "--output", str(out), "--rl-output", str(rl), "--max-tasks", "6",
                 "--mutations-per-task", "2", "--error-rate", "0.3"]) == 0
    said = capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    prompts = [json.loads(line) for line in rl.read_text().splitlines()]
    assert records and all(r["meta"]["kept"] for r in records) and len(prompts) == 12
    assert sum(p["meta"]["kept"] for p in prompts) == len(records) and "12 mutants of 6 tasks" in said
    for r in records:
        validate_conversation(r)
        assert r["messages"][1]["content"].startswith("Explanation: ")
    # bad inputs: one line each, exit status 2
    (tmp_path / "bad.jsonl").write_text('{"messages": [{"role": "user", "content": "x"}]}\n')
    for argv, message in ((["--tasks", str(tmp_path / "bad.jsonl")], "bad.jsonl:1: field 'answer'"),
                          (["--split", "dev2"], "split must be one of"),
                          (["--max-tasks", "0"], "--max-tasks must be at least 1"),
                          (["--split", "larger", "--programs"], "--programs: the small programs have train and test")):
        assert main(["generate", "selfdebug", "--output", str(tmp_path / "x.jsonl"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_trains_ppo_with_the_selfdebug_reward(tmp_path, capsys, random_models, monkeypatch):
    import sftkit.methods.ppo as ppo
    from sftkit.cli import main

    rl = tmp_path / "rl.jsonl"
    assert main(["generate", "selfdebug", "--output", str(tmp_path / "sd.jsonl"), "--rl-output", str(rl),
                 "--max-tasks", "4", "--mutations-per-task", "1"]) == 0
    seen = {}
    real = ppo.selfdebug_reward_fn

    def spy(records, answers):
        seen.setdefault("sources", set()).update(r["meta"]["source"] for r in records)
        return real(records, answers)

    monkeypatch.setattr(ppo, "selfdebug_reward_fn", spy)
    out = tmp_path / "ppo"
    assert main(["train", "ppo", "--reward", "selfdebug", "--data", str(rl), "--model", random_models["llama"],
                 "--output", str(out), "--steps", "2", "--batch-size", "2", "--max-new-tokens", "8"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["reward"] == "selfdebug" and len(log["history"]) == 2
    # an unparseable reply scores unparsed_reward: random 8-token replies never hold "Explanation:" and code
    assert all(h["reward"] == -1.0 for h in log["history"]) and seen["sources"]
    # world records have no meta.wrong: one line before any work
    capsys.readouterr()
    code = main(["train", "ppo", "--reward", "selfdebug", "--model", random_models["llama"], "--output",
                 str(tmp_path / "y"), "--data", str(WORLD_DIR / "train.jsonl")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "field 'meta" in err and not (tmp_path / "y").exists()


def test_ppo_selfdebug_defaults():
    import sftkit.methods.ppo as ppo

    assert ppo.MAX_NEW_TOKENS["selfdebug"] >= 120
    assert ppo.required("selfdebug").keys() == {"meta"} and ppo.required("judgement") == ppo.REQUIRED
    with pytest.raises(sd.SftkitError, match=r"record 'w': field 'meta.tests' is missing"):
        ppo.check_data([{"id": "w", "meta": {"wrong": "", "gold": ""}}], "selfdebug")
    ppo.check_data([{"id": "w"}], "judgement")


def test_run_codes_cache_skips_programs_run_in_an_earlier_call(monkeypatch):
    calls = []
    real = sd.run_many

    def counting(jobs, **kwargs):
        calls.append(len(jobs))
        return real(jobs, **kwargs)

    monkeypatch.setattr(sd.method, "run_many", counting)
    cache = {}
    first = sd.run_codes([PLUS5] * 2, ["def f(x): return x + 5", "def f(x): return x - 5"], cache=cache)
    again = sd.run_codes([PLUS5] * 3, ["def f(x): return x - 5", "def f(x): return x * 5", "def f(x): return x + 5"],
                         cache=cache)
    assert calls == [2, 1] and len(cache) == 3  # only `x * 5` is new in the second call
    assert again[0] is first[1] and again[2] is first[0] and [r.passed for r in again] == [False, False, True]


def test_refinement_rounds_report_the_format_share_and_item_pass():
    """Round 1: of the 2 failing chains one reply is in the format (it fixes the code), one is not (code kept)."""
    first = iter(["def f(x): return x + 5", "def f(x): return x - 5", "def f(x): return x * 5"])

    def generate(prompts):
        if prompts[0].startswith("Write"):
            return [next(first) for _ in prompts]
        return [sd.format_reply("Wrong operator.", "def f(x): return x + 5"), "no idea"][:len(prompts)]

    out = sd.refinement_rounds([PLUS5], generate, n=3, rounds=1, ks=(1, 3))
    assert out["passed"] == [[1], [2]]
    assert out["rows"][0]["format"] is None and out["rows"][0]["replies"] == 0
    assert out["rows"][1]["format"] == pytest.approx(0.5) and out["rows"][1]["replies"] == 2
    assert sd.item_pass([1, 2, 0], 3, 1) == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert sd.item_pass([1], 3, 2) == pytest.approx([1 - 1 / 3])  # 1 - C(2,2)/C(3,2)


def test_fresh_tasks_are_new_right_and_of_both_kinds():
    from sftkit.world import make_splits

    world = {r["meta"]["expr"] for recs in make_splits().values() for r in recs if r["skill"] == "code"}
    tasks = sd.fresh_tasks(40, seed=3)
    assert len(tasks) == 40 and len({t["meta"]["expr"] for t in tasks}) == 40
    assert not world & {t["meta"]["expr"] for t in tasks}
    assert {t["split"] for t in tasks} == {"fresh-larger", "fresh-composed"}
    larger = next(t for t in tasks if t["split"] == "fresh-larger")
    assert 100 <= int(larger["meta"]["expr"].split()[-1]) <= 999
    hand = sd.fresh_tasks(2, kinds=("composed",), seed=0, exclude={"(x + 1) * 2"})
    for t in hand:  # the tests by hand: (x op k) op2 k2 at 0, 1, 5
        op, k, op2, k2 = re.fullmatch(r"\(x ([-+*]) (\d+)\) ([-+*]) (\d)", t["meta"]["expr"]).groups()
        f = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
        assert t["meta"]["tests"] == [[x, f[op2](f[op](x, int(k)), int(k2))] for x in (0, 1, 5)]
        assert t["meta"]["expr"] != "(x + 1) * 2"
    results = run_many([(t["answer"], t["meta"]["tests"]) for t in tasks[:4]])
    assert all(r.passed for r in results)
    assert sd.fresh_tasks(5, seed=3) == tasks[:5]  # seeded


def test_own_failing_records_and_the_reward_log():
    replies = iter(["def f(x): return x - 5", "def f(x): return x + 5"])
    records, report = sd.own_failing_records([PLUS5], lambda prompts: [next(replies) for _ in prompts], n=2)
    assert report["passed"] == 1 and len(records) == 1
    m = records[0]["meta"]
    assert m["wrong"] == "def f(x): return x - 5" and m["gold"] == PLUS5["answer"] and m["failing_call"] == "f(0)"
    assert "f(0) returned -5, expected 5." in records[0]["messages"][0]["content"]
    log = []
    reward = sd.reward_fn(log=log)
    out = reward(records * 2, [sd.format_reply("Line 1 has `x - 5` where it needs `x + 5`, so f(0) fails.",
                                               "def f(x): return x + 5"), "no idea"])
    assert out.tolist() == pytest.approx([1.5, -1.0])
    assert log == [{"format": 0.5, "pass_rate": 0.5, "fixed": 0.5, "explanation_score": 0.5}]
