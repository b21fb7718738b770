"""AugCon: context-driven SFT data across granularities (Quan, "Automatically Generating Numerous Context-Driven
SFT Data for LLMs across Diverse Granularity", arXiv 2405.16579; code quanshr/AugCon, MIT). A data-side method:
it writes question -> answer data that plain SFT learns. Notebook: 09_augcon; command: `sftkit generate augcon`.

    step 1  Context-Split-Tree   `context_split_tree(context, ask)`: ask the strong LLM (a teacher) for one
                                 question about the whole context and a split of it into two sub-contexts;
                                 record the node, recurse on both halves (official `step1_cst.py`, its stopping
                                 rules); `repeat_until_enough` re-runs it on the root until there are 1.15 x the
                                 wanted queries (official `step1_gen_q.gen_q`). The official English prompt
                                 (`prompt_en.instruct_CST`) and its weakened variants (`WEAK_PROMPTS`).
    step 2  contrastive scorer   `scorer_pairs` (official `mk_scorer_pairs`: a pool question is the positive, the
                                 same context asked with a weakened prompt gives the negative), `train_scorer`
                                 (an LM with a scalar head on the last token, `ScorerTrainer`, `scorer_loss`:
                                 -mean sigmoid(s_pos) + mean sigmoid(s_neg), official `Scorer.forward`),
                                 `score_questions`; `keep_questions` ranks each document's pool and applies the
                                 ROUGE-L filter (`rouge_l_filter` / `filter_report`: drop a query whose ROUGE-L F
                                 with a kept one exceeds 0.7, keep len(context) // 35; official `filter_queries`).
    step 3  answers              `answer_prompt` (the official English `ContextQA` principles), `bootstrap_demos`
                                 (DSPy `BootstrapFewShot` with the official self-judge prompt), `answer_items`.
            records              `sft_records`: question -> answer without the context, as the paper fine-tunes.
    whole                        `make_data(documents, teacher, config)`; `read_documents` (JSONL, chunked at 500
                                 characters as the official `load_data`).
    draws (notebook 09)          `make_draw(documents, question_teacher, answer_teacher, demos, seed)`: one
                                 independent draw of the three data sets `ARMS` (AugCon, one question per document,
                                 the pool ranked at random); `drop_counts` (what the filter dropped, by
                                 `question_kind`), `within_document_rank`, `context_probe` (does the scorer read
                                 the context?), `credit_rows` (per-fact credit, `fact_credit`, beside exact match).

The package: `method.py` (the paper, `Config`, the three steps and the pipeline), `prompts.py` (the official
prompts, word for word), `scripted.py` (the tiny world's teacher tasks `split_task`, `answer_task`, `judge_task`,
played from the documents' recorded facts; `tasks()` lists them for a `ScriptedTeacher`). The tiny world's gold
functions live in `sftkit.world.facts`: the gold labels of a question (`question_quality`) and of an answer
(`answer_from`), the closed-book test (`closed_book_questions`), its per-fact grader (`fact_credit`) and the
question wordings the scripted teacher varies (`SINGLE_TEMPLATES`, `MULTI_OPENERS`). Every name is re-exported here:
`from sftkit.methods.augcon import X` works for all of them.

Deliberate differences from the official code: the reply parser reads multi-line sub-contexts (the official
regex has no DOTALL, so a sub-context ends at its first line break) and drops a "Question:" label a chat model
repeats; `repeat_until_enough` stops after `max_rounds` rounds (the official loop never stops when every root
reply fails to parse); prompts go to the teacher as one chat turn (official: a raw completion with stop
sequences "---" and "\n\n\n"); the scorer reads "Context: ..." and "Question: ..." through the chat template,
starts from any causal LM (official: the generator itself, 4-bit with LoRA) and drops scorer pairs whose two
questions are identical (their loss terms cancel); the answer step is DSPy's `Predict` layout, not
`ChainOfThought`; the bootstrap answers each seed example without demos. The paper (not the code) writes the
scorer loss as -log sigmoid(s_pos - s_neg) and the filter as ROUGE-L precision < 0.7; we follow the code.
"""
# ruff: noqa: F401, F403
from ...world.facts import *
from ...world.facts import _and
from ..base import MethodSpec
from .method import *
from .method import PAPER, Config, add_generate_arguments, data_from_args, make_data  # named for SPEC below
from .prompts import *
from .scripted import *
from .scripted import tasks as teacher_tasks

SPEC = MethodSpec("augcon", "data", PAPER, Config, data="documents", make_data=make_data,
                  add_generate_arguments=add_generate_arguments, data_from_args=data_from_args,
                  teacher_tasks=teacher_tasks)
