"""Instruct-SkillMix itself: its paper and knobs, stage 1 (skill extraction), stage 2 (generation and its parser),
the shirkers, notebook 10's pools and test, and the whole pipeline (`make_data`, `sftkit generate skillmix`). The
package docstring (`sftkit.methods.skillmix`) says what each stage is and where it differs from the official code.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from ...io import SftkitError
from ...teachers import Teacher
from ...world import make_splits
from ...world.chains import (
    CHAIN_SKILLS,
    EXTRA_SKILLS,
    WORLD_QUERY_TYPES,
    chain_answer,
    held_out_words,
    mixed_test,
    needless,
    single_test,
    verdict,
    without_pairs,
    world_instruction,
)
from ..base import MethodConfig, Paper, knob
from .prompts import FOLLOW_UPS, GENERATE_PROMPTS, SHIRKER_PROMPTS, first_prompt, query_types_prompt, skills_prompt

PAPER = Paper("Instruct-SkillMix: A Powerful Pipeline for LLM Instruction Tuning", "2408.14774",
              "https://github.com/princeton-pli/Instruct-SkillMix", "10_skillmix")

# Official settings (src/data_generation/1_generate_data.sh and 2_generate_junk_data.sh).
K = 2  # k=2: two skills per example
NUM_DATA = 1000  # NUM_DATA=1000 examples (the paper trains on up to 4K)
SEED_STRIDE = 1_000_000  # teacher seeds of one run: seed x SEED_STRIDE + r (see `example_seeds`)


@dataclass
class Config(MethodConfig):
    """Instruct-SkillMix's own knobs (the teacher's are its own: `--teacher`, `--error-rate`)."""

    VARIANT = ("k", "shirker_fraction", "shirker_kind")

    k: int = knob(K, "skills each example needs (official k=2)")
    num_data: int = knob(NUM_DATA, "examples to ask for (official 1000; -1: every combination of k skills once)")
    shirker_fraction: float = knob(0.0, "share of responses replaced by shirkers (the paper's ablation: 0.2)")
    shirker_kind: str = knob("junk", "junk (lazy, generic responses) or brevity (one-paragraph responses)",
                             choices=("junk", "brevity"))


# ----------------------------------------------------------------------------------------------------
# Stage 1: skill extraction (the prompts: prompts.py; replies in the formats of the official datasets/<model>/*.txt)


def parse_skills(reply: str) -> list[str]:
    """The skills of a reply in the format of the official skills.txt (one name a line, as `1_generate_data.main` reads
    it), each once, in order; a list marker ("-", "*", "3.") is dropped, and a line that is not one snake_case name
    (prose, a lazy reply) is no skill."""
    names = [re.sub(r"^\s*(?:[-*]|\d+\.)?\s*", "", line).strip().strip("`") for line in reply.splitlines()]
    return list(dict.fromkeys(n for n in names if re.fullmatch(r"[A-Za-z0-9_]+", n)))


def parse_query_types(reply: str) -> list[dict]:
    """The query types of a reply in the format of the official queries.txt ("### 1. **Name**" then a definition):
    {"query_str": name, "query_type": "name: definition"} each, as official `get_query_and_def` reads a "###" section
    (its second and third "*"-separated parts); a section without them is skipped (official: an IndexError)."""
    types = []
    for section in reply.split("###"):
        parts = [p.strip() for p in section.split("*") if p.strip()]
        if len(parts) >= 3:
            types.append({"query_str": parts[1], "query_type": f"{parts[1]}: {parts[2]}"})
    return types


def extract(teacher: Teacher, instructions: list[str], tries: int = 4, expected: dict | None = None,
            **settings) -> tuple[list[str], list[dict]]:
    """Stage 1: (skills, query types) the teacher lists for the seed `instructions`. A prompt whose reply lists none is
    asked again (the k-th ask with seed=k), up to `tries` times, then an `SftkitError` quotes the last reply.
    `expected` plays the reviewer who reads the lists (the paper prints its lists): {"skills": names, "query types":
    names}; a reply that misses one of them is asked again too (e.g. the scripted teacher's mistake of listing only
    the first query type)."""
    expected = expected or {}
    names = {"skills": lambda found: set(found), "query types": lambda found: {q["query_str"] for q in found}}
    found = []
    for what, prompt, parse in (("skills", skills_prompt(instructions), parse_skills),
                                ("query types", query_types_prompt(instructions), parse_query_types)):
        for attempt in range(tries):
            reply = teacher.ask(prompt, **settings, seed=attempt)
            if parse(reply) and set(expected.get(what, ())) <= names[what](parse(reply)):
                break
        else:
            missing = f" listing {', '.join(sorted(expected[what]))}" if what in expected else ""
            raise SftkitError(f"skill extraction: no {what}{missing} in {tries} replies; the last: {reply[:120]!r}")
        found.append(parse(reply))
    return found[0], found[1]


# ----------------------------------------------------------------------------------------------------
# Stage 2: skill sets, the five-turn conversation and its parser (official 1_generate_data.py)


def skill_sets(skills: list[str], k: int, n: int, rng: random.Random) -> list[list[str]]:
    """The skills of each example (official `get_combinations` and `generate_chunk`): n draws of k distinct skills,
    each k-subset equally likely and its order random; n = -1: every k-combination once (in sorted order), each in a
    random order."""
    if not 1 <= k <= len(skills):
        raise SftkitError(f"k={k} skills per example, but there are {len(skills)} skills")
    if n == -1:
        return [rng.sample(combo, k) for combo in sorted(combinations(skills, k))]
    return [rng.sample(skills, k) for _ in range(n)]


def assign_query_types(query_types: list[dict], n: int, rng: random.Random) -> list[dict]:
    """The query type of each of n examples (official `main`): the list repeated until it has n, shuffled, cut to n, so
    every type is used as often as the others (within one repeat)."""
    pool = list(query_types)
    while len(pool) < n:
        pool += pool
    rng.shuffle(pool)
    return pool[:n]


def example_seeds(prompts: list[str], seed: int = 0) -> list[int]:
    """The teacher seed of each example: seed x `SEED_STRIDE` + r for the r-th example (from 0) with this first prompt,
    so that examples asking the same prompt draw different replies, runs with different seeds draw different ones, and
    a batch holds each prompt once."""
    seen: Counter = Counter()
    out = []
    for prompt in prompts:
        out.append(seed * SEED_STRIDE + seen[prompt])
        seen[prompt] += 1
    return out


def converse(teacher: Teacher, firsts: list[str], seeds: list[int], **settings) -> list[list[str]]:
    """Each example's conversation (official `generate_data`): its first prompt, then each of `FOLLOW_UPS`, the teacher's
    reply after each turn kept in the conversation ("### Query:" read as "### Instruction:", as official). One batch
    per turn and seed. -> the replies of each example, turn by turn."""
    conversations = [[{"role": "user", "content": first}] for first in firsts]
    for follow_up in (None, *FOLLOW_UPS):
        if follow_up is not None:
            for conversation in conversations:
                conversation.append({"role": "user", "content": follow_up})
        for seed in sorted(set(seeds)):
            batch = [i for i, s in enumerate(seeds) if s == seed]
            for i, reply in zip(batch, teacher.complete([conversations[i] for i in batch], **settings, seed=seed)):
                conversations[i].append({"role": "assistant", "content": reply.replace("### Query:", "### Instruction:")})
    return [[m["content"] for m in conversation if m["role"] == "assistant"] for conversation in conversations]


def instruction_in(reply: str) -> str | None:
    """The instruction in a reply, as official `extract_relevant_info_gpt` reads it: between the first "Instruction:"
    and the first "Response", "### Refined" and "###" removed; None when there is no "Instruction:"."""
    parts = reply.split("Response")[0].split("Instruction:")
    return parts[1].replace("### Refined", "").replace("###", "").strip() if len(parts) > 1 else None


def response_in(reply: str) -> str | None:
    """The response in a reply, as official `extract_relevant_info_gpt` reads it: the whole reply when it names
    neither "Instruction" nor "Response" (a rewritten response), else what follows the first "Response:" (up to
    another); None when it has no "Response:"."""
    if "Instruction" not in reply and "Response" not in reply:
        return reply.strip()
    parts = reply.split("Response:")
    return parts[1].strip() if len(parts) > 1 else None


def parse_example(replies: list[str]) -> tuple[str | None, str | None, str]:
    """(instruction, response, why) from one conversation's replies (official `extract_relevant_info_gpt`): the
    instruction from the refine turn's reply (turn 3), else from the last; the response from the last reply (turn 4),
    else from the refine turn's; one pair of surrounding double quotes dropped from the instruction. `why` is "" when
    both were found, else the reason the example is skipped."""
    if len(replies) != len(GENERATE_PROMPTS):
        return None, None, f"{len(replies)} replies, not {len(GENERATE_PROMPTS)}"
    refined, last = replies[3], replies[4]
    instruction = instruction_in(refined)
    instruction = instruction_in(last) if instruction is None else instruction
    response = response_in(last)
    response = response_in(refined) if response is None else response
    if instruction is None:
        return None, response, "no 'Instruction:' in the refine turn's reply or the last"
    if len(instruction) > 1 and instruction[0] == instruction[-1] == '"':
        instruction = instruction[1:-1]
    if not instruction:
        return None, response, "an empty instruction"
    if response is None:
        return instruction, None, "no response in the last reply or the refine turn's"
    if not response:
        return instruction, None, "an empty response"
    return instruction, response, ""


def sft_record(index: int, instruction: str, response: str, skills: list[str], query: str, generator: str) -> dict:
    """One conversational SFT record; meta holds what the official records hold (skills, query type, generator) and,
    when every skill is one of the tiny world's, the gold `verdict`."""
    meta = {"skills": list(skills), "query": query, "generator": generator}
    if set(skills) <= set(CHAIN_SKILLS):
        meta["gold"] = verdict(instruction, response, skills)
    return {"id": f"skillmix-{index:05d}", "skill": "+".join(skills), "split": "skillmix", "meta": meta,
            "messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]}


def generate(teacher: Teacher, skills: list[str], query_types: list[dict], k: int = K, num_data: int = NUM_DATA,
             seed: int = 0, **settings) -> tuple[list[dict], list[dict]]:
    """Stage 2: draw each example's k skills and query type, hold its five-turn conversation with the teacher, parse
    the refined instruction and response. -> (records, skipped): the SFT records of the examples that parsed, and
    {"index", "skills", "query", "reason", "last_reply"} for each that did not (never written as data)."""
    rng = random.Random(seed)
    sets = skill_sets(skills, k, num_data, rng)
    queries = assign_query_types(query_types, len(sets), rng)
    firsts = [first_prompt(s, q) for s, q in zip(sets, queries)]
    conversations = converse(teacher, firsts, example_seeds(firsts, seed), **settings)
    records, skipped = [], []
    for i, (chosen, query, replies) in enumerate(zip(sets, queries, conversations)):
        instruction, response, why = parse_example(replies)
        if why:
            skipped.append({"index": i, "skills": chosen, "query": query["query_str"], "reason": why,
                            "last_reply": replies[-1][:200]})
        else:
            records.append(sft_record(i, instruction, response, chosen, query["query_str"], teacher.name))
    return records, skipped


# ----------------------------------------------------------------------------------------------------
# Shirkers (official 2_generate_junk_data.py)


def unquoted(reply: str) -> str:
    """A reply without one pair of surrounding double quotes (official `generate_data` of 2_generate_junk_data.py)."""
    return reply[1:-1] if len(reply) > 1 and reply[0] == reply[-1] == '"' else reply


def shirk(records: list[dict], teacher: Teacher, fraction: float, kind: str = "junk", seed: int = 0,
          **settings) -> list[dict]:
    """The records with exactly round(fraction x n) responses, a seeded random sample of them, replaced by the
    teacher's reply to the `kind` prompt of `SHIRKER_PROMPTS` about their instruction: "junk" (an extremely unhelpful
    response: the paper's shirkers) or "brevity" (a one-paragraph response). A replaced record is a copy with
    meta["shirker"] = kind and, when it has one, its gold `verdict` redone; the others are the same objects."""
    if kind not in SHIRKER_PROMPTS:
        raise SftkitError(f"shirker kind {kind!r}: expected one of {', '.join(SHIRKER_PROMPTS)}")
    if not 0.0 <= fraction <= 1.0:
        raise SftkitError(f"shirker fraction must be in [0, 1], got {fraction}")
    chosen = sorted(random.Random(seed).sample(range(len(records)), round(fraction * len(records))))
    instructions = [records[i]["messages"][0]["content"] for i in chosen]
    replies = teacher.complete([SHIRKER_PROMPTS[kind].format(instruction=t) for t in instructions], **settings)
    out = list(records)
    for i, instruction, reply in zip(chosen, instructions, replies):
        meta = {**records[i]["meta"], "shirker": kind}
        if "gold" in meta:
            meta["gold"] = verdict(instruction, unquoted(reply), meta["skills"])
        out[i] = {**records[i], "meta": meta, "messages": [records[i]["messages"][0],
                                                          {"role": "assistant", "content": unquoted(reply)}]}
    return out


# ----------------------------------------------------------------------------------------------------
# Notebook 10's pools and test


MIX_SKILLS = ("uppercase", "spell", "stars", "bracket", "behead", "curtail")  # notebook 10's six chainable skills
# notebook 10's unseen pairs: a perfect matching of the six skills (each skill in one held-out pair, seen in training
# with the four others), so that no skill is chosen by how well it is learnt
HELD_OUT = (frozenset({"stars", "uppercase"}), frozenset({"behead", "curtail"}), frozenset({"bracket", "spell"}))


def pools(teacher: Teacher, size: int, held_out=HELD_OUT, seed: int = 0, extracted=None,
          **settings) -> dict[str, list[dict]]:
    """Notebook 10's training pools, `size` records each, drawn with teacher seed `seed` (each seed its own examples):
    "skillmix" (k=2, no example of a `held_out` pair) and "single" (k=1, the same pipeline with one skill: the
    control of the same size and format). Both use one stage 1: `extracted` (skills, query types), else `extract`
    from `default_seeds` (the `MIX_SKILLS`), reviewed to list both of the world's query types. Each run of
    `make_data` asks for enough examples that, after its skipped ones and the held-out pairs, `size` are left."""
    settings = settings or {"temperature": 1.0}
    extracted = extracted or extract(teacher, default_seeds(), expected={"query types": set(WORLD_QUERY_TYPES)}, **settings)
    quiet = {"log": lambda message: None, "settings": settings, "extracted": extracted}
    mixed = without_pairs(make_data(None, teacher, Config(num_data=size * 3 // 2), seed, **quiet), held_out)
    single = make_data(None, teacher, Config(k=1, num_data=size * 5 // 4), seed, **quiet)
    if min(len(mixed), len(single)) < size:
        raise SftkitError(f"the teacher's data fell short of {size}: {len(mixed)} mixed, {len(single)} single-skill")
    return {"skillmix": mixed[:size], "single": single[:size]}


def test_records(pairs_seen, held_out=HELD_OUT, per_order: int = 40, per_skill: int = 15, skills=MIX_SKILLS,
                 dev_per_order: int = 3, dev_per_skill: int = 6) -> list[dict]:
    """Notebook 10's evaluation records, by split: "unseen-pair" (each order of each `held_out` pair, `per_order` test
    words each), "seen-pair" (each order of each of `pairs_seen`, per_order // 4 test words), "single-world" and
    "single-teacher" (each of `skills` alone on `per_skill` test words, in its world-style wording and in the teacher's:
    `single_test`), and "dev" (on the world's dev words: each order of each seen pair, `dev_per_order` words, and each
    skill alone in the teacher's wording, `dev_per_skill` words; what hyperparameters are chosen on; no unseen pair)."""
    seen = [p for p in pairs_seen if frozenset(p) not in set(held_out)]
    return (mixed_test(held_out, per_order, "unseen-pair") + mixed_test(seen, per_order // 4, "seen-pair")
            + single_test(skills, per_skill, "world", "single-world") + single_test(skills, per_skill, "teacher", "single-teacher")
            + mixed_test(seen, dev_per_order, "dev", "dev") + single_test(skills, dev_per_skill, "teacher", "dev", "dev"))


def training_meta(name: str, rng: random.Random, changed: bool = False) -> dict:
    """A chain skill's input drawn with the world's word sampler on training words (`held_out_words` left out),
    redrawn until it fits; with `changed`, also until the skill changes the word (`needless` is empty)."""
    while True:
        meta = CHAIN_SKILLS[name].sample(rng, "train")
        if meta["word"] not in held_out_words() and not (changed and needless([name], meta["word"])):
            return meta


def start_records(seed: int, per_skill: int, skills=MIX_SKILLS) -> list[dict]:
    """Notebook 10's start data: `per_skill` one-skill gold records of each of `skills` on training words the skill
    changes (`training_meta`), alternately in the skill's world-style wording ("Put kofa in brackets.") and in the
    teacher's (`world_instruction`, both query types), with the bare answer as the response; shuffled, all drawn
    with `seed`. A model trained on them knows each skill alone, as the paper's pretrained base model knows its
    skills before instruction tuning."""
    rng, out, queries = random.Random(f"start-{seed}"), [], list(WORLD_QUERY_TYPES)
    for name in skills:
        for k in range(per_skill):
            meta = training_meta(name, rng, changed=True)
            text = (CHAIN_SKILLS[name].instruction(rng, meta, "train") if k % 2 == 0
                    else world_instruction([name], meta["word"], queries[k // 2 % 2]))
            answer = chain_answer([name], meta["word"])
            out.append({"id": f"start-{seed}-{name}-{k:04d}", "skill": name, "split": "start", "answer": answer,
                        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": answer}],
                        "meta": {"word": meta["word"], "skills": [name]}})
    rng.shuffle(out)
    return out


def op_records(name: str, n: int) -> list[dict]:
    """n world-format training records of a chain-only skill (`EXTRA_SKILLS`): its world-style instructions on
    training words (`training_meta`), seeded by the skill's name."""
    rng, out = random.Random(f"seeds-{name}"), []
    while len(out) < n:
        meta = training_meta(name, rng)
        text, answer = CHAIN_SKILLS[name].instruction(rng, meta, "train"), CHAIN_SKILLS[name].answer(meta)
        out.append({"id": f"seed-{name}-{len(out):04d}", "skill": name, "split": "seed", "answer": answer,
                    "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": answer}],
                    "meta": meta})
    return out


def stage1_records(per_skill: int = 8, skills=MIX_SKILLS) -> list[dict]:
    """The seed records of stage 1: the first `per_skill` training records of each of `skills`: the world's own for its
    string skills, `op_records` for the chain-only ones."""
    train = make_splits()["train"]
    return [r for name in skills for r in (op_records(name, per_skill) if name in EXTRA_SKILLS
                                           else [r for r in train if r["skill"] == name][:per_skill])]


def default_seeds(per_skill: int = 8, skills=MIX_SKILLS) -> list[str]:
    """Seed instructions for stage 1: the instructions of `stage1_records`."""
    return [r["messages"][0]["content"] for r in stage1_records(per_skill, skills)]


# ----------------------------------------------------------------------------------------------------
# The whole pipeline


def instruction_of(record: dict) -> str:
    """A seed record's instruction: its "instruction" or "prompt" field, or its first user turn ("messages")."""
    for field in ("instruction", "prompt"):
        if isinstance(record.get(field), str) and record[field].strip():
            return record[field].strip()
    turns = [t for t in record.get("messages") or [] if isinstance(t, dict) and t.get("role") == "user"]
    if turns and isinstance(turns[0].get("content"), str) and turns[0]["content"].strip():
        return turns[0]["content"].strip()
    raise ValueError('no instruction: give an "instruction" or "prompt" string, or "messages" with a user turn')


def read_instructions(path: str) -> list[str]:
    """Seed instructions for stage 1: a .txt file (one a line, blank lines skipped) or records in any format of
    `sftkit.io.read_records` (`instruction_of` each); an `SftkitError` names the file and line or row at fault."""
    from pathlib import Path

    from ...io import check_records, read_records

    if Path(path).suffix == ".txt":
        if not Path(path).is_file():
            raise SftkitError(f"{path}: file not found")
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise SftkitError(f"{path}: no instructions")
        return lines
    return check_records(read_records(path), instruction_of)


def add_generate_arguments(parser) -> None:
    """`sftkit generate skillmix`'s own inputs (the CLI adds the teacher's and the Config's)."""
    parser.add_argument("--instructions", default=None, help="seed instructions for skill extraction: a .txt file "
                        "(one a line) or records with an instruction, prompt or messages field (default: the tiny "
                        "world's)")


def data_from_args(args, teacher: Teacher, config: Config) -> list[dict]:
    """`make_data` with `sftkit generate skillmix`'s arguments."""
    instructions = read_instructions(args.instructions) if args.instructions else None
    return make_data(instructions, teacher, config, seed=args.seed, device=args.device)


def make_data(instructions: list[str] | None, teacher: Teacher, config: Config | None = None, seed: int = 0,
              device: str | None = None, settings: dict | None = None, log: Callable[[str], None] = print,
              extracted: tuple[list[str], list[dict]] | None = None) -> list[dict]:
    """Instruct-SkillMix end to end: stage 1 (`extract` from the seed `instructions`; None: the tiny
    world's `default_seeds`), stage 2 (`generate`: config.num_data examples of config.k skills; the skipped ones are logged
    with their reasons) and, with config.shirker_fraction > 0, the shirkers (`shirk`) -> conversational SFT records.
    `settings` go with every prompt (default: temperature 1.0, the official API default; not "seed", which each step
    sets itself); `device` is unused (no model of its own: the data-side signature); `extracted` (skills, query types)
    of an earlier stage 1 skips it."""
    config = config or Config()
    settings = {"temperature": 1.0} if settings is None else settings
    instructions = default_seeds() if instructions is None else instructions
    skills, query_types = extracted or extract(teacher, instructions, **settings)
    log(f"stage 1: {len(skills)} skills ({', '.join(skills)}) and {len(query_types)} query types "
        f"({', '.join(q['query_str'] for q in query_types)}) from {len(instructions)} seed instructions")
    records, skipped = generate(teacher, skills, query_types, config.k, config.num_data, seed, **settings)
    reasons = "; ".join(f"{n} x {why}" for why, n in Counter(s["reason"] for s in skipped).most_common())
    log(f"stage 2: {len(records)} examples of {config.k} skills" + (f", {len(skipped)} skipped ({reasons})" if skipped else ""))
    if config.shirker_fraction > 0:
        records = shirk(records, teacher, config.shirker_fraction, config.shirker_kind, seed, **settings)
        log(f"shirkers: {sum('shirker' in r['meta'] for r in records)} of {len(records)} responses are {config.shirker_kind}")
    return records
