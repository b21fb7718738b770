"""Instruct-SkillMix: the official prompts, skill extraction and its parsers, the skill-set sampling, the five-turn
conversation and its parser (unparseable replies counted and skipped with a reason), the gold composer's verdict on
every generated example, the shirkers (an exact fraction) and make_data. Pure Python: no torch, no model."""
from __future__ import annotations

import hashlib
import itertools
import random
import subprocess
import sys
from collections import Counter

import pytest

from sftkit.io import REPO_DIR, SftkitError
from sftkit.methods.skillmix import (
    BREVITY_PROMPT,
    EXTRA_SKILLS,
    FOLLOW_UPS,
    GENERATE_PROMPTS,
    JUNK_PROMPT,
    MIX_SKILLS,
    SEED_STRIDE,
    STRING_SKILLS,
    Config,
    assign_query_types,
    converse,
    default_seeds,
    example_seeds,
    extract,
    final_answer,
    first_prompt,
    generate,
    gold_record,
    held_out_words,
    make_data,
    parse_example,
    parse_instruction,
    parse_query_types,
    parse_skills,
    shirk,
    skill_sets,
    teacher_tasks,
    verdict,
    world_instruction,
)
from sftkit.teachers import ScriptedTeacher, Task, Teacher
from sftkit.world import LAZY_ANSWERS, SKILLS, compose

QUERIES = [{"query_str": "Instructional", "query_type": "Instructional: an order"},
           {"query_str": "Information-Seeking", "query_type": "Information-Seeking: a question"}]
# The pairs of string skills that no order and word can both need: a count of letters ignores order and case.
NEVER_BOTH = {frozenset({"reverse", "length"}), frozenset({"uppercase", "length"})}


pytestmark = pytest.mark.usefixtures("repository_untouched")  # nothing here writes into the repository


@pytest.fixture(scope="module")
def mixed():
    """(records, skipped) of 300 two-skill examples from the scripted teacher (no mistakes, no laziness)."""
    return generate(ScriptedTeacher(tasks=teacher_tasks()), list(STRING_SKILLS), QUERIES, k=2, num_data=300, seed=1)


class Canned(Teacher):
    """A teacher whose reply is `reply(conversation)`; it records each batch it is asked (prompts, settings)."""

    name = "canned"

    def __init__(self, reply):
        super().__init__(cache=None)
        self.reply, self.batches = reply, []

    def _generate(self, conversations, settings):
        self.batches.append((conversations, settings))
        for i, conversation in enumerate(conversations):
            yield i, self.reply(conversation)


class Garbling(Teacher):
    """The scripted teacher, except that in conversations about `skill` the refine turn and the last reply are chatter
    without an instruction or a response."""

    name = "garbling"

    def __init__(self, skill: str):
        super().__init__(cache=None)
        self.skill, self.inner = skill, ScriptedTeacher(tasks=teacher_tasks())

    def _generate(self, conversations, settings):
        for i, conversation in enumerate(conversations):
            skills_line = conversation[0]["content"].rsplit("### Skills: ", 1)[-1]
            turn = sum(m["role"] == "user" for m in conversation) - 1
            garble = self.skill in skills_line.split(", ") and turn >= 3
            yield i, "Sure! Here you go, happy to help." if garble else self.inner.reply(conversation, **settings)[0]


# ----------------------------------------------------------------------------------------------------
# The official prompts


def test_prompts_are_the_official_text():
    """GENERATE_PROMPTS is prompts/generate_gpt-4-turbo-2024-04-09.json word for word, JUNK_PROMPT and BREVITY_PROMPT
    the _junk and _brevity files' (sha256 of the official files' prompts, joined by NUL, computed from the repository
    at commit ad331de); the short ones are also spelled out."""
    assert hashlib.sha256("\x00".join(GENERATE_PROMPTS).encode()).hexdigest() == \
        "e2d45d613ef911493b9da8ccb38753e74623e578007efc89cddc00f1445274c0"
    assert hashlib.sha256("\x00".join([JUNK_PROMPT, BREVITY_PROMPT]).encode()).hexdigest() == \
        "4d8d1f2977ae8c995fefe9c2145e5a4119cb0c10862501337cd436daeba1a541"
    assert FOLLOW_UPS == (
        "Thanks! It looks like the response may have been cut off. Please rewrite the entire response, making sure it "
        "fits within the length constraint. No need to include verbose or extraneous information. Thanks!",
        "Pretend you are the human asking the question, and make a list of weaknesses and strengths of the response. "
        "Currently the response looks a bit generic. Perhaps it could benefit from some concrete examples and details.",
        "Now, please refine your instruction and response (keep the strong parts and work on the weak parts).",
        "It looks like the improved response may have been cut off. Please rewrite the entire improved response, making "
        "sure it fits within the length constraint. No need to include verbose or extraneous information. Thanks again!")
    assert JUNK_PROMPT.format(instruction="Reverse kofa.") == (
        'Greetings! Consider the following instruction: "Reverse kofa."\n\nNow, please provide an example of an extremely '
        "unhelpful response to the instruction/question. The response can illustrate laziness and be very generic. The "
        "response can be vague and should be long (include many filler words).")
    assert BREVITY_PROMPT.format(instruction="Reverse kofa.") == (
        'Greetings! Consider the following instruction: "Reverse kofa. Please limit your response to one paragraph."\n\n'
        "Please effectively respond to the instruction in approximately on paragraph.")


def test_first_prompt_is_formatted_as_official():
    prompt = first_prompt(["reverse", "spell"], QUERIES[0])
    assert prompt.startswith("I am creating a dataset of engaging human-AI interactions")
    assert "I will first give you a set of 2 skills that are valuable to humans." in prompt
    assert "aligns with the following task type:\nInstructional: an order\n\n. Include specific text snippets" in prompt
    assert prompt.endswith("whose answer involves using all skills below:\n### Task Type: Instructional\n"
                           "### Skills: reverse, spell")
    assert "{" not in prompt


# ----------------------------------------------------------------------------------------------------
# Stage 1: skill extraction


def test_the_scripted_teacher_extracts_the_string_skills_and_query_types():
    seeds = default_seeds(skills=STRING_SKILLS)
    assert len(seeds) == 8 * len(STRING_SKILLS)
    skills, query_types = extract(ScriptedTeacher(tasks=teacher_tasks()), seeds)
    assert skills == list(STRING_SKILLS) == ["reverse", "uppercase", "length", "spell"]
    mixable, _ = extract(ScriptedTeacher(tasks=teacher_tasks()), default_seeds())  # notebook 10's six, chain-only ones too
    assert mixable == list(MIX_SKILLS) == ["uppercase", "spell", "stars", "bracket", "behead", "curtail"]
    assert [q["query_str"] for q in query_types] == ["Instructional", "Information-Seeking"]
    assert all(q["query_type"].startswith(q["query_str"] + ": ") and "For example" in q["query_type"] for q in query_types)
    wrong, _ = extract(ScriptedTeacher(tasks=teacher_tasks(), error_rate=1.0), seeds)  # the mistake leaves a skill out
    assert len(wrong) == len(STRING_SKILLS) - 1 and set(wrong) < set(STRING_SKILLS)


def test_extraction_asks_again_then_fails_on_replies_with_nothing_in_them():
    with pytest.raises(SftkitError, match="no skills in 4 replies"):
        extract(ScriptedTeacher(tasks=teacher_tasks(), laziness_rate=1.0), default_seeds())
    asked = []

    def lazy_once(conversation):
        """A lazy first reply, then the skills and the query types."""
        prompt = conversation[-1]["content"]
        asked.append(prompt)
        if len(asked) == 1:
            return "I am not sure."
        return "### 1. **Chat**\nSmall talk.\n" if "types of query" in prompt else "chat"

    assert extract(Canned(lazy_once), ["Hello"]) == (["chat"], [{"query_str": "Chat", "query_type": "Chat: Small talk."}])
    assert len(asked) == 3 and asked[0] == asked[1] != asked[2]


def test_a_reviewed_extraction_asks_again_until_every_expected_query_type_is_listed():
    from sftkit.teachers import teacher_from

    both = {"Instructional", "Information-Seeking"}
    always_wrong = ScriptedTeacher(tasks=teacher_tasks(), error_rate=1.0)
    _, first_only = extract(always_wrong, default_seeds())  # the mistake lists the first query type only
    assert [q["query_str"] for q in first_only] == ["Instructional"]
    with pytest.raises(SftkitError, match="no query types listing Information-Seeking, Instructional in 4 replies"):
        extract(always_wrong, default_seeds(), expected={"query types": both})
    teacher = teacher_from("scripted", 0.2, 0.05, seed=0, tasks=teacher_tasks())  # notebook 10's teacher and settings
    _, unreviewed = extract(teacher, default_seeds(), temperature=1.0)
    _, reviewed = extract(teacher, default_seeds(), expected={"query types": both}, temperature=1.0)
    assert [q["query_str"] for q in unreviewed] == ["Instructional"]  # its first reply errs ...
    assert {q["query_str"] for q in reviewed} == both  # ... and the reviewer has it asked again


def test_start_records_teach_each_skill_alone_in_both_wordings_on_training_words():
    from sftkit.methods.skillmix import chain_answer, held_out_words, parse_instruction, start_records

    records = start_records(0, 10)
    assert len(records) == 60 and records == start_records(0, 10) and records != start_records(1, 10)
    for name in MIX_SKILLS:
        mine = [r for r in records if r["skill"] == name]
        assert len(mine) == 10
        teacher_worded = [r for r in mine if parse_instruction(r["messages"][0]["content"])]
        assert len(teacher_worded) == 5  # every second one in the teacher's wording
    for r in records:
        w = r["meta"]["word"]
        assert w not in held_out_words() and r["answer"] == r["messages"][1]["content"] == chain_answer([r["skill"]], w) != w


def test_parsers_read_the_official_file_formats():
    official_skills = "marketing_and_promotion\nspacecraft_navigation\nshock_prevention\n"
    assert parse_skills(official_skills) == ["marketing_and_promotion", "spacecraft_navigation", "shock_prevention"]
    assert parse_skills("Sure, here they are:\n- data_analysis\n2. `public_speaking`\ndata_analysis\n\n") == \
        ["data_analysis", "public_speaking"]
    assert parse_skills("I am not sure.") == []
    official_queries = ('### 1. **Information-Seeking**\nThis includes any query where the user is looking to find out '
                        'facts. For example:\n- "What is the capital of France?"\n\n### 2. **Help-Seeking**\nQueries '
                        'where the user needs assistance.\n')
    assert parse_query_types(official_queries) == [  # what official get_query_and_def makes of each section
        {"query_str": "Information-Seeking", "query_type": 'Information-Seeking: This includes any query where the user '
         'is looking to find out facts. For example:\n- "What is the capital of France?"'},
        {"query_str": "Help-Seeking", "query_type": "Help-Seeking: Queries where the user needs assistance."}]
    assert parse_query_types("### A heading without a bold name\nand text") == []


# ----------------------------------------------------------------------------------------------------
# Stage 2: sampling


def test_a_skill_set_is_drawn_uniformly_without_repeats_within_an_example():
    skills = ["a", "b", "c", "d", "e"]
    draws = skill_sets(skills, 2, 20000, random.Random(0))
    assert all(len(set(d)) == 2 and set(d) <= set(skills) for d in draws)
    pairs = Counter(frozenset(d) for d in draws)
    assert len(pairs) == 10
    chi2 = sum((n - 2000) ** 2 / 2000 for n in pairs.values())
    assert chi2 < 27.9  # chi-square, 9 degrees of freedom, p = 0.001
    ordered = Counter(tuple(d) for d in draws)
    assert all(abs(ordered[a, b] - ordered[b, a]) < 200 for a, b in itertools.combinations(skills, 2))  # order random
    triples = skill_sets(skills, 3, 2000, random.Random(1))
    assert all(len(set(t)) == 3 for t in triples) and len({frozenset(t) for t in triples}) == 10
    every = skill_sets(skills, 2, -1, random.Random(0))  # official num_data=-1: every combination once
    assert sorted(frozenset(p) for p in every) == sorted(frozenset(p) for p in itertools.combinations(skills, 2))
    with pytest.raises(SftkitError, match="k=6"):
        skill_sets(skills, 6, 1, random.Random(0))


def test_query_types_are_used_equally_often():
    types = [{"query_str": str(i), "query_type": f"{i}: t"} for i in range(3)]
    drawn = Counter(q["query_str"] for q in assign_query_types(types, 12, random.Random(0)))
    assert drawn == {"0": 4, "1": 4, "2": 4}


def test_examples_asking_the_same_prompt_get_their_own_teacher_seed():
    assert example_seeds(["a", "b", "a", "a"], seed=2) == [2 * SEED_STRIDE, 2 * SEED_STRIDE, 2 * SEED_STRIDE + 1,
                                                          2 * SEED_STRIDE + 2]


def test_a_sampled_task_draws_another_right_reply_per_seed():
    task = Task("draw", lambda m: m[-1]["content"] == "draw" or None, lambda item, rng: f"{rng.random():.6f}",
                lambda item, rng: "wrong", sampled=True)
    teacher = ScriptedTeacher(tasks=[task])
    assert teacher.ask("draw", seed=0) == teacher.ask("draw", seed=0) != teacher.ask("draw", seed=1)
    plain = ScriptedTeacher(tasks=[Task("plain", lambda m: True, lambda item: "same", lambda item, rng: "wrong")])
    assert plain.ask("x", seed=0) == plain.ask("x", seed=1) == "same"


# ----------------------------------------------------------------------------------------------------
# Stage 2: the conversation and its parser


def test_the_conversation_has_five_turns_batched_by_seed_with_query_read_as_instruction():
    teacher = Canned(lambda conversation: f"### Query: q{len(conversation)}\n### Response: r")
    replies = converse(teacher, ["p", "p", "other"], [0, 1, 0])
    assert [len(r) for r in replies] == [5, 5, 5]
    assert replies[0][0] == "### Instruction: q1\n### Response: r"  # official: outputs.replace("### Query:", ...)
    assert len(teacher.batches) == 10 and [s["seed"] for _, s in teacher.batches[:2]] == [0, 1]
    last_batch = teacher.batches[-1][0][0]
    assert [m["content"] for m in last_batch if m["role"] == "user"] == ["p", *FOLLOW_UPS]
    assert last_batch[1]["content"].startswith("### Instruction:")  # the replaced reply goes back to the teacher


def test_parse_example_follows_the_official_rules():
    refined = '### Refined Instruction: "Spell out kofa"\n### Refined Response: k-o-f-a'
    assert parse_example(["", "", "", refined, "k-o-f-a, letter by letter"]) == \
        ("Spell out kofa", "k-o-f-a, letter by letter", "")  # the last reply without labels is the response
    assert parse_example(["", "", "", refined, "### Instruction: x"]) == ("Spell out kofa", "k-o-f-a", "")
    assert parse_example(["", "", "", "chatter", "### Instruction: Do it\n### Response: done"]) == ("Do it", "done", "")
    assert parse_example(["", "", "", "chatter", "more chatter"])[2] == \
        "no 'Instruction:' in the refine turn's reply or the last"
    assert parse_example(["", "", "", "### Instruction: \n### Response: r", "r"])[2] == "an empty instruction"
    assert parse_example(["", "", "", "### Instruction: x", "### Instruction: x"])[2] == \
        "no response in the last reply or the refine turn's"
    assert parse_example(["", "", "", "### Instruction: x\n### Response: r", ""])[2] == "an empty response"
    assert parse_example(["only one"])[2] == "1 replies, not 5"


def test_an_unparseable_reply_is_counted_and_skipped_with_a_reason_never_written():
    records, skipped = generate(Garbling("spell"), list(STRING_SKILLS), QUERIES, k=2, num_data=120, seed=0)
    assert len(records) + len(skipped) == 120
    garbled = [s for s in skipped if "spell" in s["skills"]]
    assert garbled and all(s["reason"] == "no 'Instruction:' in the refine turn's reply or the last" and
                           s["last_reply"].startswith("Sure! Here you go") for s in garbled)
    assert all(frozenset(s["skills"]) in NEVER_BOTH for s in skipped if "spell" not in s["skills"])
    assert all("spell" not in r["meta"]["skills"] and "Sure!" not in r["messages"][1]["content"] for r in records)
    assert all(r["meta"]["gold"]["ok"] for r in records)


# ----------------------------------------------------------------------------------------------------
# The tiny world's gold composer and its verdict


def test_the_gold_composer_is_world_compose_for_two_skills():
    for first, second in itertools.permutations(STRING_SKILLS, 2):
        gold, composed = gold_record([first, second], "kofa"), compose(first, second, "kofa")
        assert gold["messages"][0]["content"] == composed["messages"][0]["content"]
        assert gold["answer"] == composed["answer"] == final_answer(gold["messages"][1]["content"])
    record = gold_record(["reverse", "spell"], "kofa", "Information-Seeking")
    assert record["messages"][0]["content"] == ("What do you get if you write a word backwards, then spell a word with "
                                                "dashes? The word is kofa.")
    assert record["messages"][1]["content"] == "Answer: a-f-o-k"  # the scripted teacher's refined form, no steps
    assert parse_instruction(record["messages"][0]["content"]) == (["reverse", "spell"], "kofa")
    assert parse_instruction("Reverse the word kofa.") is None


def test_the_verdict_says_what_is_wrong():
    instruction = world_instruction(["reverse", "uppercase"], "kofa")
    assert verdict(instruction, "AFOK", ["uppercase", "reverse"])["ok"]
    assert verdict(instruction, "Answer: KOFA", ["reverse", "uppercase"])["reason"] == "wrong answer 'KOFA' (gold 'AFOK')"
    assert verdict(instruction, "AFOK", ["reverse", "spell"])["reason"] == \
        "it uses reverse+uppercase, not its skills reverse+spell"
    assert verdict(instruction, "AFOK", ["reverse", "uppercase", "reverse"])["ok"] is False
    palindrome = world_instruction(["reverse", "uppercase"], "abba")
    assert verdict(palindrome, "ABBA", ["reverse", "uppercase"])["reason"].startswith("it does not need reverse")
    counted = world_instruction(["uppercase", "length"], "kofa")
    assert verdict(counted, "4", ["uppercase", "length"])["reason"].startswith("it does not need uppercase")
    assert verdict("Tell me a joke.", "no", ["reverse", "uppercase"])["answer"] is None


def test_every_generated_example_needs_exactly_its_k_skills(mixed):
    """Checked twice: by `verdict`, and directly with `sftkit.world.compose`: the instruction chains exactly the
    example's two skills on a word, the response's answer is compose's, and dropping either skill changes it."""
    records, skipped = mixed
    assert len(records) > 150 and all(frozenset(s["skills"]) in NEVER_BOTH for s in skipped)
    for record in records:
        instruction, response = (m["content"] for m in record["messages"])
        assert record["meta"]["gold"]["ok"], record["meta"]["gold"]
        (first, second), word = parse_instruction(instruction)
        assert sorted([first, second]) == sorted(record["meta"]["skills"]) and first != second
        gold = compose(first, second, word)["answer"]
        assert final_answer(response) == gold
        assert SKILLS[first].answer({"word": word}) != gold != SKILLS[second].answer({"word": word})
        assert word not in held_out_words()
    assert len({r["messages"][0]["content"] for r in records}) > 0.95 * len(records)  # a new example per seed
    assert {r["meta"]["query"] for r in records} == {"Instructional", "Information-Seeking"}
    three, _ = generate(ScriptedTeacher(tasks=teacher_tasks()), list(STRING_SKILLS), QUERIES, k=3, num_data=60, seed=2)
    assert three and all(r["meta"]["gold"]["ok"] and len(parse_instruction(r["messages"][0]["content"])[0]) == 3
                         for r in three)


def test_the_verdict_catches_the_teachers_mistakes():
    teacher = ScriptedTeacher(tasks=teacher_tasks(), error_rate=0.3, seed=3)
    records, _ = generate(teacher, list(STRING_SKILLS), QUERIES, k=2, num_data=200)
    reasons = Counter(r["meta"]["gold"]["reason"].split(" '")[0] for r in records)
    assert set(reasons) == {"needs exactly its 2 skills; answer right", "wrong answer"}
    assert 0.15 < reasons["wrong answer"] / len(records) < 0.6


# ----------------------------------------------------------------------------------------------------
# Shirkers and the whole pipeline


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.4, 1.0])
def test_the_junk_fraction_is_exact(mixed, fraction):
    records, _ = mixed
    before = [dict(r) for r in records]
    out = shirk(records, ScriptedTeacher(tasks=teacher_tasks()), fraction, "junk", seed=5)
    junk = [r for r in out if r["meta"].get("shirker") == "junk"]
    assert len(out) == len(records) and len(junk) == round(fraction * len(records))
    assert all(r["messages"][1]["content"] in LAZY_ANSWERS and not r["meta"]["gold"]["ok"] for r in junk)
    assert all(new is old for new, old in zip(out, records) if "shirker" not in new["meta"])
    assert [dict(r) for r in records] == before  # the input is not changed


def test_brevity_responses_are_the_bare_right_answer(mixed):
    records, _ = mixed
    out = shirk(records, ScriptedTeacher(tasks=teacher_tasks()), 0.25, "brevity", seed=1)
    brief = [r for r in out if "shirker" in r["meta"]]
    assert len(brief) == round(0.25 * len(records))
    for r in brief:
        assert r["messages"][1]["content"] == r["meta"]["gold"]["answer"] and r["meta"]["gold"]["ok"]
        assert "Step" not in r["messages"][1]["content"]
    with pytest.raises(SftkitError, match="shirker kind"):
        shirk(records, ScriptedTeacher(tasks=teacher_tasks()), 0.2, "lazy")
    with pytest.raises(SftkitError, match=r"\[0, 1\]"):
        shirk(records, ScriptedTeacher(tasks=teacher_tasks()), 1.5)


def test_make_data_end_to_end():
    logs = []
    records = make_data(None, ScriptedTeacher(tasks=teacher_tasks()), Config(num_data=90, shirker_fraction=0.2), seed=4,
                        log=logs.append)
    assert sum("shirker" in r["meta"] for r in records) == round(0.2 * len(records))
    assert all(r["meta"]["gold"]["ok"] != ("shirker" in r["meta"]) for r in records)
    # notebook 10's six skills: their seed instructions hold orders and questions, so both query types
    assert logs[0].startswith("stage 1: 6 skills (uppercase, spell, stars, bracket, behead, curtail) and 2 query types "
                              "(Instructional, Information-Seeking)")
    assert logs[1] == f"stage 2: {len(records)} examples of 2 skills"  # no pair of the six is declined, no mistakes
    assert Config().variant() == "k=2,shirker_fraction=0.0,shirker_kind=junk"


def test_the_module_imports_no_torch():
    code = "import sys, sftkit.methods.skillmix; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_DIR, check=True)


# ----------------------------------------------------------------------------------------------------
# Notebook 10's pieces: the checker, held-out pairs, the test sets, the pools, seed instructions and the CLI


def test_correct_reads_the_final_answer_of_a_worked_or_a_bare_reply():
    from sftkit.methods.skillmix import correct, gold_record

    record = gold_record(["reverse", "uppercase"], "kofa")
    assert record["answer"] == "AFOK" and correct(record, record["messages"][1]["content"])
    assert correct(record, " AFOK ") and not correct(record, "afok")  # capitals are the uppercase skill's answer
    assert not correct(record, "Step 1, ...: kofa gives afok.\nAnswer: AFOKX")
    assert not correct(record, "Answer: AFOK\nAnswer: KOFA")  # the last Answer line counts


def test_mixed_test_needs_both_skills_on_test_words_the_writer_never_uses():
    from sftkit.methods.skillmix import HELD_OUT, held_out_words, mixed_test, test_words, verdict

    records = mixed_test(HELD_OUT, 20, "unseen-pair")
    assert Counter(r["skill"] for r in records) == {f"{a}+{b}": 20 for pair in HELD_OUT for a, b in itertools.permutations(pair)}
    assert sorted(s for pair in HELD_OUT for s in pair) == sorted(MIX_SKILLS)  # a perfect matching of the six
    for r in records:
        assert verdict(r["messages"][0]["content"], r["messages"][1]["content"], r["meta"]["skills"])["ok"]
        assert r["meta"]["word"] in test_words() and r["meta"]["word"] in held_out_words()
    assert {r["meta"]["query"] for r in records} == {"Instructional", "Information-Seeking"}


def test_pools_have_the_size_asked_and_never_the_held_out_pair():
    from sftkit.methods.skillmix import HELD_OUT, pair_of, pools, test_records, without_pairs
    from sftkit.teachers import ScriptedTeacher

    got = pools(ScriptedTeacher(tasks=teacher_tasks(), error_rate=0.2, laziness_rate=0.05), 60)
    assert len(got["skillmix"]) == len(got["single"]) == 60
    assert not any(pair_of(r) in HELD_OUT for r in got["skillmix"]) and all(len(r["meta"]["skills"]) == 2 for r in got["skillmix"])
    assert all(len(r["meta"]["skills"]) == 1 for r in got["single"])
    assert without_pairs(got["skillmix"], [pair_of(got["skillmix"][0])]) == [
        r for r in got["skillmix"] if pair_of(r) != pair_of(got["skillmix"][0])]
    test = test_records({pair_of(r) for r in got["skillmix"]} | set(HELD_OUT), per_order=10)
    splits = Counter(r["split"] for r in test)
    assert splits["unseen-pair"] == 3 * 2 * 10 and splits["single-world"] == splits["single-teacher"] == 6 * 15
    held_chains = {f"{a}+{b}" for pair in HELD_OUT for a, b in itertools.permutations(pair)}
    assert not {r["skill"] for r in test if r["split"] in ("seen-pair", "dev")} & held_chains
    dev = {r["meta"]["word"] for r in test if r["split"] == "dev"}
    assert dev and not dev & {r["meta"]["word"] for r in test if r["split"] != "dev"}  # dev words are no test words


def test_read_instructions_reads_text_and_records_and_names_a_bad_row(tmp_path):
    import json

    from sftkit.methods.skillmix import read_instructions

    (tmp_path / "seeds.txt").write_text("Reverse kofa.\n\n  Spell miq with dashes.\n")
    assert read_instructions(str(tmp_path / "seeds.txt")) == ["Reverse kofa.", "Spell miq with dashes."]
    rows = [{"instruction": "a"}, {"prompt": "b"}, {"messages": [{"role": "user", "content": "c"}]}, {"x": 1}]
    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SftkitError, match=r"seeds.jsonl:4: no instruction"):
        read_instructions(str(tmp_path / "seeds.jsonl"))
    (tmp_path / "ok.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    assert read_instructions(str(tmp_path / "ok.jsonl")) == ["a", "b", "c"]
    with pytest.raises(SftkitError, match=r"missing.txt: file not found"):
        read_instructions(str(tmp_path / "missing.txt"))


def test_generate_cli_writes_skillmix_conversations(tmp_path, capsys):
    import json

    from sftkit.cli import main

    out = tmp_path / "skillmix.jsonl"
    assert main(["generate", "skillmix", "--output", str(out), "--num-data", "30", "--shirker-fraction", "0.5"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all(len(r["meta"]["skills"]) == 2 for r in records)
    assert sum("shirker" in r["meta"] for r in records) == round(0.5 * len(records))
    assert f"wrote {len(records)} records" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text('{"x": 1}\n')
    assert main(["generate", "skillmix", "--output", str(out), "--instructions", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1: no instruction" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------
# The chain-only skills (notebook 10's six): answers by hand, no change to the world


def test_chain_only_skills_answer_by_hand_and_stay_out_of_the_world():
    from sftkit.methods.skillmix import CHAIN_SKILLS, chain_answer, needless

    assert not set(EXTRA_SKILLS) & set(SKILLS) and STRING_SKILLS == ("reverse", "uppercase", "length", "spell")
    assert set(MIX_SKILLS) <= set(CHAIN_SKILLS)
    assert chain_answer(["bracket", "behead"], "kofa") == "kofa]"
    assert chain_answer(["curtail", "stars"], "kofa") == "k*f"
    assert chain_answer(["stars", "uppercase"], "kofa") == "K*F*"
    assert chain_answer(["uppercase", "stars"], "kofa") == "K*F*"  # vowels are found in capitals too
    assert chain_answer(["spell", "curtail"], "kofa") == "k-o-f-"
    assert needless(["stars"], "xyz") == ["stars"] and needless(["stars", "bracket"], "xyz") == ["stars"]


def test_every_pair_of_the_six_is_written_and_judged_right():
    from sftkit.methods.skillmix import plan_example

    rng = random.Random(0)
    for pair in itertools.combinations(MIX_SKILLS, 2):
        order, word = plan_example(pair, rng)
        record = gold_record(order, word)
        assert verdict(record["messages"][0]["content"], record["messages"][1]["content"], list(pair))["ok"], pair


def test_single_skill_tests_come_in_the_worlds_and_the_teachers_wording():
    from sftkit.methods.skillmix import correct, single_test, test_words

    world = single_test(["bracket", "uppercase"], 4, "world", "single-world")
    teacher = single_test(["bracket", "uppercase"], 4, "teacher", "single-teacher")
    assert [r["meta"]["word"] for r in world] == [r["meta"]["word"] for r in teacher] and len(world) == 8
    w = world[0]["meta"]["word"]
    assert w == test_words()[0] and world[0]["answer"] == teacher[0]["answer"] == f"[{w}]"
    assert world[0]["messages"][0]["content"] in (f"Put {w} in brackets.", f"Bracket the word {w}.", f"What is {w} in brackets?")
    assert teacher[0]["messages"][0]["content"] == f"Put a word in brackets: {w}"
    assert world[4]["messages"][0]["content"] in (f"Write {world[4]['meta']['word']} in capital letters.",
                                                  f"Uppercase: {world[4]['meta']['word']}")  # the world's own
    assert correct(teacher[0], f"Answer: [{w}]") and not correct(teacher[0], w)
