"""LEDEX: training a model to explain its wrong code and fix it (Jiang, Li, Wang, Zhou, Hossain, Ray, Kumar, Ma,
Deoras, "Training LLMs to Better Self-Debug and Explain Code", arXiv 2405.18649; no official code). A data-side
method with an RL step after it: it writes (task, wrong code, execution feedback) -> (explanation, refined code) data
that plain SFT learns, then PPO (`sftkit.methods.ppo`) continues with `reward_fn`. Notebook: 11_selfdebug.

    tasks          `default_tasks(split)`: the tiny world's code skill (one-line functions, `def f(x): return x + 5`)
                   and its small programs (`sftkit.world.program_records`: loops, conditions, two arguments); each
                   a world-format record whose meta["tests"] the sandbox runs (`sftkit.sandbox`: a separate, limited
                   process; nothing here executes code in this process).
    wrong code     `mutants(program)`: realistic one-edit bugs of a gold program (`KINDS`: operator, comparison,
                   off-by-one, constant, swapped operands or parameters, missing return); `mutated_attempts` draws
                   some per task and keeps those the sandbox sees fail; `sampled_attempts` keeps a model's own
                   failing samples (any `Generate` callable: prompts [N] -> replies [N]). Each `Attempt` carries
                   its `feedback_text` (the failing call, what it returned vs what was expected, or the error).
    teacher        `debug_prompt(task, code, feedback)` asks for "Explanation: ..." then "Fixed code:" (one user
                   turn, the same prompt the student is trained on; any `sftkit.teachers` teacher answers it);
                   `parse_reply` reads a reply or says why it cannot; the scripted teacher's `debug_task` explains
                   the diff between the wrong and the gold program and returns the gold one, or, at its error rate,
                   "fixes" another place of the wrong code (a wrong refinement with a matching explanation).
    verification   `verify`: each parsed refinement runs against all tests; only those that pass are kept.
                   `collect` = attempts -> teacher -> parse -> verify, with a report (counts and reasons).
    records        `sft_records` (kept trajectories) and `rl_records` (all of them, meta["kept"] says which), in the
                   suite's conversational format: user = `debug_prompt`, assistant = "Explanation: ...\\nFixed code:\\n...".
    reward         `score_replies(records, replies)` -> per reply: test pass rate of the refined code, explanation
                   checks, reward = pass_rate + explanation_weight x explanation_score (unparseable: unparsed_reward);
                   `reward_fn(config)`: the same as an online `RewardFn` (records [N], replies [N]) -> tensor [N].
    evaluation     `refinement_rounds(tasks, generate, n, rounds)`: pass@1 and pass@k (unbiased, `sandbox.pass_at_k`)
                   of the first attempt and after each refinement round (a chain that passed stays passed).
    whole          `make_data(tasks, teacher, config)`: mutated attempts -> teacher -> verification -> SFT records.

The package: `method.py` (the paper, `Config`, tasks, attempts, trajectories, records, reward, evaluation, the
pipeline), `prompts.py` (the self-debugging prompt and reply format: ours, as the paper publishes no code),
`scripted.py` (the scripted teacher's `debug_task`; `tasks()` lists the tasks a `ScriptedTeacher` needs here). The
tiny world's gold functions live in `sftkit.world.bugs`: the mutants (`mutants`, `pick_mutants`), the diff of wrong
against right code (`changed_fragments`), the explanation checks and the gold explanation (`explain`). Every name is
re-exported here: `from sftkit.methods.selfdebug import X` works for all of them.

The reward and its explanation proxy (designed here: the paper's RL reward weighs explanation and refinement quality,
but with no code published its exact formulas are unknown). Refinement: the share of the
task's tests the refined code passes (in [0, 1], so a fix that repairs some inputs earns part). Explanation: a
developer can act on an explanation that says (1) where the bug is, (2) what it should be and (3) which input shows
it. All three are measurable here because the gold program is known: `changed_fragments` diffs the wrong code
against the gold one token by token (each change widened by one token on each side within its line, e.g. `x - 5`
against `x + 5`), and `explanation_checks` asks whether the explanation quotes a wrong fragment ("bug"), the
matching gold fragment ("fix") and the failing call from the feedback ("test", e.g. `f(0)`; left out when the
program failed before any test); whitespace is ignored. The explanation score is the share of these checks met. A
generic explanation ("the code is wrong") scores 0; quoting the right fragments needs the bug located. A policy
could game it by quoting both whole programs (a fragment is a substring of its line), so the notebook reads it
beside the pass rate, never alone. Weight 0.5: the code matters more than its explanation. With the gold program
unknown (a real benchmark), the refined code can stand in for it once it passes: `explanation_checks(e, wrong,
refined, call)`.

Other choices the paper leaves open, made here: wrong code by mutation of gold programs as well as sampled (the
paper collects wrong solutions that LLMs sampled; `sampled_attempts` does that, and the mutations give wrong code of
known kinds even where a small model rarely writes code at all); one short prompt for teacher and student (ours: a
one-line task with its record fits the tiny model's 512 positions, at most 381 tokens; the small programs need up
to ~610, so they are for larger models); one reply per (attempt, seed) with `replies_per_attempt` seeds; three
refinement rounds, a chain keeping its previous code when a reply has none; RL prompts from both successful and
failed trajectories (the paper trains RL on both; PPO samples the policy's own replies to them).
"""
# ruff: noqa: F401, F403
from ...world.bugs import *
from ...world.bugs import _edits, _operand, _squeeze, _widened
from ..base import MethodSpec
from .method import *
from .method import PAPER, Config, add_generate_arguments, data_from_args, make_data  # named for SPEC below
from .prompts import *
from .scripted import *
from .scripted import tasks as teacher_tasks

SPEC = MethodSpec("selfdebug", "data", PAPER, Config, data="code tasks", make_data=make_data,
                  add_generate_arguments=add_generate_arguments, data_from_args=data_from_args,
                  teacher_tasks=teacher_tasks)
