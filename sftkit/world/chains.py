"""Chains of the tiny world's string skills on a word (the skills that act on one word, so that they compose): the
answer of a chain, the skills a chain does not need for a word, the instruction and response of a chain and
their parser, the gold record and the verdict on a generated example, the test words. Pure gold functions, no
torch: Instruct-SkillMix (`sftkit.methods.skillmix`, notebook 10_skillmix) reads them, and its scripted teacher
plays its prompts from them. Chains use `CHAIN_SKILLS`: the world's string skills (`STRING_SKILLS`) and four
chain-only ones (`EXTRA_SKILLS`: bracket, curtail, behead, stars), which are not in the world's `SKILLS`, so no world
split, corpus or data file depends on them.
"""
from __future__ import annotations

import functools
import random
import re
from itertools import permutations

from .skills import SKILLS, Skill, _pick, _swap, _word_input, normalize
from .splits import eval_keys, make_splits

# ----------------------------------------------------------------------------------------------------
# The tiny world: string skills chained on a word, the gold composer and its verdict

STRING_SKILLS = tuple(name for name, s in SKILLS.items() if set(s.sample(random.Random(0), "train")) == {"word"})


def _stars(word: str) -> str:
    return "".join("*" if c.lower() in "aeiou" else c for c in word)


def _op(name: str, description: str, answer, wordings: list[str], unseen: str, mistakes) -> Skill:
    """A chain-only string skill (`Skill`, same fields as the world's): `wordings` ("{w}" the word) are its
    world-style instructions, `unseen` its `wording`-split one; prose "{w} -> {a}"."""
    return Skill(name, description, _word_input, lambda m: answer(m["word"]),
                 lambda r, m, s: _pick(r, wordings, s, [unseen]).format(w=m["word"]),
                 lambda r, m: f"{m['word']} -> {answer(m['word'])}", mistakes)


# Four more string skills that act on one word, for chains only (Instruct-SkillMix, notebook 10): they are not in
# the world's `SKILLS`, so no world split, corpus or committed data file changes. Each is a copy with a local rule
# (no reversal, which the tiny model does not learn in a few hundred steps; in a pilot, writing a word twice or each
# letter twice was not learnt in 400 steps either).
EXTRA_SKILLS: dict[str, Skill] = {s.name: s for s in [
    _op("bracket", "put a word in brackets", lambda w: f"[{w}]", ["Put {w} in brackets.", "Bracket the word {w}.",
        "What is {w} in brackets?"],
        "Write {w} between square brackets.", lambda m, a, r: [m["word"], f"({m['word']})", f"[{m['word']}"]),
    _op("curtail", "drop the last letter of a word", lambda w: w[:-1], ["Drop the last letter of {w}.",
        "Cut the end off {w}.", "What is {w} without its last letter?"], "Remove the last letter from {w}.",
        lambda m, a, r: [m["word"], m["word"][1:], m["word"][:-2]]),
    _op("behead", "drop the first letter of a word", lambda w: w[1:], ["Drop the first letter of {w}.",
        "Behead the word {w}.", "What is {w} without its first letter?"], "Remove the first letter from {w}.",
        lambda m, a, r: [m["word"], m["word"][:-1], m["word"][2:]]),
    _op("stars", "replace the vowels of a word with stars", _stars, ["Replace the vowels of {w} with stars.",
        "Star the vowels: {w}", "What is {w} with stars for its vowels?"], "Hide the vowels of {w} behind stars.",
        lambda m, a, r: [m["word"], _swap(a, r), "*" * len(m["word"])]),
]}
CHAIN_SKILLS: dict[str, Skill] = {**{name: SKILLS[name] for name in STRING_SKILLS}, **EXTRA_SKILLS}
DESCRIBED = {s.description: name for name, s in CHAIN_SKILLS.items()}
# The tiny world's query types (what `query_types_task` extracts): how an instruction about a word is put.
WORLD_QUERY_TYPES = {"Instructional": "An order to transform a word: it says what to do and names the word.",
                     "Information-Seeking": "A question about a word: it asks what comes out."}


@functools.cache
def held_out_words() -> frozenset[str]:
    """The words of the tiny world's evaluation inputs (dev, test, shifts): the scripted writer never uses them."""
    return frozenset(key.removeprefix("word:") for key in eval_keys(make_splits()) if key.startswith("word:"))


def chain_answer(order: list[str], word: str) -> str:
    """The word after each skill of `order` in turn (the next skill acts on the last one's result)."""
    for name in order:
        word = CHAIN_SKILLS[name].answer({"word": word})
    return word


def needless(order: list[str], word: str) -> list[str]:
    """The skills of `order` whose removal leaves the answer for `word` unchanged (a palindrome needs no reversing;
    nothing in a count of letters needs capitals): an example needs its skills when this is empty."""
    answer = chain_answer(order, word)
    return [name for i, name in enumerate(order) if chain_answer([*order[:i], *order[i + 1:]], word) == answer]


def world_instruction(order: list[str], word: str, query: str = "Instructional") -> str:
    """The instruction for a chain of skills on a word: "Put a word in brackets, then drop the last letter of a word: kofa"
    (`sftkit.world.compose`'s words), or as a question for an Information-Seeking query."""
    steps = ", then ".join(CHAIN_SKILLS[name].description for name in order)
    if query == "Information-Seeking":
        return f"What do you get if you {steps}? The word is {word}."
    return f"{steps[0].upper()}{steps[1:]}: {word}"


def parse_instruction(text: str) -> tuple[list[str], str] | None:
    """(order, word) of a `world_instruction`, or None for any other text."""
    found = (re.fullmatch(r"What do you get if you (.+)\? The word is ([a-z]+)\.", text.strip())
             or re.fullmatch(r"(.+): ([a-z]+)", text.strip()))
    if found is None:
        return None
    steps = found.group(1)
    order = [DESCRIBED.get(step) for step in f"{steps[0].lower()}{steps[1:]}".split(", then ")]
    return (order, found.group(2)) if None not in order else None


def final_answer(response: str) -> str:
    """The answer a response gives: what follows its last "Answer:" line, else the whole response (stripped)."""
    answers = re.findall(r"^Answer:(.*)$", response, re.M)
    return (answers[-1] if answers else response).strip()


def gold_record(order: list[str], word: str, query: str = "Instructional", split: str = "skillmix-gold") -> dict:
    """The gold composer for a chain of skills on a word, a world-format record: the `world_instruction`, the
    response "Answer: ..." (the scripted teacher's refined form), the final answer as "answer" (for two skills,
    `sftkit.world.compose`'s instruction and answer)."""
    answer = chain_answer(order, word)
    return {"id": f"{split}-{'+'.join(order)}-{word}", "skill": "+".join(order), "split": split, "answer": answer,
            "messages": [{"role": "user", "content": world_instruction(order, word, query)},
                         {"role": "assistant", "content": f"Answer: {answer}"}],
            "meta": {"word": word, "skills": list(order), "query": query}}


def verdict(instruction: str, response: str, skills: list[str]) -> dict:
    """Does a tiny-world example need exactly its k `skills`, and is its answer right? {"ok", "reason", "answer"}:
    the instruction must be a chain of the world's string skills on a word (`parse_instruction`) naming each of
    `skills` once and no other, every one of them must change the answer (`needless` is empty), and the response's
    `final_answer` must be the gold one (`chain_answer`, "answer"; None when the instruction does not parse)."""
    parsed = parse_instruction(instruction)
    if parsed is None:
        return {"ok": False, "reason": "the instruction is no chain of the world's string skills", "answer": None}
    order, word = parsed
    gold, unneeded = chain_answer(order, word), needless(order, word)
    if sorted(order) != sorted(set(skills)) or len(skills) != len(set(skills)):
        reason = f"it uses {'+'.join(order)}, not its skills {'+'.join(skills)}"
    elif unneeded:
        reason = f"it does not need {' or '.join(unneeded)}: the answer is the same without"
    elif normalize(final_answer(response)) != gold:
        reason = f"wrong answer {final_answer(response)!r} (gold {gold!r})"
    else:
        return {"ok": True, "reason": f"needs exactly its {len(skills)} skills; answer right", "answer": gold}
    return {"ok": False, "reason": reason, "answer": gold}


def correct(record: dict, prediction: str) -> bool:
    """Exact match of a reply's `final_answer` against the record's gold "answer" (after `normalize`): a response
    with an answer line ("... Answer: [kof") and a bare answer ("[kof") are read alike. `evaluate`'s `check`."""
    return normalize(final_answer(prediction)) == normalize(record["answer"])


def pair_of(record: dict) -> frozenset[str]:
    """The set of skills a SkillMix record was asked to combine (its meta["skills"], order ignored)."""
    return frozenset(record["meta"]["skills"])


def without_pairs(records: list[dict], pairs) -> list[dict]:
    """The records whose skill set is none of `pairs` (sets of skill names): held-out combinations stay unseen."""
    held = {frozenset(p) for p in pairs}
    return [r for r in records if pair_of(r) not in held]


@functools.cache
def test_words(split: str = "test") -> tuple[str, ...]:
    """The words of the tiny world's `split` ("test" or "dev"; string skills), in order: no training example of the
    world, and no word the scripted writer uses (`held_out_words`), is one of them."""
    return tuple(dict.fromkeys(r["meta"]["word"] for r in make_splits()[split] if r["skill"] in STRING_SKILLS))


def mixed_test(pairs, per_order: int, split: str, words: str = "test") -> list[dict]:
    """Gold records (`gold_record`) for each order of each pair of skills in `pairs`: the first `per_order` words of
    `test_words(words)` for which the chain needs both skills (`needless` is empty), query types alternating."""
    out = []
    for pair in pairs:
        for order in permutations(sorted(pair)):
            found = [w for w in test_words(words) if not needless(list(order), w)][:per_order]
            out += [gold_record(list(order), w, list(WORLD_QUERY_TYPES)[i % 2], split) for i, w in enumerate(found)]
    return out


def single_test(skills, per_skill: int, wording: str, split: str, words: str = "test") -> list[dict]:
    """One-skill gold records for each of `skills` on the first `per_skill` words of `test_words(words)` that the skill
    changes. `wording` "world": the skill's own instructions ("Spell kofa with dashes.", `Skill.instruction` of the
    test split; for `EXTRA_SKILLS` their world-style ones); "teacher": the scripted teacher's (`world_instruction`,
    "Spell a word with dashes: kofa", query types alternating). The answer is bare in both (`correct` reads either)."""
    out = []
    for name in skills:
        found = [w for w in test_words(words) if not needless([name], w)][:per_skill]
        rng = random.Random(f"{name}-{split}")
        for i, w in enumerate(found):
            text = (CHAIN_SKILLS[name].instruction(rng, {"word": w}, "test") if wording == "world"
                    else world_instruction([name], w, list(WORLD_QUERY_TYPES)[i % 2]))
            answer = chain_answer([name], w)
            out.append({"id": f"{split}-{name}-{w}", "skill": name, "split": split, "answer": answer,
                        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": answer}],
                        "meta": {"word": w, "skills": [name], "wording": wording}})
    return out
