import filecmp
import re

import pytest

from sftkit import world
from sftkit.io import WORLD_DIR


def test_regeneration_is_byte_for_byte(tmp_path):
    world.write_world(tmp_path)
    for name in ["train.jsonl", "dev.jsonl", "test.jsonl", "hard.jsonl", "corpus.txt", "land.json"]:
        assert filecmp.cmp(tmp_path / name, WORLD_DIR / name, shallow=False), f"{name} differs from data/world"


@pytest.fixture(scope="module")
def splits():
    return world.make_splits()


def test_at_least_eight_skills_in_every_split(splits):
    assert len(world.SKILLS) >= 8
    for split, records in splits.items():
        assert {r["skill"] for r in records} == set(world.SKILLS), split


def test_gold_answers_pass_their_checker_and_corruptions_fail(splits):
    for r in splits["test"] + splits["hard"]:
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
    for r in [r for r in splits["test"] + splits["hard"] if r["skill"] == "code"]:
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
    evaluated = {r["meta"]["word"] for s in ("dev", "test", "hard") for r in splits[s] if "word" in r["meta"]}
    assert not stated & evaluated
    assert "<|user|>" not in corpus and "<|assistant|>" not in corpus  # prose only, no chat format


def test_hard_split_shifts_the_inputs(splits):
    test_len = max(len(r["meta"]["word"]) for r in splits["test"] if r["skill"] == "reverse")
    hard_len = min(len(r["meta"]["word"]) for r in splits["hard"] if r["skill"] == "reverse")
    assert hard_len > test_len
    assert all(" not " in r["meta"]["sentence"] for r in splits["hard"] if r["skill"] == "sentiment")


def test_compose_two_skills():
    r = world.compose("reverse", "uppercase", "abc")
    assert r["answer"] == "CBA" and r["messages"][-1]["content"] == "CBA"


def test_unknown_skill_is_named():
    with pytest.raises(KeyError, match="unknown skill 'juggle'"):
        world.check({"skill": "juggle", "answer": "x"}, "x")
