import filecmp
import re

import pytest

from sftkit import world
from sftkit.io import WORLD_DIR


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
