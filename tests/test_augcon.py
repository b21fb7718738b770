"""AugCon: the Context-Split-Tree's stopping rules and repeat-until-enough, the scripted
tasks (split, answer, judge), the gold labels of questions, the scorer's pairs, loss and training, the ROUGE-L filter,
bootstrapped demos, the baseline, the closed-book test and `sftkit generate augcon`."""
from __future__ import annotations

import collections
import json
import math

import pytest

from sftkit.io import SftkitError
from sftkit.methods.augcon import (
    ANSWER_INSTRUCTION,
    CST_EXAMPLES,
    FLAW_RATE,
    JUDGE_PROMPT,
    MIN_CHARS,
    OVERSHOOT,
    SCORER_BUDGET,
    SINGLE_TEMPLATES,
    TRIES,
    WEAK_PROMPTS,
    Node,
    answer_from,
    answer_items,
    answer_prompt,
    asked,
    bootstrap_demos,
    chunks,
    closed_book_questions,
    context_split_tree,
    credit_rows,
    cst_prompt,
    drop_counts,
    fact_credit,
    filter_report,
    judged_yes,
    one_question_per_document,
    parse_split,
    prompt_kind,
    query_budget,
    question_about,
    question_for,
    question_kind,
    question_pools,
    question_quality,
    read_documents,
    repeat_until_enough,
    rouge_l_filter,
    score_questions,
    scorer_loss,
    scorer_pairs,
    scorer_record,
    seed_examples,
    sft_records,
    split_pairs,
    split_task,
    teacher_ask,
    teacher_tasks,
    train_scorer,
    within_document_rank,
)
from sftkit.teachers import ScriptedTeacher
from sftkit.world import LAND, make_documents
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
                assert (f["town"], f["attribute"]) in asked(question)
    single = next(f for f in doc["facts"] if f["town"] == doc["town"])
    question, first, second = parse_split(teacher.ask(cst_prompt(single["sentence"])))
    assert asked(question) == [(doc["town"], single["attribute"])] and first == second == single["sentence"]
    # a sampled task: other seeds word the same question differently, and every wording parses back
    wordings = {parse_split(teacher.ask(cst_prompt(single["sentence"]), seed=k))[0] for k in range(40)}
    assert len(wordings) == len(SINGLE_TEMPLATES[single["attribute"]])
    assert all(asked(q) == [(doc["town"], single["attribute"])] for q in wordings)


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


# ----------------------------------------------------------------------------------------------------
# Questions, answers and their gold labels


def test_closed_book_questions_cover_each_granularity_with_gold_answers():
    test = closed_book_questions(DOCS)
    assert collections.Counter(r["split"] for r in test) == {"fact": 120, "paragraph": 40, "document": 40}
    for r in test:
        pairs = asked(r["messages"][0]["content"])
        assert len(pairs) == {"fact": 1, "paragraph": 2, "document": 3}[r["split"]]
        assert r["answer"] == " ".join(f"The {a} of {t} is {LAND[t][a]}." for t, a in pairs)
    assert len({r["messages"][0]["content"] for r in test}) == len(test)  # one gold answer per question string
    # the paragraph and document questions are strings the scripted teacher never writes, at any error rate
    teacher = ScriptedTeacher(error_rate=0.5, laziness_rate=0.1, tasks=[split_task()])
    written = {n.question for nodes in question_pools(DOCS, teacher).values() for n in nodes}
    assert not written & {r["messages"][0]["content"] for r in test if r["split"] != "fact"}
    assert written & {r["messages"][0]["content"] for r in test if r["split"] == "fact"}


# ----------------------------------------------------------------------------------------------------
# Scorer pairs, filter report, answers and demos


def test_scorer_pairs_follow_the_official_split_over_weakened_prompts():
    teacher = ScriptedTeacher(tasks=[split_task()])
    pool = [n for d in DOCS[:6] for n in context_split_tree(d["text"], teacher_ask(teacher))]
    pairs = scorer_pairs(pool, teacher, count=500, seed=0)
    per_prompt = len(pool) // len(WEAK_PROMPTS)
    counts = collections.Counter(p["weak"] for p in pairs)
    assert set(counts) <= set(WEAK_PROMPTS) and all(c <= per_prompt for c in counts.values())
    questions = {(n.context, n.question) for n in pool}
    for p in pairs:
        positive, negative = (p[side][0]["content"].removeprefix("Question: ") for side in ("chosen", "rejected"))
        assert (p["context"], positive) in questions and positive != negative
    assert len(scorer_pairs(pool, teacher, count=2, seed=0)) <= 2 * len(WEAK_PROMPTS)


def test_filter_report_gives_each_query_its_reason():
    queries = ["What is the ruler of Tobe?", "Which animal lives in Kafi?", "What is the ruler of Tobe then?", "Why?"]
    report = filter_report(queries, [0.2, 0.5, 0.9, 0.1], keep=2)
    assert [(r["index"], r["verdict"]) for r in report] == [(2, "kept"), (1, "kept"), (0, "over budget"), (3, "over budget")]
    report = filter_report(queries, [0.2, 0.5, 0.9, 0.1])
    dropped = next(r for r in report if r["index"] == 0)
    assert dropped["verdict"] == "near-duplicate" and dropped["like"] == 2 and dropped["rouge"] > 0.7


class Scripted:
    """A teacher whose replies come from `reply(prompt)`."""

    def __init__(self, reply):
        self.reply = reply

    def complete(self, prompts, **settings):
        return [self.reply(p) for p in prompts]


def test_bootstrap_demos_keep_only_answers_the_judge_accepts():
    examples = seed_examples()
    wrong = examples[1]["question"]

    def reply(prompt):
        if prompt.startswith(ANSWER_INSTRUCTION):
            context, question = prompt.rsplit("Context: ", 1)[1].split("\n\nQuestion: ")
            question = question.removesuffix("\n\nAnswer:")
            return "I am not sure." if question == wrong else answer_from(context, question) + "\n\n---\n\nmore"
        reference, predicted = (prompt.split(f"[{k}]: ")[1].split("\n")[0] for k in ("Reference Answer", "Predicted Answer"))
        return "Yes." if reference == predicted else "No."

    demos, log = bootstrap_demos(Scripted(reply), examples, max_bootstrapped=3, max_labeled=3)
    assert [row["verdict"] for row in log] == [q != wrong for q in (e["question"] for e in examples)]
    assert [d["question"] for d in demos] == [e["question"] for e in examples if e["question"] != wrong][:3]
    assert all(d["answer"] == e["answer"] for d, e in zip(demos, [e for e in examples if e["question"] != wrong]))
    demos, _ = bootstrap_demos(Scripted(reply), examples, max_bootstrapped=1, max_labeled=3)
    assert len(demos) == 3 and demos[1]["question"] == wrong and demos[1]["answer"] == examples[1]["answer"]
    assert judged_yes("Yes, it does") is True and judged_yes("no") is False and judged_yes("maybe") is None


def test_scripted_answer_and_judge_tasks():
    teacher = ScriptedTeacher(tasks=teacher_tasks(), error_rate=0.0, strict=True)
    paragraph = next(p for p in DOCS[0]["paragraphs"] if "Kudi" in p)
    question = question_about(paragraph)
    assert teacher.ask(answer_prompt(paragraph, question, seed_examples()[:2])) == answer_from(paragraph, question)
    wrong = ScriptedTeacher(tasks=teacher_tasks(), error_rate=1.0, strict=True).ask(answer_prompt(paragraph, question))
    assert wrong != answer_from(paragraph, question) and wrong.startswith("The ")
    judge = JUDGE_PROMPT.format(context=paragraph, question=question, reference="A.", predicted="A.")
    assert teacher.ask(judge) == "yes" and teacher.ask(judge.replace("[Predicted Answer]: A.", "[Predicted Answer]: B.")) == "no"


def test_one_question_per_document_and_fresh_answers_for_repeats():
    teacher = ScriptedTeacher(tasks=teacher_tasks(), error_rate=0.5)
    pools = question_pools(DOCS[:3], ScriptedTeacher(tasks=teacher_tasks()))
    items = one_question_per_document(pools, 8)
    assert [d for d, _ in items] == [DOCS[k % 3]["id"] for k in range(8)] and all(n.depth == 0 for _, n in items)
    answers = answer_items(teacher, items)
    assert answers[0::3] == [answers[0]] * 3  # one answer per distinct question, repeated
    fresh = answer_items(teacher, items, fresh=True)
    assert fresh[0] == answers[0] and len(set(fresh[0::3])) > 1  # or a fresh draw for each repeat
    records = sft_records(items, answers, "one-per-doc")
    assert [r["messages"][0]["content"] for r in records] == [n.question for _, n in items]
    for r in records:
        right = answer_from(r["meta"]["context"], r["messages"][0]["content"])
        assert r["meta"]["answer_right"] == (r["messages"][1]["content"] == right)


def test_scorer_pairs_split_by_context_without_copies():
    pair = scorer_record("Its market opens early each morning.", "When does the market open?", "What is this about?")
    other = [scorer_record(f"Context {k}.", "What is the ruler of Daduba?", "Why?") for k in range(9)]
    train, held = split_pairs([pair, dict(pair), *other], held_out=0.3, seed=1)
    assert len(train) + len(held) == 10  # the copy is gone
    assert not {p["context"] for p in train} & {p["context"] for p in held} and len(held) == 3


def test_parser_drops_a_repeated_question_label():
    assert parse_split("Question: Why?\n\nContext 1: a\n\nContext 2: b") == ("Why?", "a", "b")


def test_long_documents_are_cut_at_sentence_ends():
    text = " ".join(f"Sentence number {k} is here." for k in range(40))
    pieces = chunks(text, 100)
    assert all(len(p) <= 100 for p in pieces) and " ".join(pieces) == text
    assert all(p.endswith(".") for p in pieces) and chunks("One.", 100) == ["One."]


def test_read_documents_names_the_bad_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "One."}\n{"context": "Two."}\n{"id": "c"}\n')
    with pytest.raises(SftkitError, match=r"docs.jsonl:3"):
        read_documents(str(path))
    path.write_text('{"id": "a", "text": "One."}\n{"context": "Two."}\n')
    assert read_documents(str(path)) == [{"id": "a", "text": "One."}, {"id": "doc-00001", "text": "Two."}]


def test_read_documents_reads_a_csv_as_csv(tmp_path):
    """Issue 33: a .csv was read as JSON Lines ("malformed JSON" at its header)."""
    path = tmp_path / "docs.csv"
    path.write_text('id,text\na,One.\nb,"Two, with a comma."\n')
    assert read_documents(str(path)) == [{"id": "a", "text": "One."}, {"id": "b", "text": "Two, with a comma."}]
    path.write_text("id,text\na,\n")
    with pytest.raises(SftkitError, match=r"docs.csv.*non-empty string 'text'"):
        read_documents(str(path))


def test_scorer_trains_and_ranks_positives_first(tmp_path):
    pytest.importorskip("torch")
    from dataclasses import replace

    from sftkit.model import load_model

    good = [scorer_record(f"Context number {k}.", "What is the ruler of Daduba?", "What is this passage about?")
            for k in range(16)]
    run = train_scorer(good, "tiny", replace(SCORER_BUDGET, steps=12, lr=1e-3, warmup_steps=0))
    losses = [h["loss"] for h in run.history if "loss" in h and "step" in h]
    assert losses and losses[-1] < 0  # -1 <= loss; below 0 once positives outscore negatives
    tok = load_model("tiny", tokenizer_only=True)
    pos = score_questions(run.model, tok, ["Context number 99."], ["What is the ruler of Daduba?"])
    neg = score_questions(run.model, tok, ["Context number 99."], ["What is this passage about?"])
    assert pos[0] > neg[0]


def test_scorer_line_says_the_steps_and_about_how_long():
    from sftkit.methods.augcon.method import scorer_line

    line = scorer_line(200, "tiny", "cpu", 2, 1.0)
    assert line == "training the scorer: 200 steps, about 1 min on this machine (2 cores, load 1.0); --scorer-steps to change"
    assert "about 2 min" in scorer_line(200, "tiny", "cpu", 1, 0.5)  # half the measured cores: twice as long
    assert "about 5 min" in scorer_line(200, "tiny", "cpu", 2, 10.0)  # load 10 on 2 cores: 5 times as long
    assert "under a minute on this machine (8 cores);" in scorer_line(20, "tiny", "cpu", 8, None)
    assert scorer_line(10, "Qwen/Qwen2.5-0.5B", "cuda", 16, 0.1) == ("training the scorer: 10 steps of a "
                                                                   "Qwen/Qwen2.5-0.5B scorer on cuda (its time was not "
                                                                   "measured here); --scorer-steps to change")


def test_generate_cli_writes_conversations(tmp_path, capsys):
    from sftkit.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in DOCS[:3]))
    out = tmp_path / "augcon.jsonl"
    assert main(["generate", "augcon", "--documents", str(docs), "--output", str(out), "--scorer-steps", "2"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("training the scorer: 2 steps") and said[0].endswith("; --scorer-steps to change")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all(r["messages"][0]["role"] == "user" and r["messages"][1]["role"] == "assistant" for r in records)
    assert all("quality" not in r["meta"] for r in records)  # no gold labels for documents of one's own
    assert main(["generate", "augcon", "--documents", str(docs), "--output", str(out), "--teacher", "gpt"]) == 2


# ----------------------------------------------------------------------------------------------------
# Per-fact grading, varied wording, what the filter drops (notebook 09's instrument)


def test_fact_credit_counts_each_requested_fact_against_the_world():
    pairs = [("Daduba", "animal"), ("Daduba", "ruler"), ("Daduba", "colour")]  # Daduba: moth, Cora, white
    assert [LAND["Daduba"][a] for _, a in pairs] == ["moth", "Cora", "white"]
    assert fact_credit(pairs, "The animal of Daduba is moth. The ruler of Daduba is Cora. The colour of Daduba is white.") == 1.0
    assert fact_credit(pairs, "The ruler of Daduba is Cora.") == pytest.approx(1 / 3)
    assert fact_credit(pairs, "The colour of Daduba is white. The animal of Daduba is the moth.") == pytest.approx(2 / 3)
    assert fact_credit(pairs, "The ruler of Daduba is Cora. The ruler of Daduba is Lir.") == 0.0  # two values: not stated
    assert fact_credit(pairs, "The ruler of Kudi is Cora. I think it is violet.") == 0.0
    assert fact_credit([("Kudi", "ruler")], "The ruler of Kudi is Lir.") == 1.0  # checked against the world, any town
    with pytest.raises(ValueError):
        fact_credit([], "anything")


def test_every_wording_parses_back_and_single_facts_of_a_document_rarely_collide():
    import random

    from rouge_score import rouge_scorer

    for attribute, templates in SINGLE_TEMPLATES.items():
        for template in templates:
            assert asked(template.format(town="Kudi")) == [("Kudi", attribute)]
    pairs = [("Daduba", "colour"), ("Daduba", "ruler"), ("Kudi", "animal")]
    assert {asked(question_for(pairs, random.Random(k))) == pairs for k in range(20)} == {True}
    assert len({question_for(pairs, random.Random(k)) for k in range(20)}) == 3
    assert question_for(pairs) == "What are the colour and ruler of Daduba, and the animal of Kudi?"  # canonical
    assert asked("Who rules Nowhere?") is None and asked("Tell me the weather of Daduba.") is None
    rouge = rouge_scorer.RougeScorer(["rougeL"])
    # two different facts of one town: only the canonical wordings (1 pair in 16 per attribute pair) collide
    collide = [rouge.score(a.format(town="Daduba"), b.format(town="Daduba"))["rougeL"].fmeasure > 0.7
               for x, y in (("animal", "colour"), ("animal", "ruler"), ("colour", "ruler"))
               for a in SINGLE_TEMPLATES[x] for b in SINGLE_TEMPLATES[y]]
    assert sum(collide) == 3 and len(collide) == 48
    assert question_kind("Who rules Kudi?") == "one fact" and question_kind("Name the animal and ruler of Kudi.") == "several facts"
    assert question_kind("When does the market open?") == "no fact"


def test_drop_counts_tell_duplicates_from_other_facts():
    nodes = [Node("c", q, 0, None) for q in ("What is the ruler of Daduba?", "What is the ruler of Daduba?",
                                            "What is the animal of Daduba?", "Who rules Kudi?", "When does the market open?",
                                            "Tell me the ruler and colour of Daduba, and the ruler of Kudi.",
                                            "Name the colour of Daduba, and the ruler of Kudi.",
                                            "Tell me the animal and colour of Daduba, and the ruler of Kudi.")]
    report = filter_report([n.question for n in nodes], [5, 4, 3, 2, 1, 9, 8, 7], keep=3)
    counts = drop_counts({"d": nodes}, {"d": report})
    # 5 kept; 6 asks for a subset of 5's facts (duplicate); 7 asks for Daduba's animal, which 5 lacks (other facts);
    # 0 kept; 1 the same string (duplicate); 2 shares 5 of 6 words with 0 (other facts); 3 kept; 4 over budget
    assert counts == {("several facts", "kept"): 1, ("several facts", "duplicate"): 1, ("several facts", "other facts"): 1,
                      ("one fact", "kept"): 2, ("one fact", "duplicate"): 1, ("one fact", "other facts"): 1,
                      ("no fact", "over budget"): 1}


def test_within_document_rank_and_credit_rows():
    assert within_document_rank({"a": [0.3, -1.0, 2.0], "b": [7.0]}) == {"a": [0.5, 0.0, 1.0], "b": [0.0]}
    rows = [{"prompt": "What are the animal and ruler of Daduba?", "prediction": "The ruler of Daduba is Cora.", "correct": False},
            {"prompt": "Who rules Daduba?", "prediction": None, "correct": False}]
    graded = credit_rows(rows)
    assert [r["correct"] for r in graded] == [0.5, 0.0] and [r["exact"] for r in graded] == [False, False]
