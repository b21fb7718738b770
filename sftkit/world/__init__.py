"""The tiny world as data: skills with exact answers, the land of Veloria, splits, the prose corpus, each
skill's realistic mistakes and the gold checker. Pure Python (no torch), so every layer can use it.

    skills.py    Skill records (sample, answer, instruction, prose, mistakes), LAND, `check`, `compose`
    splits.py    train / dev / test and the shift splits, and `write_world` (what `sftkit data` writes, byte for byte)
    corpus.py    the pretraining prose
    mistakes.py  `corrupt` (a realistic wrong answer), `consistent_mistake` (one wrong rule per skill), `lazy_answer`
                 (a generic non-answer), `world_pairs`, `onpolicy_pairs`
    documents.py documents about Veloria's towns (the contexts of AugCon), `check_documents`
    programs.py  small multi-line code tasks (loops, conditions, two arguments) for self-debugging, `program_records`
    facts.py     the facts a document's context states, questions asking for them, answers, question quality, the
                 closed-book test (AugCon's gold functions)
    chains.py    chains of string skills on a word: answers, instructions, worked responses, gold records, `verdict`
                 (Instruct-SkillMix's gold functions)
    bugs.py      realistic one-edit mutants of a program, the diff of wrong against right code, the explanation
                 checks and the gold explanation (LEDEX's gold functions)
The last three are imported by their module name (`from sftkit.world.facts import ...`); no world module imports
`sftkit.methods`.
"""
from .corpus import make_corpus
from .documents import check_documents, make_documents
from .mistakes import LAZY_ANSWERS, consistent_mistake, corrupt, lazy_answer, onpolicy_pairs, world_pairs
from .programs import program_records
from .skills import EVAL_SPLITS, LAND, SHIFTS, SKILLS, SPLITS, Skill, check, compose, make_land, make_record, normalize
from .splits import SPLIT_SIZES, eval_keys, make_splits, split_skills, write_world

__all__ = ["EVAL_SPLITS", "LAND", "LAZY_ANSWERS", "SHIFTS", "SKILLS", "SPLITS", "SPLIT_SIZES", "Skill", "check", "compose",
           "consistent_mistake", "corrupt", "eval_keys", "lazy_answer", "make_corpus", "make_land", "make_record",
           "make_splits", "normalize", "onpolicy_pairs", "split_skills", "world_pairs", "write_world", "check_documents",
           "make_documents", "program_records"]
