"""Instruct-SkillMix: (instruction, response) data that needs k random skills at once (Kaur, Park, Goyal, Arora,
"Instruct-SkillMix: A Powerful Pipeline for LLM Instruction Tuning", arXiv 2408.14774; code princeton-pli/Instruct-SkillMix,
src/data_generation). A data-side method: it writes instruction -> response data that plain SFT learns. Notebook: 10_skillmix.

    stage 1  skill extraction   `skills_prompt` and `query_types_prompt` ask the teacher for the skills and the query types
                                that seed instructions call for; `parse_skills` and `parse_query_types` read the replies as the
                                official `1_generate_data.main` reads its datasets/<model>/skills.txt (one name a line) and
                                queries.txt (`get_query_and_def`); `extract` does both.
    stage 2  generation         `skill_sets` (official `get_combinations`: k distinct skills per example, drawn uniformly, in a
                                random order), `assign_query_types` (the query types repeated, shuffled, cut), `first_prompt`
                                and `FOLLOW_UPS` (the official GPT-4-Turbo prompts, `GENERATE_PROMPTS`), `converse` (the five
                                turns of each example's conversation, one batch per turn), `parse_example` (official
                                `extract_relevant_info_gpt`), `generate` -> (records, skipped, each with its reason).
             critique, refine   the official conversation has the round: turn 2 asks the teacher to list the response's
                                weaknesses and strengths as the human asking ("Currently the response looks a bit generic"),
                                turn 3 to refine the instruction and response; turns 1 and 4 ask it to rewrite the (improved)
                                response whole, in case it was cut off. The data is the refined instruction (turn 3's reply)
                                and the rewritten refined response (turn 4's).
    shirkers                    `shirk(records, teacher, fraction, kind)`: exactly round(fraction x n) responses replaced by the
                                teacher's reply to `JUNK_PROMPT` ("an extremely unhelpful response", the paper's shirkers) or
                                `BREVITY_PROMPT` (a one-paragraph answer) (official `2_generate_junk_data.py`, its prompt files).
    whole                       `make_data(instructions, teacher, config)`: both stages, then the shirkers when config asks
                                for them.

The package: `method.py` (the paper, `Config`, both stages, the shirkers and the pipeline), `prompts.py` (the official
prompts word for word, and our two extraction prompts), `scripted.py` (the scripted teacher's tasks: `skills_task` and
`query_types_task` (it lists the skills and query types of the world instructions it is shown), `generation_task` (it
writes a chain instruction with a word that needs every skill, a bare answer as the draft, a critique asking for an
answer line, a refined response "Answer: ..."; skills that no order and word can all need it declines to combine,
and the parser skips the decline), `junk_task` (a short `sftkit.world.lazy_answer`, though the official prompt asks for
a long one) and `brevity_task` (the bare answer, without the answer line); `tasks()` lists them for a
`ScriptedTeacher`). The tiny world's gold functions live in `sftkit.world.chains`: its string skills
(`STRING_SKILLS`, those that act on one word, so that they chain), four chain-only skills (`EXTRA_SKILLS`; with the
world's in `CHAIN_SKILLS`; notebook 10 mixes `MIX_SKILLS`, six of them, from start models trained on `start_records`)
and two query types (`WORLD_QUERY_TYPES`);
`gold_record`, the gold composer for a chain of k skills (for two, the instruction and answer of
`sftkit.world.compose`); `verdict`, which says whether an example needs exactly its k skills and answers right. Every
name is re-exported here: `from sftkit.methods.skillmix import X` works for all of them.

Deliberate differences from the official code:
- The extraction prompts are ours: the repository publishes the lists GPT-4-Turbo and Claude 3.5 Sonnet extracted, not
  the prompts that extracted them (the paper asks the model directly for the skills of instruction following, or, in
  its seed-dataset variant, for those of a seed data set's instructions). Our replies have the published files'
  formats; a skill line must be one snake_case name (official: every line is a skill, a blank one too), and a query
  section without a bold name is skipped (official: an IndexError).
- Generation uses the GPT-4-Turbo prompt set; the Claude one (three turns: generate, critique, refine with a format
  reminder) is not here. No system message is sent (official: FastChat's gpt-4-turbo-2024-04-09 template, a ChatGPT
  system prompt). Random draws use Python's `random` (official: numpy), with the same distributions.
- Each example's turns pass seed=seed x 1,000,000 + r, for the r-th example whose first prompt repeats an earlier one's,
  so a cached or scripted teacher writes a new example instead of reading the first one back (official: every call
  samples afresh at the API's default temperature, 1.0).
- A conversation whose last replies cannot be parsed is counted in `skipped` with its reason and never written (official:
  dropped silently; its shell script runs the job four times, and each run re-asks a failed example's last turn); an
  empty response is skipped too (official: written). An extraction reply that lists nothing, or (with `expected`: a
  reviewer's check) misses a skill or query type it should list, is asked again, up to 4 times.
- `shirk` replaces a seeded random sample of the records, in place, and marks them meta["shirker"] (official: it rewrites
  the first NUM_DATA=200 of the 1000 records into a file of their own; mixing them with the other 800 is not in the code).
"""
# ruff: noqa: F401, F403
from ...world.chains import *
from ..base import MethodSpec
from .method import *
from .method import PAPER, Config, add_generate_arguments, data_from_args, make_data  # named for SPEC below
from .prompts import *
from .scripted import *
from .scripted import tasks as teacher_tasks

SPEC = MethodSpec("skillmix", "data", PAPER, Config, data="instructions", make_data=make_data,
                  add_generate_arguments=add_generate_arguments, data_from_args=data_from_args,
                  teacher_tasks=teacher_tasks)
