"""AugCon's prompts, word for word from the official code (github.com/quanshr/AugCon): the Context-Split-Tree prompt
and its weakened variants (prompt_en.py: `instruct_CST`, `neg_instruct_CST_list`), the answer step's `ContextQA`
principles and the self-judge (step3_get_a.py, English version), and the functions that lay them out.
"""
from __future__ import annotations

# ----------------------------------------------------------------------------------------------------
# The official English prompt (prompt_en.py), in parts: instruction, format, three worked examples; `cst_prompt`
# rebuilds instruct_CST and the weakened prompts word for word (blank lines aside). The official run on the
# Chinese DailyM corpus imports the Chinese version, prompt_zh.py (step1_gen_q.py).
CST_INSTRUCTION = ('Given an entire context as the Context, generate a Question about the entire context that users '
                   'might be interested in, which answer should be able to be derived directly from the Context. Then, '
                   'divide the entire context into two sub-contexts Context 1 and Context 2 based on their semantic '
                   'content, making necessary adjustments within each sub-contexts to ensure they are independently '
                   'coherent.')
CST_TERSE_INSTRUCTION = 'Given a context, generate a question and split context into two sub-contexts.'
CST_EXAMPLES = (
    (
        'Trying to rebound from their divisional home loss to the Buccaneers, the Panthers flew to the '
        'Louisiana Superdome for a Week 5 divisional duel with the winless New Orleans Saints. With QB Jake '
        'Delhomme out and done for the year with a right elbow injury, QB David Carr was given the start. In '
        'the first quarter, Carolina took the early lead with kicker John Kasay getting a 23-yard field '
        'goal. The Saints responded with kicker Olindo Mare getting a 25-yard field goal. In the second '
        'quarter, the Panthers went back into the lead with Kasay nailing a 35-yard field goal. New Orleans '
        'would respond with Mare kicking a 28-yard field goal. In the third quarter, Carolina trailed as '
        'Saints FB Mike Karney got a 2-yard TD run for the only score of the period. In the fourth quarter, '
        'the Panthers tied the game with Carr completing a 17-yard TD pass to WR Steve Smith. Afterwards, '
        'Carolina sealed the win in the final seconds with Kasay nailing a 52-yard field goal as time ran '
        'out.',
        'How did the Carolina Panthers secure their victory against the New Orleans Saints in their Week 5 '
        'divisional duel?',
        'Trying to rebound from their divisional home loss to the Buccaneers, the Panthers flew to the '
        'Louisiana Superdome for a Week 5 divisional duel with the winless New Orleans Saints. With QB Jake '
        'Delhomme out for the year with a right elbow injury, QB David Carr was given the start. In the '
        'first quarter, Carolina took the early lead with kicker John Kasay getting a 23-yard field goal. '
        'The Saints responded with kicker Olindo Mare getting a 25-yard field goal. In the second quarter, '
        'the Panthers went back into the lead with Kasay nailing a 35-yard field goal, followed by New '
        'Orleans’ response with Mare kicking a 28-yard field goal.',
        'As the game progressed into the third quarter, the Panthers found themselves trailing after Saints '
        'FB Mike Karney got a 2-yard TD run, marking the only score of the period. However, in the fourth '
        'quarter, the Panthers managed to tie the game thanks to QB David Carr completing a 17-yard TD pass '
        'to WR Steve Smith. The climax of the match came in the final seconds with John Kasay nailing a '
        '52-yard field goal as time ran out, securing a dramatic victory for Carolina against the New '
        'Orleans Saints.',
    ),
    (
        'As a cell grows, its volume increases more quickly than its surface area. If a cell was to get very '
        'large, the small surface area would not allow enough nutrients to enter the cell quickly enough for '
        'the cell’s needs. However, large cells have a way of dealing with some size challenges. Big cells, '
        'such as some white blood cells, often grow more nuclei so that they can supply enough proteins and '
        'RNA for the cell’s requirements. Large, metabolically active cells often have lots of cell '
        'protrusions, resulting in many folds throughout the membrane. These folds increase the surface area '
        'available for transport of materials into or out of the cell. Such cell types are found lining your '
        'small intestine, where they absorb nutrients from your food through protrusions called microvilli.',
        'How do large cells adapt to the challenge of having a volume that increases more quickly than their '
        'surface area to meet their metabolic needs?',
        'As a cell grows, its volume increases more quickly than its surface area. If a cell was to get very '
        'large, the small surface area would not allow enough nutrients to enter the cell quickly enough for '
        "the cell's needs.",
        'Large cells have a way of dealing with their size challenges. Big cells, such as some white blood '
        "cells, often grow more nuclei so that they can supply enough proteins and RNA for the cell's "
        'requirements. Large, metabolically active cells often have lots of cell protrusions, resulting in '
        'many folds throughout the membrane. These folds increase the surface area available for transport '
        'of materials into or out of the cell. Such cell types are found lining your small intestine, where '
        'they absorb nutrients from your food through protrusions called microvilli.',
    ),
    (
        'Philip Arnold Heseltine is best known as a composer of songs and other vocal music; he also '
        'achieved notoriety in his lifetime through his unconventional and often scandalous lifestyle.',
        "Why is Philip Arnold Heseltine's reputation mixed?",
        'Philip Arnold Heseltine is best known as a composer of songs and other vocal music.',
        'Philip Arnold Heseltine also achieved notoriety in his lifetime through his unconventional and '
        'often scandalous lifestyle.',
    ),
)
CST_FORMAT = ("Provide in the following form:\n\nContext: The entire context\n\nQuestion: Regarding the entire context\n\n"
              "Context 1: Sub-context 1\n\nContext 2: Sub-context 2")


def cst_prompt(context: str, instruction: str = CST_INSTRUCTION, examples: tuple = CST_EXAMPLES) -> str:
    """The split prompt for `context` (official `instruct_CST` with the defaults): instruction, format, the
    worked examples (context, question, context 1, context 2), then the context; the reply continues after
    its final "Question: "."""
    shots = [f"Context: {c}\n\nQuestion: {q}\n\nContext 1: {c1}\n\nContext 2: {c2}" for c, q, c1, c2 in examples]
    return "\n\n---\n\n".join([instruction, CST_FORMAT, *shots, f"Context: {context}\n\nQuestion: "])


# The weakened prompts whose queries are the scorer's negatives (official `neg_instruct_CST_list`): the terse
# instruction with every example, the full instruction with one example, the terse one with one example.
WEAK_PROMPTS = {
    "terse": {"instruction": CST_TERSE_INSTRUCTION, "examples": CST_EXAMPLES},
    "one_shot": {"instruction": CST_INSTRUCTION, "examples": CST_EXAMPLES[:1]},
    "terse_one_shot": {"instruction": CST_TERSE_INSTRUCTION, "examples": CST_EXAMPLES[:1]},
}


# ----------------------------------------------------------------------------------------------------
# Answers: self-alignment with principles, bootstrapped few-shot (official step3_get_a.py, in English)

# The official English `ContextQA` signature (DSPy), its docstring the instruction.
ANSWER_INSTRUCTION = ("Given a contextual reference and a question, to return the answer, you must follow the "
                      "following principles.\nPrinciples\n1. You must use contextual references to answer "
                      "questions accurately and without error.\n2. When answering, it is necessary to imitate "
                      "the way humans answer questions.\n3. Please do not provide answers that violate ethics.")
ANSWER_FORMAT = ("Follow the following format.\n\nContext: Context reference\n\nQuestion: question\n\n"
                 "Answer: Your answer")
ANSWER_TAIL = "\n\nAnswer:"
# The official English judge (`gold_metric`): the teacher grades its own answer against a reference.
JUDGE_PROMPT = ("Determine whether another newly predicted answer accurately answered the question based on the "
                "context reference and reference answer, and return yes or no.\n[Context Reference]: {context}\n"
                "[Question]: {question}\n[Reference Answer]: {reference}\n[Predicted Answer]: {predicted}\n"
                "[yes/no]: ")


def answer_prompt(context: str, question: str, demos: list[dict] = ()) -> str:
    """The answer prompt, DSPy's layout of `ContextQA` (instruction, format, demos, the query); the reply is
    the answer. Official: a ChainOfThought module, which asks for "Reasoning: Let's think step by step" before
    the answer; plain `Predict` here (the tiny world's answers need no reasoning; a real model may want it)."""
    shots = [f"Context: {d['context']}\n\nQuestion: {d['question']}\n\nAnswer: {d['answer']}" for d in demos]
    return "\n\n---\n\n".join([ANSWER_INSTRUCTION, ANSWER_FORMAT, *shots,
                               f"Context: {context}\n\nQuestion: {question}{ANSWER_TAIL}"])
