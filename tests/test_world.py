import filecmp
import re
from collections import Counter

import pytest

from sftkit import world
from sftkit.io import WORLD_DIR
from sftkit.world import LAND, check_documents, make_documents
from sftkit.world.documents import sentences
from sftkit.world.facts import answer_from, asked, question_about, question_for, question_quality
from sftkit.world.judgements import LABELS, SIZES, TASKS, make_task, parse_judgement, task_records, with_examples


def test_regeneration_is_byte_for_byte(tmp_path):
    world.write_world(tmp_path)
    for name in [f"{s}.jsonl" for s in world.SPLITS] + ["corpus.txt", "land.json"]:
        assert filecmp.cmp(tmp_path / name, WORLD_DIR / name, shallow=False), f"{name} differs from data/world"


@pytest.fixture(scope="module")
def splits():
    return world.make_splits()


def test_at_least_eight_skills_and_each_split_holds_its_skills(splits):
    assert len(world.SKILLS) >= 8
    for split, records in splits.items():
        assert {r["skill"] for r in records} == set(world.split_skills(split)), split
    assert set(world.split_skills("larger")) == {"add", "code"}
    assert set(world.split_skills("wording")) == set(world.SKILLS)


def test_gold_answers_pass_their_checker_and_corruptions_fail(splits):
    for r in [r for s in world.EVAL_SPLITS for r in splits[s]]:
        assert world.check(r, r["answer"])
        assert world.check(r, "  " + r["answer"] + " ")  # whitespace is the only leniency
        assert not world.check(r, r["answer"] + "x")


@pytest.mark.parametrize("skill,meta,answer", [
    ("reverse", {"word": "abc"}, "cba"),
    ("uppercase", {"word": "abc"}, "ABC"),
    ("length", {"word": "abcd"}, "4"),
    ("spell", {"word": "abc"}, "a-b-c"),
    ("add", {"a": 12, "b": 9}, "21"),
    ("sort", {"numbers": [3, 1, 2]}, "1 2 3"),
    ("max", {"numbers": [3, 9, 2]}, "9"),
    ("sentiment", {"sentence": "the tea was not kind", "label": "negative"}, "negative"),
    ("code", {"expr": "x * 4", "tests": []}, "def f(x): return x * 4"),
])
def test_skill_answers_by_hand(skill, meta, answer):
    assert world.SKILLS[skill].answer(meta) == answer


def test_facts_come_from_the_land():
    town = next(iter(world.LAND))
    assert world.SKILLS["facts"].answer({"town": town, "attribute": "ruler"}) == world.LAND[town]["ruler"]


def test_code_tests_agree_with_the_gold_function(splits):
    for r in [r for s in world.EVAL_SPLITS for r in splits[s] if r["skill"] == "code"]:
        namespace = {}
        exec(r["answer"], namespace)
        assert all(namespace["f"](x) == y for x, y in r["meta"]["tests"])


def test_evaluation_inputs_are_held_out_of_train(splits):
    train = {world.skills._key(r["skill"], r["meta"]) for r in splits["train"]}
    assert not train & world.eval_keys(splits)
    test_words = {r["meta"]["word"] for r in splits["test"] if "word" in r["meta"]}
    assert not test_words & {r["meta"]["word"] for r in splits["train"] if "word" in r["meta"]}


def test_corpus_never_states_an_evaluation_answer(splits):
    corpus = (WORLD_DIR / "corpus.txt").read_text()
    stated = set(re.findall(r"\b([a-z]+) (?:backwards is|is spelled|loudly is|is \d+ letters)", corpus))
    stated |= set(re.findall(r"(?:Reversed,|letter,|In capitals,|The word) ([a-z]+)", corpus))
    assert len(stated) > 1000  # the patterns do match the prose
    evaluated = {r["meta"]["word"] for s in ("dev", *world.EVAL_SPLITS) for r in splits[s] if "word" in r["meta"]}
    assert not stated & evaluated
    assert "<|user|>" not in corpus and "<|assistant|>" not in corpus  # prose only, no chat format


def test_each_shift_moves_one_thing(splits):
    def words(split):
        return [len(r["meta"]["word"]) for r in splits[split] if "word" in r["meta"]]

    def lists(split):
        return [len(r["meta"]["numbers"]) for r in splits[split] if "numbers" in r["meta"]]

    assert max(words("train")) == 6 and set(words("longer")) == {7, 8}
    assert max(lists("train")) == 5 and set(lists("longer")) == {6, 7}
    assert all(20 <= r["meta"]["a"] <= 49 and 20 <= r["meta"]["b"] <= 49 for r in splits["larger"] if r["skill"] == "add")
    assert all(max(r["meta"]["a"], r["meta"]["b"]) < 20 for r in splits["train"] if r["skill"] == "add")
    assert all(" not " in r["meta"]["sentence"] for r in splits["composed"] if r["skill"] == "sentiment")
    assert not any(" not " in r["meta"]["sentence"] for r in splits["train"] if r["skill"] == "sentiment")
    assert all(r["meta"]["expr"].startswith("(") for r in splits["composed"] if r["skill"] == "code")
    # wording: the same input distribution as test, phrased in a way no training instruction is
    train_prompts = {r["messages"][0]["content"].split(" ")[0] for r in splits["train"]}
    assert max(words("wording")) <= 6
    assert sum(r["messages"][0]["content"].split(" ")[0] not in train_prompts for r in splits["wording"]) > 200


def test_corpus_states_the_shifted_inputs_for_the_base_model():
    corpus = (WORLD_DIR / "corpus.txt").read_text()
    assert re.search(r"\b[a-z]{8} backwards is", corpus) and " was not " in corpus and "def f(x): return (x" in corpus


def test_compose_two_skills():
    r = world.compose("reverse", "uppercase", "abc")
    assert r["answer"] == "CBA" and r["messages"][-1]["content"] == "CBA"


def test_unknown_skill_is_named():
    with pytest.raises(KeyError, match="unknown skill 'juggle'"):
        world.check({"skill": "juggle", "answer": "x"}, "x")


# ----------------------------------------------------------------------------------------------------
# Documents about Veloria and the facts they state (sftkit.world.documents, sftkit.world.facts; AugCon's world)

DOCS = make_documents()


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


def test_questions_name_what_they_ask_and_parse_back():
    pairs = [("Daduba", "colour"), ("Daduba", "ruler"), ("Kudi", "animal")]
    question = question_for(pairs)
    assert question == "What are the colour and ruler of Daduba, and the animal of Kudi?"
    assert asked(question) == pairs
    assert question_for([("Daduba", "ruler")]) == "What is the ruler of Daduba?"
    assert asked("What is this passage about?") is None and asked("What is the weather of Daduba?") is None


def test_question_quality_and_answers_on_hand_cases():
    doc = DOCS[0]  # Daduba: moth, Cora, white; its neighbour paragraph says Kudi's ruler is Lir
    paragraph = next(p for p in doc["paragraphs"] if "Kudi" in p)
    assert question_about(paragraph) == "What are the colour of Daduba, and the ruler of Kudi?"
    assert question_quality(question_about(paragraph), paragraph) == "complete"
    assert question_quality("What is the colour of Daduba?", paragraph) == "partial"
    assert question_quality("What is the animal of Daduba?", paragraph) == "unanswerable"
    assert question_quality("What is this passage about?", paragraph) == "generic"
    assert answer_from(paragraph, question_about(paragraph)) == "The colour of Daduba is white. The ruler of Kudi is Lir."
    assert answer_from(paragraph, "What is the animal of Daduba?") == "The passage does not say the animal of Daduba."
    filler = "Its market opens early each morning."
    assert question_about(filler) == "When does the market open?" and question_quality(question_about(filler), filler) == "complete"
    assert answer_from(filler, question_about(filler)) == filler


# ----------------------------------------------------------------------------------------------------
# The judgement tasks PPO learns (sftkit.world.judgements)


@pytest.mark.parametrize("reply, label", [
    ("yes", "yes"), ("no", "no"), ("no.", "no"), ("yes, it is", "yes"), ("  yes  ", "yes"), ("yes yes", "yes"),
    ("", None), ("   ", None), ("Yes", None), ("NO", None), ("yes no", None), ("no, yes", None), ("nope", None),
    ("positive", None), ("y-e-s", None),
])
def test_parser_reads_one_label_or_nothing(reply, label):
    assert parse_judgement(reply) == label


@pytest.mark.parametrize("task", list(TASKS))
def test_tasks_are_balanced_and_hold_out_their_evaluation_prompts(task):
    splits = make_task(task)
    assert set(splits) == {"train", "dev", "test", {"sentiment": "composed", "compare": "larger"}[task],
                           *(("wide",) if task == "compare" else ())}
    prompts = {name: [r["messages"][0]["content"] for r in records] for name, records in splits.items()}
    for name, records in splits.items():
        assert Counter(r["answer"] for r in records) == {label: len(records) // 2 for label in LABELS}
        if name != "train":
            assert len(set(prompts[name])) == len(records)  # distinct
            assert not set(prompts[name]) & set(prompts["train"])  # never trained on
    assert make_task(task) == splits  # deterministic


def test_the_wide_split_is_drawn_last_and_leaves_the_other_splits_unchanged():
    splits = make_task("compare")
    assert len(splits["wide"]) == 1000 and "wide" not in make_task("sentiment")
    without = make_task("compare", sizes={**SIZES, "wide": 0})
    assert without.pop("wide") == [] and without == {k: v for k, v in splits.items() if k != "wide"}
    wide = {r["messages"][0]["content"] for r in splits["wide"]}
    assert all(10 <= r["meta"]["a"] <= 99 and 10 <= r["meta"]["b"] <= 99 for r in splits["wide"])  # drawn like test
    for name, records in splits.items():
        if name != "wide":
            assert not wide & {r["messages"][0]["content"] for r in records}, name
    assert [r["id"] for r in task_records("wide")] == [r["id"] for r in splits["wide"]]  # compare's only


def test_task_answers_are_true():
    for r in task_records("test") + task_records("shift") + task_records("wide"):
        meta = r["meta"]
        if r["task"] == "compare":
            assert (meta["a"] > meta["b"]) == (r["answer"] == "yes")
        else:
            words = meta["sentence"].split()
            from sftkit.world.skills import POSITIVE

            positive = (words[-1] in POSITIVE) != ("not" in words)
            assert positive == (r["answer"] == "yes")


def test_few_shot_puts_examples_before_the_question():
    record, shots = task_records("test")[0], task_records("train")[:2]
    messages = with_examples(record, shots)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3 and messages[-2:] == record["messages"]


@pytest.mark.parametrize("skill,meta,wrong", [
    ("reverse", {"word": "abc"}, "abc"),
    ("uppercase", {"word": "abc"}, "Abc"),
    ("length", {"word": "abcd"}, "5"),
    ("spell", {"word": "abc"}, "abc"),
    ("add", {"a": 12, "b": 9}, "129"),
    ("sort", {"numbers": [3, 1, 2]}, "3 2 1"),
    ("max", {"numbers": [3, 9, 2]}, "2"),
    ("sentiment", {"sentence": "the film was good", "label": "positive"}, "negative"),
    ("code", {"expr": "x * 3", "tests": []}, "def f(x): return x + 3"),
])
def test_consistent_mistake_is_one_rule_per_skill(skill, meta, wrong):
    answer = world.SKILLS[skill].answer(meta)
    assert world.consistent_mistake({"skill": skill, "meta": meta, "answer": answer}) == wrong


def test_consistent_mistakes_are_wrong_and_facts_take_a_neighbours(splits):
    for r in [r for s in world.EVAL_SPLITS for r in splits[s]]:
        assert not world.check(r, world.consistent_mistake(r))
    towns = list(LAND)
    r = next(r for r in splits["test"] if r["skill"] == "facts")
    wrong = world.consistent_mistake(r)
    before = [LAND[t][r["meta"]["attribute"]] for t in towns[:towns.index(r["meta"]["town"])][::-1]]
    assert wrong == next(v for v in before + [LAND[t][r["meta"]["attribute"]] for t in towns[::-1]] if v != r["answer"])
