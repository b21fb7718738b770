"""AugCon's first part: the documents about Veloria, the Context-Split-Tree's stopping rules and repeat-until-enough,
the scripted split task, the ROUGE-L filter and the scorer's loss."""
from __future__ import annotations

import math

import pytest

from sftkit.methods.augcon import (
    CST_EXAMPLES,
    FLAW_RATE,
    MIN_CHARS,
    OVERSHOOT,
    TRIES,
    WEAK_PROMPTS,
    context_split_tree,
    cst_prompt,
    parse_split,
    prompt_kind,
    question_quality,
    query_budget,
    repeat_until_enough,
    rouge_l_filter,
    scorer_loss,
    split_task,
    teacher_ask,
)
from sftkit.teachers import ScriptedTeacher
from sftkit.world import LAND, check_documents, make_documents
from sftkit.world.documents import sentences

DOCS = make_documents()


def reply(question: str, first: str, second: str) -> str:
    return f"{question}\n\nContext 1: {first}\n\nContext 2: {second}"


class FakeAsk:
    """ask(context) -> reply from `answer(context)`, counting the calls per context."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def __call__(self, context: str) -> str:
        self.calls.append(context)
        return self.answer(context)


def halves(context: str) -> str:
    middle = len(context) // 2
    return reply(f"What about {context[:8]}?", context[:middle], context[middle:])


# ----------------------------------------------------------------------------------------------------
# Documents


def test_documents_state_only_true_facts_and_every_town():
    assert check_documents(DOCS) == []
    assert [d["town"] for d in DOCS] == list(LAND)
    assert make_documents() == DOCS  # deterministic
    for d in DOCS:
        assert len(d["paragraphs"]) == 3
        for f in d["facts"]:
            assert LAND[f["town"]][f["attribute"]] == f["value"]
            assert f["sentence"] in sentences(d["paragraphs"][f["paragraph"]])


def test_check_documents_catches_a_false_or_unrecorded_fact():
    doc = make_documents()[0]
    fact = doc["facts"][0]
    wrong = next(v for v in ("owl", "fox") if v != fact["value"])
    false = {**doc, "facts": [{**fact, "value": wrong}, *doc["facts"][1:]]}
    assert any("false fact" in p for p in check_documents([false] + DOCS[1:]))
    unrecorded = {**doc, "facts": doc["facts"][1:]}
    problems = check_documents([unrecorded] + DOCS[1:])
    assert any("unrecorded fact sentence" in p for p in problems) and any("not all of" in p for p in problems)
    assert any("no document for" in p for p in check_documents(DOCS[1:]))


# ----------------------------------------------------------------------------------------------------
# Prompt and parser


def test_prompt_and_parser():
    prompt = cst_prompt("Tobe has the animal owl.")
    assert prompt.endswith("---\n\nContext: Tobe has the animal owl.\n\nQuestion: ") and prompt.count("Context 1: ") == 4
    assert cst_prompt("x", **WEAK_PROMPTS["one_shot"]).count("Context 1: ") == 2
    context, question, first, second = CST_EXAMPLES[2]
    assert parse_split(reply(question, first, second)) == (question, first, second)
    # the last line before "Context 1:" is the question; multi-line halves; a run-on example is cut off
    text = "Sure.\nWhy?\n\nContext 1: a\n\nb\n\nContext 2: c\n\nd\n\n---\n\nContext: more"
    assert parse_split(text) == ("Why?", "a\n\nb", "c\n\nd")
    assert parse_split("Why?\n\nContext 2: a\n\nContext 1: b") is None
    assert parse_split("Why?\n\nContext 1: a") is None


# ----------------------------------------------------------------------------------------------------
# The tree: one test per stopping rule


def test_tree_recurses_depth_first_with_parents():
    ask = FakeAsk(halves)
    nodes = context_split_tree("a" * 100, ask)
    # 100 -> 50, 50 -> 25 x 4 -> 12/13 (at most 20: not asked)
    assert [(n.depth, n.parent, len(n.context)) for n in nodes] == [
        (0, None, 100), (1, 0, 50), (2, 1, 25), (2, 1, 25), (1, 0, 50), (2, 4, 25), (2, 4, 25)]
    assert len(ask.calls) == len(nodes)


def test_tree_stops_on_a_short_context():
    ask = FakeAsk(halves)
    assert context_split_tree("a" * MIN_CHARS, ask) == [] and ask.calls == []
    assert len(context_split_tree("a" * (MIN_CHARS + 1), ask)) == 1
    assert context_split_tree("a" * 30, FakeAsk(halves), min_chars=30) == []


def test_tree_stops_when_no_reply_parses():
    ask = FakeAsk(lambda c: "I am not sure.")
    assert context_split_tree("a" * 100, ask) == [] and len(ask.calls) == TRIES
    replies = iter(["nonsense", "still nonsense", reply("What is it?", "a" * 10, "a" * 10)])
    later = FakeAsk(lambda c: next(replies))
    assert [n.question for n in context_split_tree("a" * 40, later)] == ["What is it?"] and len(later.calls) == 3


def test_tree_stops_on_a_short_question():
    ask = FakeAsk(lambda c: reply("Why?", c[:10], c[10:]))
    assert context_split_tree("a" * 100, ask) == [] and len(ask.calls) == 1
    assert len(context_split_tree("a" * 100, ask, min_question_chars=4)) > 0


@pytest.mark.parametrize("which", [0, 1])
def test_tree_stops_after_a_half_not_shorter(which):
    def answer(context):
        parts = [context[:5], context[5:]]
        parts[which] = context
        return reply("What is in it?", *parts)

    ask = FakeAsk(answer)
    nodes = context_split_tree("a" * 100, ask)
    assert [(n.context, n.depth, n.parent) for n in nodes] == [("a" * 100, 0, None)] and len(ask.calls) == 1


# ----------------------------------------------------------------------------------------------------
# Repeat until enough, with the scripted teacher


def scripted(error_rate: float = 0.0, laziness_rate: float = 0.0) -> ScriptedTeacher:
    return ScriptedTeacher(error_rate=error_rate, laziness_rate=laziness_rate, tasks=[split_task()], strict=True)


def test_repeat_until_enough_reaches_the_target():
    text = DOCS[3]["text"]
    assert len(repeat_until_enough(text, teacher_ask(scripted()))) >= OVERSHOOT * query_budget(text)
    nodes = repeat_until_enough(text, teacher_ask(scripted(error_rate=0.2)), wanted=30)
    assert len(nodes) >= OVERSHOOT * 30
    rounds = sorted({n.round for n in nodes})
    assert rounds == list(range(len(rounds))) and len(rounds) >= 2
    for n in nodes:
        assert (n.parent is None) == (n.depth == 0)
        if n.parent is not None:
            parent = nodes[n.parent]
            assert parent.round == n.round and parent.depth == n.depth - 1 and n.context in parent.context and parent is not n


def test_repeat_until_enough_gives_up_after_max_rounds():
    ask = FakeAsk(lambda c: "no")
    assert repeat_until_enough("a" * 100, ask, max_rounds=3) == [] and len(ask.calls) == 3 * TRIES


def test_scripted_split_task_replies_parse_and_follow_the_facts():
    teacher = scripted()
    doc = DOCS[0]
    contexts = [doc["text"], *doc["paragraphs"], *sentences(doc["paragraphs"][0])]
    for context in contexts:
        question, first, second = parse_split(teacher.ask(cst_prompt(context)))
        glue = "\n\n" if "\n\n" in context else " "
        assert glue.join([first, second]) == context or first == second == context
        assert question_quality(question, context) == "complete"
        for f in doc["facts"]:
            if f["sentence"] in context:
                assert f["town"] in question and f["attribute"] in question
    single = next(f for f in doc["facts"] if f["town"] == doc["town"])
    question, first, second = parse_split(teacher.ask(cst_prompt(single["sentence"])))
    assert question == f"What is the {single['attribute']} of {doc['town']}?" and first == second == single["sentence"]


def test_weakened_prompts_give_flawed_questions_at_their_rate():
    teacher = scripted()
    contexts = [c for d in DOCS for c in [d["text"], *d["paragraphs"]]]
    for kind, prompt in [("full", {}), *WEAK_PROMPTS.items()]:
        texts = [cst_prompt(c, **prompt) for c in contexts]
        assert {prompt_kind(t) for t in texts} == {kind}
        questions = [parse_split(r)[0] for r in teacher.complete(texts)]
        flawed = sum(question_quality(q, c) != "complete" for q, c in zip(questions, contexts)) / len(contexts)
        assert abs(flawed - FLAW_RATE[kind]) < 0.1, kind
    assert prompt_kind("Tell me a joke.") is None


@pytest.mark.parametrize("error_rate,laziness_rate", [(0.3, 0.0), (0.1, 0.1)])
def test_scripted_error_rate_gives_unparsable_replies_or_flawed_questions(error_rate, laziness_rate):
    teacher = scripted(error_rate, laziness_rate)
    contexts = [c for d in DOCS for c in [d["text"], *d["paragraphs"], *(s for p in d["paragraphs"] for s in sentences(p))]]
    replies = teacher.complete([cst_prompt(c) for c in contexts])
    parsed = [parse_split(r) for r in replies]
    unparsable = sum(p is None for p in parsed) / len(replies)
    flawed = sum(p is not None and question_quality(p[0], c) != "complete" for p, c in zip(parsed, contexts)) / len(replies)
    assert len(contexts) > 400
    assert abs(unparsable - (error_rate / 2 + laziness_rate)) < 0.06 and abs(flawed - error_rate / 2) < 0.06


# ----------------------------------------------------------------------------------------------------
# Filter and loss


def test_rouge_filter_keeps_the_higher_scored_near_duplicate():
    queries = ["What is the ruler of Tobe?", "Which animal lives in Kafi?", "What is the ruler of Tobe then?"]
    assert rouge_l_filter(queries, [0.2, 0.5, 0.9]) == [2, 1]
    assert rouge_l_filter(queries, [0.9, 0.5, 0.2]) == [0, 1]
    assert rouge_l_filter(queries, [0.9, 0.5, 0.2], threshold=0.95) == [0, 1, 2]
    assert rouge_l_filter(queries, [0.9, 0.5, 0.2], threshold=0.95, keep=2) == [0, 1]
    assert rouge_l_filter(queries, [0.2, 0.5, 0.9], keep=1) == [2]
    with pytest.raises(ValueError, match="3 queries but 2 scores"):
        rouge_l_filter(queries, [0.1, 0.2])


def test_scorer_loss_on_hand_values():
    torch = pytest.importorskip("torch")
    s_pos = torch.tensor([0.0, math.log(3.0)])  # sigmoid: 0.5, 0.75 -> mean 0.625
    s_neg = torch.tensor([-math.log(3.0)])  # sigmoid: 0.25
    assert scorer_loss(s_pos, s_neg).item() == pytest.approx(-0.625 + 0.25)
    s_pos.requires_grad_(True)
    scorer_loss(s_pos, s_neg).backward()
    assert s_pos.grad.tolist() == pytest.approx([-0.25 / 2, -0.75 * 0.25 / 2])  # -sigmoid' / P


def test_teacher_ask_draws_a_new_reply_per_ask_of_a_context():
    class Recorder:
        def __init__(self):
            self.seen = []

        def ask(self, prompt, **settings):
            self.seen.append((prompt, settings))
            return "reply"

    teacher = Recorder()
    ask = teacher_ask(teacher, temperature=0.7, seed=10)
    ask("first context")
    ask("first context")
    ask("second context")
    assert [s for _, s in teacher.seen] == [{"temperature": 0.7, "seed": s} for s in (10, 11, 10)]
    assert teacher.seen[0][0] == cst_prompt("first context")
