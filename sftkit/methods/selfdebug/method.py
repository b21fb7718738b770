"""LEDEX itself: its paper and knobs, the code tasks, wrong first attempts and their feedback, the teacher's
trajectories and their verification, the SFT and RL records, the reward and the refinement rounds, and the whole
pipeline (`make_data`, `sftkit generate selfdebug`). The package docstring (`sftkit.methods.selfdebug`) says what
each piece is and which choices the paper leaves open.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ...io import SftkitError
from ...sandbox import Limits, RunResult, pass_at_k, run_many
from ...teachers import Teacher
from ...world import make_splits, program_records
from ...world.bugs import Mutation, explanation_checks, pick_mutants
from ...world.skills import _expr_words
from ..base import MethodConfig, Paper, knob
from .prompts import debug_prompt, format_reply

PAPER = Paper("Training LLMs to Better Self-Debug and Explain Code (LEDEX)", "2405.18649",
              "none published (project page ledex-llm.github.io)", "11_selfdebug")
ERROR_RATE = 0.3  # the scripted teacher's share of wrong refinements this method's notebook uses
SEED_STRIDE = 1000  # teacher seed of reply r in a run with seed s: s x SEED_STRIDE + r

Generate = Callable[[list[str]], list[str]]  # prompts [N] (one user turn each) -> one reply each [N]


@dataclass
class Config(MethodConfig):
    """LEDEX's knobs (the teacher's are its own: `--teacher`, `--error-rate`)."""

    VARIANT = ("explanation_weight",)

    mutations_per_task: int = knob(3, "wrong first attempts drawn per task by mutating its gold program")
    replies_per_attempt: int = knob(1, "teacher replies (explanation + refinement) asked per wrong attempt")
    explanation_weight: float = knob(0.5, "reward = test pass rate + this x explanation score")
    unparsed_reward: float = knob(-1.0, "reward of a reply with no explanation or no code")


# ----------------------------------------------------------------------------------------------------
# Tasks and code in replies


def default_tasks(split: str = "train") -> list[dict]:
    """Code tasks of `split` ("train" or "test"): the world's code-skill records (one per distinct instruction)
    and its small programs (`program_records`). World-format records with meta["tests"]."""
    return one_line_tasks(split) + program_records(split)


def one_line_tasks(split: str = "train") -> list[dict]:
    """The world's code-skill records of `split` ("train", "test" or a shift: "wording", "larger", "composed"),
    one per distinct instruction: the tasks whose debug prompts fit the tiny model's 512 positions."""
    splits = make_splits()
    if split not in splits:
        raise SftkitError(f"split must be one of {', '.join(splits)}, got {split!r}")
    code = {task_prompt(r): r for r in splits[split] if r["skill"] == "code"}
    return list(code.values())


FRESH_TEMPLATES = ("Write a Python function f(x) that returns {w}.", "Python: f(x) gives {w}.")  # the world's train wordings


def fresh_tasks(n: int, kinds: tuple = ("larger", "composed"), seed: int = 0, exclude: set | None = None) -> list[dict]:
    """n new one-line code tasks of the world's shifted kinds, none in any split of the world: "larger" (x op k,
    k in 100-999) and "composed" ((x op k) op2 k2, k in 1-99, k2 in 2-9), in turn, with the train split's wordings.
    World-format records (split "fresh-<kind>", meta: expr, tests at x = 0, 1, 5; `exclude`: expressions to skip
    besides the world's). For RL prompts and dev sets that no evaluation split and no SFT arm contains."""
    rng = random.Random(seed)
    taken = {r["meta"]["expr"] for recs in make_splits().values() for r in recs if r["skill"] == "code"} | (exclude or set())
    out = []
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        op, op2 = rng.choice("+-*"), rng.choice("+-*")
        if kind == "larger":
            expr = f"x {op} {rng.randint(100, 999)}"
        else:
            k, k2 = rng.randint(1, 99), rng.randint(2, 9)
            expr = f"(x {op} {k}) {op2} {k2}"
        if expr in taken:
            continue
        taken.add(expr)
        answer = f"def f(x): return {expr}"
        out.append({"id": f"fresh-{kind}-{len(out):04d}", "skill": "code", "split": f"fresh-{kind}",
                    "messages": [{"role": "user", "content": rng.choice(FRESH_TEMPLATES).format(w=_expr_words(expr))},
                                 {"role": "assistant", "content": answer}],
                    "answer": answer, "meta": {"expr": expr, "tests": [[x, eval(expr, {"x": x})] for x in (0, 1, 5)]}})
    return out


def read_tasks(path) -> list[dict]:
    """Code tasks from a file (any format `sftkit.io.read_records` reads): records with a user turn (the task), the
    gold program in "answer" and its tests in meta["tests"] (the sandbox's forms: [argument, expected] pairs for
    f, or {"call", "expected"}); errors name the file, line and field."""
    from ...io import check_records, read_records

    def check(record: dict) -> dict:
        messages = record.get("messages")
        if not isinstance(messages, list) or not any(isinstance(m, dict) and m.get("role") == "user" for m in messages):
            raise ValueError("field 'messages' needs a user turn (the task)")
        if not isinstance(record.get("answer"), str) or not record["answer"].strip():
            raise ValueError("field 'answer' (the gold program, a string) is missing")
        tests = (record.get("meta") or {}).get("tests") if isinstance(record.get("meta"), dict) else None
        if not isinstance(tests, list) or not tests:
            raise ValueError("field 'meta.tests' (a non-empty list of tests) is missing")
        return {"skill": "code", **record}

    records = check_records(read_records(path), check)
    return [{**r, "id": r.get("id", f"task-{i:05d}")} for i, r in enumerate(records)]


def task_prompt(record: dict) -> str:
    """The task as the first attempt is asked: the record's (first) user turn."""
    return next(m["content"] for m in record["messages"] if m["role"] == "user")


def extract_code(reply: str) -> str:
    """The code in a reply: the first ``` fenced block, else everything from the first line that starts with
    "def " (stripped); "" when there is neither."""
    fenced = re.search(r"```(?:python)?\n(.*?)(?:```|\Z)", reply, re.S)
    if fenced:
        return fenced.group(1).strip("\n")
    start = re.search(r"^def ", reply, re.M)
    return reply[start.start():].strip() if start else ""


# ----------------------------------------------------------------------------------------------------
# Wrong first attempts and their execution feedback


def failing_call(result: RunResult) -> str | None:
    """The call of the first failing test ("f(0)"), or None when all passed or the program failed before any test
    (a SyntaxError, a timeout: then no test's own failure is to blame)."""
    fail = result.failing
    if result.passed or fail is None or fail.error_type == "NotRun":
        return None
    return fail.call if result.error_type in ("WrongAnswer", fail.error_type) else None


def feedback_text(result: RunResult) -> str:
    """Execution feedback for a prompt, from a sandbox run: the first failing call with what it returned (or the
    exception it raised) and what was expected, e.g. "f(0) returned -5, expected 5."; or the error that stopped
    the program before any test (a SyntaxError, a timeout...). Short: a tiny model reads it within 512 tokens."""
    if result.passed:
        return f"All {len(result.tests)} tests passed."
    if failing_call(result) is None:
        return f"The code failed before the tests: {result.error_type}: {result.error_message}."
    fail = result.failing
    if result.error_type == "WrongAnswer":
        return f"{fail.call} returned {fail.got!r}, expected {fail.expected!r}."
    return f"{fail.call} raised {fail.error}, expected {fail.expected!r}."


@dataclass
class Attempt:
    """A wrong first attempt at a task: the task record, the code, where it came from ("mutation:<kind>" or
    "sample"), its sandbox run and, for a mutation, the `Mutation`."""
    record: dict
    code: str
    source: str
    result: RunResult
    mutation: Mutation | None = None

    @property
    def feedback(self) -> str:
        return feedback_text(self.result)


def run_codes(records: list[dict], codes: list[str], limits: Limits | None = None, workers: int = 2,
              cache: dict | None = None) -> list[RunResult]:
    """Each code run against its record's tests in the sandbox (`run_many`): results [N]. A (code, tests) pair that
    occurs more than once runs once (samples of a small model repeat a lot; each run starts a process), and its
    result is shared. `cache` (a dict, filled here): results of earlier calls, keyed by (code, tests), so the same
    program on the same tests never runs twice across calls (rounds, models)."""
    cache = {} if cache is None else cache
    keys = [(c, json.dumps(r["meta"]["tests"], sort_keys=True)) for r, c in zip(records, codes)]
    first = {key: i for i, key in reversed(list(enumerate(keys))) if key not in cache}
    distinct = sorted(set(first.values()))
    results = run_many([{"program": codes[i], "tests": records[i]["meta"]["tests"]} for i in distinct], workers=workers,
                       limits=limits)
    cache.update({keys[i]: res for i, res in zip(distinct, results)})
    return [cache[key] for key in keys]


def mutated_attempts(records: list[dict], per_task: int = 3, seed: int = 0, limits: Limits | None = None,
                     workers: int = 2) -> tuple[list[Attempt], dict]:
    """Wrong first attempts by mutation: up to `per_task` `pick_mutants` of each task's gold program ("answer"),
    run in the sandbox with the gold programs (a gold program that fails is an `SftkitError`); the mutants that
    fail are the attempts. -> (attempts, report: counts of mutants, failing and still passing, by kind)."""
    rng = random.Random(seed)
    picked = [(r, m) for r in records for m in pick_mutants(r["answer"], per_task, rng)]
    results = run_codes(records + [r for r, _ in picked], [r["answer"] for r in records] + [m.program for _, m in picked],
                        limits, workers)
    for r, res in zip(records, results):
        if not res.passed:
            raise SftkitError(f"task {r.get('id')!r}: its gold program fails its own tests ({feedback_text(res)})")
    attempts = [Attempt(r, m.program, f"mutation:{m.kind}", res, m)
                for (r, m), res in zip(picked, results[len(records):]) if not res.passed]
    kinds = Counter(m.kind for _, m in picked)
    failing = Counter(a.mutation.kind for a in attempts)
    report = {"tasks": len(records), "mutants": len(picked), "failing": len(attempts),
              "by_kind": {k: {"mutants": kinds[k], "failing": failing[k]} for k in sorted(kinds)}}
    return attempts, report


def sampled_attempts(records: list[dict], generate: Generate, n: int = 4, limits: Limits | None = None,
                     workers: int = 2) -> tuple[list[Attempt], dict]:
    """Wrong first attempts from a model: `n` replies per task (`generate` on the task prompt repeated n times; it
    samples), their code (`extract_code`) run in the sandbox; the distinct failing codes are the attempts (source
    "sample"). -> (attempts, report: samples, passed, no code, failing, distinct failing)."""
    prompts = [task_prompt(r) for r in records for _ in range(n)]
    replies = generate(prompts)
    if len(replies) != len(prompts):
        raise SftkitError(f"sampled_attempts: generate returned {len(replies)} replies for {len(prompts)} prompts")
    tasks = [r for r in records for _ in range(n)]
    codes = [extract_code(reply) for reply in replies]
    results = run_codes(tasks, codes, limits, workers)
    seen, attempts = set(), []
    for r, code, res in zip(tasks, codes, results):
        if not res.passed and (r["id"], code) not in seen:
            seen.add((r["id"], code))
            attempts.append(Attempt(r, code, "sample", res))
    report = {"samples": len(prompts), "passed": sum(res.passed for res in results), "no_code": codes.count(""),
              "failing": sum(not res.passed for res in results), "distinct_failing": len(attempts)}
    return attempts, report


# ----------------------------------------------------------------------------------------------------
# The prompt of an attempt and the reply's parser (the prompt and reply format: prompts.py)


def attempt_prompt(attempt: Attempt) -> str:
    return debug_prompt(task_prompt(attempt.record), attempt.code, attempt.feedback)


@dataclass(frozen=True)
class Parsed:
    """A reply read by `parse_reply`: the explanation and code, or None and the reason it cannot be used."""
    explanation: str | None
    code: str | None
    reason: str = ""


def parse_reply(reply: str) -> Parsed:
    """(explanation, code) of a reply in the `format_reply` format; the code may be ``` fenced. A reply without
    "Explanation:", with an empty explanation, without "Fixed code:" or with no code after it is skipped with its
    reason (syntax is the sandbox's to judge)."""
    found = re.search(r"Explanation:(.*?)(?:Fixed code:(.*))?\Z", reply, re.S)
    if found is None:
        return Parsed(None, None, "no 'Explanation:'")
    explanation = found.group(1).strip()
    if not explanation:
        return Parsed(None, None, "empty explanation")
    if found.group(2) is None:
        return Parsed(None, None, "no 'Fixed code:'")
    code = extract_code(found.group(2)) or found.group(2).strip()
    if not code:
        return Parsed(None, None, "no code after 'Fixed code:'")
    return Parsed(explanation, code)


def refined_code(reply: str) -> str:
    """The refined code of any reply: the parsed one, else any code in it (`extract_code`), else ""."""
    return parse_reply(reply).code or extract_code(reply)


# ----------------------------------------------------------------------------------------------------
# Trajectories, verification, records


@dataclass
class Trajectory:
    """One teacher reply to an attempt: the parsed explanation and refined code, the refinement's sandbox run, and
    why it is not kept ("" when kept: parsed and passing every test)."""
    attempt: Attempt
    reply: str
    explanation: str | None
    code: str | None
    result: RunResult | None = None
    reason: str = ""

    @property
    def kept(self) -> bool:
        return self.result is not None and self.result.passed


def ask_teacher(attempts: list[Attempt], teacher: Teacher, replies: int = 1, seed: int = 0,
                **settings) -> list[Trajectory]:
    """`replies` teacher replies per attempt (reply r with seed=seed x SEED_STRIDE + r), parsed: trajectories
    [len(attempts) x replies], attempt-major; an unparseable reply's trajectory holds the parser's reason."""
    prompts = [attempt_prompt(a) for a in attempts]
    by_seed = [teacher.complete(prompts, **settings, seed=seed * SEED_STRIDE + r) if prompts else []
               for r in range(replies)]
    out = []
    for i, attempt in enumerate(attempts):
        for r in range(replies):
            p = parse_reply(by_seed[r][i])
            out.append(Trajectory(attempt, by_seed[r][i], p.explanation, p.code, reason=p.reason))
    return out


def verify(trajectories: list[Trajectory], limits: Limits | None = None, workers: int = 2) -> list[Trajectory]:
    """Execution verification: every parsed refinement runs against all its task's tests (one `run_many`); a
    trajectory is kept when all pass, else its reason is the `feedback_text`. Returns the trajectories."""
    todo = [t for t in trajectories if t.code is not None]
    for t, res in zip(todo, run_codes([t.attempt.record for t in todo], [t.code for t in todo], limits, workers)):
        t.result, t.reason = res, "" if res.passed else f"refinement fails: {res.error_type}"
    return trajectories


def verification_report(trajectories: list[Trajectory]) -> dict:
    """Counts: replies, kept, unparsed and failed (each by reason)."""
    unparsed = Counter(t.reason for t in trajectories if t.code is None)
    failed = Counter(t.reason for t in trajectories if t.code is not None and not t.kept)
    return {"replies": len(trajectories), "kept": sum(t.kept for t in trajectories),
            "unparsed": dict(unparsed.most_common()), "failed": dict(failed.most_common())}


def collect(records: list[dict], teacher: Teacher, config: Config | None = None, seed: int = 0,
            attempts: list[Attempt] | None = None, limits: Limits | None = None, workers: int = 2,
            **settings) -> tuple[list[Trajectory], dict]:
    """Wrong attempts (`mutated_attempts`, unless `attempts` are given: e.g. `sampled_attempts`) -> the teacher's
    explanations and refinements (`ask_teacher`) -> `verify`. -> (trajectories, report)."""
    config = config or Config()
    report = {}
    if attempts is None:
        attempts, report["attempts"] = mutated_attempts(records, config.mutations_per_task, seed, limits, workers)
    trajectories = verify(ask_teacher(attempts, teacher, config.replies_per_attempt, seed, **settings), limits, workers)
    report["verification"] = verification_report(trajectories)
    return trajectories, report


def trajectory_record(t: Trajectory, k: int, split: str = "selfdebug") -> dict:
    """A trajectory as a conversational record: user = `debug_prompt`, assistant = the reply in `format_reply`
    form (the teacher's own text when unparsed); meta holds what the reward reads (tests, wrong code, gold program,
    failing call, feedback) and the source, whether it was kept and the refinement's pass rate."""
    a = t.attempt
    reply = format_reply(t.explanation, t.code) if t.code is not None else t.reply
    meta = {"task": a.record.get("id"), "tests": a.record["meta"]["tests"], "wrong": a.code, "gold": a.record["answer"],
            "feedback": a.feedback, "failing_call": failing_call(a.result), "source": a.source, "kept": t.kept,
            "pass_rate": t.result.pass_rate if t.result is not None else None}
    return {"id": f"{split}-{k:05d}", "skill": "code", "split": split, "meta": meta,
            "messages": [{"role": "user", "content": attempt_prompt(a)}, {"role": "assistant", "content": reply}]}


def sft_records(trajectories: list[Trajectory]) -> list[dict]:
    """SFT data: the kept trajectories only, (task, wrong code, feedback) -> (explanation, refined code)."""
    return [trajectory_record(t, k) for k, t in enumerate(t for t in trajectories if t.kept)]


def rl_records(trajectories: list[Trajectory]) -> list[dict]:
    """RL prompts: every parsed or unparsed trajectory, successful and failed (meta["kept"]); PPO asks the policy
    their prompts and `reward_fn` scores its replies."""
    return [trajectory_record(t, k, "selfdebug-rl") for k, t in enumerate(trajectories)]


def own_failing_records(records: list[dict], generate: Generate, n: int = 2, limits: Limits | None = None,
                        workers: int = 2) -> tuple[list[dict], dict]:
    """RL prompts from a model's own failing first attempts (LEDEX's RL stage, on tasks the SFT data did not hold):
    `sampled_attempts` (n samples per task; the distinct failing codes), each as a debug record
    (`trajectory_record`, no teacher reply; meta holds the tests, the wrong code, the gold program and the failing
    call that `score_replies` reads). -> (records, the sampling report)."""
    attempts, report = sampled_attempts(records, generate, n, limits, workers)
    out = [trajectory_record(Trajectory(a, "", None, None), k, "selfdebug-rl") for k, a in enumerate(attempts)]
    return out, report


# ----------------------------------------------------------------------------------------------------
# The reward


def score_replies(records: list[dict], replies: list[str], explanation_weight: float = 0.5,
                  unparsed_reward: float = -1.0, limits: Limits | None = None, workers: int = 2) -> list[dict]:
    """Score replies [N] to `trajectory_record`-style records [N] (the package docstring): each -> {"reward", "reason"
    (the parser's, "" when parsed), "pass_rate", "checks", "explanation_score"}. Parsed refinements run in one
    `run_many`; reward = pass_rate + explanation_weight x explanation_score, or `unparsed_reward`."""
    if len(records) != len(replies):
        raise SftkitError(f"score_replies: {len(records)} records but {len(replies)} replies")
    parsed = [parse_reply(reply) for reply in replies]
    todo = [i for i, p in enumerate(parsed) if p.code is not None]
    results = dict(zip(todo, run_codes([records[i] for i in todo], [parsed[i].code for i in todo], limits, workers)))
    out = []
    for i, (record, p) in enumerate(zip(records, parsed)):
        if p.code is None:
            out.append({"reward": unparsed_reward, "reason": p.reason, "pass_rate": 0.0, "checks": {},
                        "explanation_score": 0.0})
            continue
        m = record["meta"]
        checks = explanation_checks(p.explanation, m["wrong"], m["gold"], m.get("failing_call"))
        score = sum(checks.values()) / len(checks)
        rate = results[i].pass_rate
        out.append({"reward": rate + explanation_weight * score, "reason": "", "pass_rate": rate, "checks": checks,
                    "explanation_score": score})
    return out


def reward_fn(config: Config | None = None, limits: Limits | None = None, log: list | None = None) -> Callable:
    """`score_replies` as an online `RewardFn` for PPO: (records [N], replies [N]) -> rewards, a float tensor [N].
    `log` (a list): each call appends {"format" (share of replies in the reply format), "pass_rate", "fixed" (share
    passing every test), "explanation_score"}, means over the call's replies: one entry per PPO step."""
    config = config or Config()

    def selfdebug_reward(records: list[dict], replies: list[str]):
        import torch

        for record in records:
            try:
                check_rl_record(record)
            except ValueError as e:
                raise SftkitError(str(e)) from None
        scored = score_replies(records, replies, config.explanation_weight, config.unparsed_reward, limits)
        if log is not None:
            log.append({"format": sum(not x["reason"] for x in scored) / len(scored),
                        "pass_rate": sum(x["pass_rate"] for x in scored) / len(scored),
                        "fixed": sum(x["pass_rate"] == 1.0 for x in scored) / len(scored),
                        "explanation_score": sum(x["explanation_score"] for x in scored) / len(scored)})
        return torch.tensor([s["reward"] for s in scored], dtype=torch.float32)

    return selfdebug_reward


# ----------------------------------------------------------------------------------------------------
# Evaluation: pass@k of the first attempt and after each refinement round


def refinement_rounds(records: list[dict], generate: Generate, n: int = 10, rounds: int = 3, ks: tuple = (1, 10),
                      limits: Limits | None = None, workers: int = 2, cache: dict | None = None) -> dict:
    """n chains per task: a first attempt (`generate` on the task prompt), then up to `rounds` refinements (on
    `debug_prompt` of the chain's current code and its feedback; `refined_code` of the reply, the previous code when
    it has none). A chain that passes stops. -> {"rows": [{"round", "pass@k" for each k <= n, "format" (share of
    that round's debug replies in the reply format; None in round 0), "replies"}] (round 0 = first attempt; pass@k
    is the mean over tasks of the unbiased `pass_at_k(n, c, k)`, c = chains passed by that round), "passed": per
    round, the passed chains per task [rounds + 1][tasks]}. `cache`: sandbox results shared across calls (`run_codes`)."""
    cache = {} if cache is None else cache
    chains = [r for r in records for _ in range(n)]
    codes = [extract_code(reply) for reply in _generated(generate, [task_prompt(r) for r in chains])]
    results = run_codes(chains, codes, limits, workers, cache)
    rows, passed = [], []
    for rnd in range(rounds + 1):
        fmt, todo = None, []
        if rnd:
            todo = [i for i, res in enumerate(results) if not res.passed]
            prompts = [debug_prompt(task_prompt(chains[i]), codes[i], feedback_text(results[i])) for i in todo]
            replies = _generated(generate, prompts)
            fmt = sum(parse_reply(reply).code is not None for reply in replies) / len(replies) if replies else None
            for i, reply in zip(todo, replies):
                codes[i] = refined_code(reply) or codes[i]
            for i, res in zip(todo, run_codes([chains[i] for i in todo], [codes[i] for i in todo], limits, workers, cache)):
                results[i] = res
        counts = [sum(res.passed for res in results[t * n:(t + 1) * n]) for t in range(len(records))]
        passed.append(counts)
        rows.append({"round": rnd, **{f"pass@{k}": sum(pass_at_k(n, c, k) for c in counts) / len(counts)
                                      for k in ks if k <= n}, "format": fmt, "replies": len(todo)})
    return {"rows": rows, "passed": passed}


def item_pass(counts: list[int], n: int, k: int = 1) -> list[float]:
    """Per-task pass@k [tasks] from the chains passed per task (`refinement_rounds`' "passed"[round]) of n chains:
    the per-item scores `sftkit.stats.compare` pairs across arms (pass@1 = c / n)."""
    return [pass_at_k(n, c, k) for c in counts]


def _generated(generate: Generate, prompts: list[str]) -> list[str]:
    replies = generate(prompts) if prompts else []
    if len(replies) != len(prompts):
        raise SftkitError(f"generate returned {len(replies)} replies for {len(prompts)} prompts")
    return replies


def model_generate(model, tokenizer, max_new_tokens: int = 160, temperature: float = 0.8, top_p: float = 0.95,
                   seed: int = 0, batch_size: int = 64, attempt_tokens: int | None = None) -> Generate:
    """A `Generate` from a chat model (`sftkit.evaluate.generate`): each prompt one user turn, sampled at
    `temperature` (0: greedy); the k-th call seeds torch with seed + k, so repeated calls draw new samples.
    `attempt_tokens`: the reply budget of a call with no debug prompt (first attempts: a one-line function needs
    about 30 tokens; sampling runs a batch until its longest reply ends, so the budget is the cost)."""
    from .prompts import DEBUG_RE

    calls = [0]

    def run(prompts: list[str]) -> list[str]:
        import torch

        from ...evaluate import generate

        torch.manual_seed(seed + calls[0])
        calls[0] += 1
        sample = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {}
        first = attempt_tokens is not None and not any(DEBUG_RE.search(p) for p in prompts)
        return generate(model, tokenizer, [[{"role": "user", "content": p}] for p in prompts],
                        attempt_tokens if first else max_new_tokens, batch_size, **sample)

    return run


# ----------------------------------------------------------------------------------------------------
# The whole data step


def make_data(tasks: list[dict] | None, teacher: Teacher, config: Config | None = None, seed: int = 0,
              device: str | None = None, settings: dict | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """LEDEX's data end to end: mutated wrong attempts of `tasks` (None: `default_tasks("train")`), the teacher's
    explanations and refinements, execution verification -> SFT records of the kept trajectories. The counts and
    reasons are logged. `settings` go with every teacher prompt (not "seed", which each reply sets); `device` is
    unused (no model of its own: the data-side signature)."""
    return sft_records(logged_trajectories(tasks, teacher, config, seed, settings, log))


def logged_trajectories(tasks: list[dict] | None, teacher: Teacher, config: Config | None = None, seed: int = 0,
                        settings: dict | None = None, log: Callable[[str], None] = print) -> list[Trajectory]:
    """`collect` on `tasks` (None: `default_tasks("train")`), with its counts and reasons logged in two lines."""
    config = config or Config()
    tasks = default_tasks("train") if tasks is None else tasks
    if not tasks:
        raise SftkitError("no code tasks to make self-debugging data from")
    trajectories, report = collect(tasks, teacher, config, seed, **(settings or {}))
    a, v = report["attempts"], report["verification"]
    log(f"wrong attempts: {a['failing']} of {a['mutants']} mutants of {a['tasks']} tasks fail their tests")
    reasons = "; ".join(f"{n} x {why}" for why, n in {**v["unparsed"], **v["failed"]}.items())
    log(f"verification: {v['kept']} of {v['replies']} teacher replies kept" + (f" (dropped: {reasons})" if reasons else ""))
    return trajectories


# ----------------------------------------------------------------------------------------------------
# `sftkit generate selfdebug` and `sftkit train ppo --reward selfdebug`

RL_FIELDS = ("tests", "wrong", "gold")  # what `score_replies` reads from a record's meta


def add_generate_arguments(parser) -> None:
    """`sftkit generate selfdebug`'s own inputs (the CLI adds the teacher's and the Config's)."""
    parser.add_argument("--tasks", default=None, help="code tasks: records with a user turn, the gold program in "
                        "'answer' and meta.tests (default: the tiny world's code tasks of --split)")
    parser.add_argument("--split", default="train", help="the tiny world's split of the default tasks (train, test, "
                        "or a shift: wording, larger, composed)")
    parser.add_argument("--programs", action=argparse.BooleanOptionalAction, default=False,
                        help="with the default tasks, also the small multi-line programs (train/test only; their "
                        "prompts need ~610 tokens, more than the tiny model's 512 positions) (default: off)")
    parser.add_argument("--max-tasks", type=int, default=None, help="only the first N tasks")
    parser.add_argument("--rl-output", default=None, help="also write every trajectory, kept or not, as RL prompts "
                        "for `sftkit train ppo --reward selfdebug --data FILE`")


def data_from_args(args, teacher: Teacher, config: Config) -> list[dict]:
    """`make_data` with `sftkit generate selfdebug`'s arguments; --rl-output also gets `rl_records`."""
    from ...io import write_jsonl

    if args.tasks:
        tasks = read_tasks(args.tasks)
    else:
        tasks = one_line_tasks(args.split)
        if args.programs:
            if args.split not in ("train", "test"):
                raise SftkitError(f"--programs: the small programs have train and test splits only, not {args.split!r}")
            tasks += program_records(args.split)
    if args.max_tasks is not None:
        if args.max_tasks < 1:
            raise SftkitError(f"--max-tasks must be at least 1, got {args.max_tasks}")
        tasks = tasks[:args.max_tasks]
    trajectories = logged_trajectories(tasks, teacher, config, args.seed)
    if args.rl_output:
        rl = rl_records(trajectories)
        write_jsonl(args.rl_output, rl)
        print(f"wrote {len(rl)} RL prompts to {args.rl_output}; train on them with: sftkit train ppo --reward "
              f"selfdebug --data {args.rl_output} --model <the SFT model> --output ...")
    return sft_records(trajectories)


def default_rl_data(error_rate: float = ERROR_RATE, seed: int = 0) -> tuple[list[dict], str]:
    """`sftkit train ppo --reward selfdebug` without --data: RL prompts of the scripted teacher's trajectories on
    the tiny world's one-line train code tasks (error rate `ERROR_RATE`; the teacher plays `scripted.tasks()`), kept
    and failed."""
    from ...teachers import ScriptedTeacher
    from .scripted import tasks

    teacher = ScriptedTeacher(error_rate, seed=seed, tasks=tasks())
    records = rl_records(logged_trajectories(one_line_tasks("train"), teacher, seed=seed, log=lambda _: None))
    return records, (f"self-debugging RL prompts (scripted teacher, error rate {error_rate}) on the tiny world's "
                     f"one-line code tasks, train split: {len(records)} prompts")


def check_rl_record(record: dict) -> None:
    """A ValueError naming the field an RL record lacks for `score_replies` (meta's tests, wrong code, gold)."""
    meta = record.get("meta")
    missing = [f for f in RL_FIELDS if not isinstance(meta, dict) or f not in meta]
    if missing:
        raise ValueError(f"field 'meta.{missing[0]}' is missing (the selfdebug reward reads meta's "
                         f"{', '.join(RL_FIELDS)}: records of `sftkit generate selfdebug --rl-output`)")

