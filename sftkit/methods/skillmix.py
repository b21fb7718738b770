"""Instruct-SkillMix: (instruction, response) data that needs k random skills at once (Kaur, Park, Goyal, Arora,
"Instruct-SkillMix: A Powerful Pipeline for LLM Instruction Tuning", arXiv 2408.14774; code princeton-pli/Instruct-SkillMix,
src/data_generation). A data-side method: it writes instruction -> response data that plain SFT learns. Notebook: 10_skillmix.

    stage 1  skill extraction   `skills_prompt` and `query_types_prompt` ask the teacher for the skills and the query types
                                that seed instructions call for; `parse_skills` and `parse_query_types` read the replies as the
                                official `1_generate_data.main` reads its datasets/<model>/skills.txt (one name a line) and
                                queries.txt (`get_query_and_def`); `extract` does both.
    stage 2  generation         `skill_sets` (official `get_combinations`: k distinct skills per example, drawn uniformly, in a
                                random order), `assign_query_types` (the query types repeated, shuffled, cut), `first_prompt`
                                and `FOLLOW_UPS` (the official GPT-4-Turbo prompts, `GENERATE_PROMPTS`), `converse` (the five
                                turns of each example's conversation, one batch per turn), `parse_example` (official
                                `extract_relevant_info_gpt`), `generate` -> (records, skipped, each with its reason).
             critique, refine   the official conversation has the round: turn 2 asks the teacher to list the response's
                                weaknesses and strengths as the human asking ("Currently the response looks a bit generic"),
                                turn 3 to refine the instruction and response; turns 1 and 4 ask it to rewrite the (improved)
                                response whole, in case it was cut off. The data is the refined instruction (turn 3's reply)
                                and the rewritten refined response (turn 4's).
    shirkers                    `shirk(records, teacher, fraction, kind)`: exactly round(fraction x n) responses replaced by the
                                teacher's reply to `JUNK_PROMPT` ("an extremely unhelpful response", the paper's shirkers) or
                                `BREVITY_PROMPT` (a one-paragraph answer) (official `2_generate_junk_data.py`, its prompt files).
    whole                       `make_data(instructions, teacher, config)`: both stages, then the shirkers when config asks
                                for them.

The tiny world's pieces: its string skills (`STRING_SKILLS`, those that act on one word, so that they chain) and two
query types (`WORLD_QUERY_TYPES`); `gold_record`, the gold composer for a chain of k skills (for two, the instruction and
answer of `sftkit.world.compose`); `verdict`, which says whether an example needs exactly its k skills and answers right;
and the scripted teacher's tasks: `skills_task` and `query_types_task` (it lists the skills and query types of the world
instructions it is shown), `generation_task` (it writes a chain instruction with a word that needs every skill, a bare
answer as the draft, a critique asking for the steps, a refined response with one line per step; skills that no order
and word can all need it declines to combine, and the parser skips the decline), `junk_task` (a short
`sftkit.world.lazy_answer`, though the official prompt asks for a long one) and `brevity_task` (the bare answer: right,
without the steps).

Deliberate differences from the official code:
- The extraction prompts are ours: the repository publishes the lists GPT-4-Turbo and Claude 3.5 Sonnet extracted, not
  the prompts that extracted them (the paper asks the model directly for the skills of instruction following, or, in
  its seed-dataset variant, for those of a seed data set's instructions). Our replies have the published files'
  formats; a skill line must be one snake_case name (official: every line is a skill, a blank one too), and a query
  section without a bold name is skipped (official: an IndexError).
- Generation uses the GPT-4-Turbo prompt set; the Claude one (three turns: generate, critique, refine with a format
  reminder) is not here. No system message is sent (official: FastChat's gpt-4-turbo-2024-04-09 template, a ChatGPT
  system prompt). Random draws use Python's `random` (official: numpy), with the same distributions.
- Each example's turns pass seed=seed x 1,000,000 + r, for the r-th example whose first prompt repeats an earlier one's,
  so a cached or scripted teacher writes a new example instead of reading the first one back (official: every call
  samples afresh at the API's default temperature, 1.0).
- A conversation whose last replies cannot be parsed is counted in `skipped` with its reason and never written (official:
  dropped silently; its shell script runs the job four times, and each run re-asks a failed example's last turn); an
  empty response is skipped too (official: written). An extraction reply that lists nothing is asked again, up to 4 times.
- `shirk` replaces a seeded random sample of the records, in place, and marks them meta["shirker"] (official: it rewrites
  the first NUM_DATA=200 of the 1000 records into a file of their own; mixing them with the other 800 is not in the code).
"""
from __future__ import annotations

import functools
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations, permutations

from ..io import SftkitError
from ..teachers import Task, Teacher, last_user_text, register_task
from ..world import SKILLS, eval_keys, lazy_answer, make_splits, normalize
from .base import MethodConfig, MethodSpec, Paper, knob

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
# Stage 1: skill extraction (our prompts; replies in the formats of the official datasets/<model>/*.txt)

SKILLS_PROMPT = ("Here are instructions that people gave an AI assistant:\n\n{instructions}\n\nList the skills an "
                 "assistant needs to follow instructions like these. Write one skill per line, as a short snake_case "
                 "name (for example data_handling_and_analysis), with nothing else on the line.")
QUERY_TYPES_PROMPT = ("Here are instructions that people gave an AI assistant:\n\n{instructions}\n\nList the types of "
                      "query these instructions are. Give each type a heading \"### N. **Name**\" and, below it, a "
                      "definition of the type with examples, as in:\n\n### 1. **Information-Seeking**\nThis includes any "
                      "query where the user is looking to find out facts, data, explanations, or learn about a topic.")


def numbered(instructions: list[str]) -> str:
    """The seed instructions as the extraction prompts list them: "1. ...", one a line."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(instructions, 1))


def skills_prompt(instructions: list[str]) -> str:
    return SKILLS_PROMPT.format(instructions=numbered(instructions))


def query_types_prompt(instructions: list[str]) -> str:
    return QUERY_TYPES_PROMPT.format(instructions=numbered(instructions))


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


def extract(teacher: Teacher, instructions: list[str], tries: int = 4, **settings) -> tuple[list[str], list[dict]]:
    """Stage 1: (skills, query types) the teacher lists for the seed `instructions`. A prompt whose reply lists none is
    asked again (the k-th ask with seed=k), up to `tries` times, then an `SftkitError` quotes the last reply."""
    found = []
    for what, prompt, parse in (("skills", skills_prompt(instructions), parse_skills),
                                ("query types", query_types_prompt(instructions), parse_query_types)):
        for attempt in range(tries):
            reply = teacher.ask(prompt, **settings, seed=attempt)
            if parse(reply):
                break
        else:
            raise SftkitError(f"skill extraction: no {what} in {tries} replies; the last: {reply[:120]!r}")
        found.append(parse(reply))
    return found[0], found[1]


# ----------------------------------------------------------------------------------------------------
# Stage 2: the official prompts (src/data_generation/prompts/generate_gpt-4-turbo-2024-04-09.json), word for word

GENERATE_PROMPTS = (
    "I am creating a dataset of engaging human-AI interactions that demonstrate the capabilities and value of AI models "
    "across diverse skills. Please help me generate high-quality examples for this dataset.\n"
    "\n"
    "I will first give you a set of {num_skills} skills that are valuable to humans.\n"
    "\n"
    "Next, you would create a query that a human might plausibly ask whose answer involves using those {num_skills} "
    "skills. \n"
    "\n"
    "For this query you will generate a good length answer using your best helpfulness and wisdom. Please try to avoid "
    "generic sound queries and answers. The answer should also give some concrete details and examples, but not get "
    "verbose.\n"
    "\n"
    "Before I give you the set of {num_skills} skills, I will provide some examples involving 2 skills.\n"
    "Example 1: \n"
    "### Task Type: Information-Seeking\n"
    "### Skills: psychological_understanding, data_handling_and_analysis\n"
    "### Instruction: What are the primary psychological theories that explain the impact of social media on adolescent "
    "self-esteem, and what evidence supports these theories? Additionally, what statistical techniques have been used in "
    "the literature to dissect these relationships, and how do these techniques help in understanding the nuances of "
    "psychological data?\n"
    "### Response: The impact of social media on adolescent self-esteem is a widely studied topic within psychology. "
    "Various theories and statistical techniques are employed to understand and measure these effects. Below, I'll outline "
    "some of the primary theories, the supporting evidence, and the statistical techniques used in this research.\n"
    "### Response: The impact of social media on adolescent self-esteem is a widely studied topic within psychology. "
    "Various theories and statistical techniques are employed to understand and measure these effects. Below, I'll outline "
    "some of the primary theories, the supporting evidence, and the statistical techniques used in this research.\n"
    "\n"
    "**Psychological Theories and Evidence**\n"
    "\n"
    "Social Comparison Theory: Adolescents often assess their worth by comparing themselves with peers on social media. A "
    "study by Vogel et al. (2014) found that Facebook usage was associated with negative self-perceptions when users "
    "compared themselves to others they perceived as better off. This suggests a direct correlation between the frequency "
    "of social media use and increased feelings of inferiority.\n"
    "\n"
    "Self-Presentation Theory: Adolescents feel pressure to present themselves in an idealized way on platforms like "
    "Instagram and Snapchat. Research by Chou and Edge (2012) highlights that the need for positive feedback and fear of "
    "negative evaluations can lead to cycles of anxiety and lowered self-esteem when these expectations are not met.\n"
    "\n"
    "Media Richness Theory: Different types of social media platforms impact self-esteem differently. A study by Sherman "
    "et al. (2016) compared text-based versus image-based platforms, finding that image-based platforms (like Instagram) "
    "can exacerbate body image concerns and anxiety more than text-based platforms due to the intense focus on physical "
    "appearance.\n"
    "\n"
    "Statistical Techniques and Applications\n"
    "\n"
    "Regression Analysis: Used extensively to quantify the relationship between social media usage and self-esteem. For "
    "instance, studies might control for variables like age, gender, and socioeconomic status to isolate the effect of "
    "social media usage.\n"
    "\n"
    "Structural Equation Modeling (SEM): SEM enables researchers to construct a comprehensive model of how different "
    "factors like peer influence, media consumption, and personal traits interact to affect self-esteem. An example is "
    "Kross et al.’s (2013) study, which modeled the pathways through which social media affects mood and self-esteem over "
    "time.\n"
    "\n"
    "Longitudinal Studies and Growth Curve Modeling: These techniques provide insights into how self-esteem trajectories "
    "change over time with social media use. For instance, longitudinal research might track self-esteem changes from "
    "early to late adolescence, revealing critical periods where impacts are most pronounced.\n"
    "\n"
    "Mediation and Moderation Analyses: These are crucial for exploring underlying mechanisms and boundary conditions. For "
    "example, studies might explore how the negative impact of social media on self-esteem can be mediated by social "
    "support or moderated by individual resilience.\n"
    "\n"
    "**Contradictory Evidence**\n"
    "\n"
    "While many studies suggest a negative impact of social media on self-esteem, some research offers a different "
    "perspective. For instance, Valkenburg et al. (2006) found that online interactions can enhance well-being by "
    "providing social support and a platform for self-expression. These findings suggest that the impact of social media "
    "on self-esteem is not universally negative and can vary based on usage patterns and individual differences.\n"
    "\n"
    "**Practical Implications**\n"
    "\n"
    "Understanding these dynamics is crucial for developing targeted interventions. For instance, educational programs "
    "that teach critical media literacy can help adolescents navigate social media healthily. Moreover, knowing which "
    "aspects of social media use trigger negative self-comparisons can guide the development of features that promote "
    "positive interaction and reduce the emphasis on appearance.\n"
    "\n"
    "Example 2: \n"
    "### Task Type: Help-Seeking\n"
    "### Skills:  self_reflection_skills, linguistics\n"
    "### Instruction: I often find myself in conflicts at work due to miscommunication and differing perspectives. How can "
    "I improve my conflict resolution skills by incorporating self-reflection and effective communication techniques into "
    "my daily interactions with colleagues?\n"
    "### Response: To enhance your conflict resolution skills in the workplace, integrate these self-reflection and "
    "linguistic strategies into your daily routine:\n"
    "Self-Reflection Techniques:\n"
    "End-of-Day Review: Spend 10 minutes reflecting on interactions, noting successes and areas for improvement. For "
    "example, \"I successfully de-escalated a tense situation with a client by actively listening to their concerns and "
    "finding a mutually beneficial solution.\"\n"
    "Conflict Log: Record details of conflicts, your responses, and outcomes in a dedicated journal. Analyze patterns "
    "monthly to identify growth opportunities. For instance, \"I noticed I tend to become defensive when criticized. I "
    "will practice pause and respond techniques to improve my reactions.\"\n"
    "Linguistic Techniques:\n"
    "Empathy Statements: Use phrases that demonstrate understanding and validate others' perspectives, such as \"I can see "
    "why you feel that way\" or \"That must be challenging for you.\" In a recent meeting, saying \"I understand your "
    "frustration with the project timeline\" helped a coworker feel heard and open to finding a solution together.\n"
    "Reflective Listening: Paraphrase the other person's key points before responding to ensure clarity and show you're "
    "listening. For example, \"So, what I'm hearing is that you're concerned about the budget allocation. Let's discuss "
    "some options to address that.\"\n"
    "Integration into Routine:\n"
    "Weekly Practice Sessions: Dedicate an hour each week to role-play conflict scenarios with a trusted colleague, "
    "focusing on applying self-reflection insights and linguistic techniques. Provide each other with constructive "
    "feedback for continuous improvement.\n"
    "Real-Time Application: When a conflict arises, take a moment to mentally review your phrase bank and select an "
    "appropriate response. After the interaction, briefly reflect on what worked well and what could be improved next "
    "time.\n"
    "By consistently practicing these strategies, you'll build stronger habits and enhance your overall conflict "
    "resolution skills in the workplace.\n"
    "\n"
    "Example 3: \n"
    "### Task Type: Information-Seeking\n"
    "### Skills: geographical_and_historical_knowledge, analytical_thinking\n"
    "### Instruction: What were the major geopolitical changes in Europe following World War II, and how have these "
    "changes influenced current European political boundaries?\n"
    "### Response: **Major Geopolitical Changes in Europe After World War II**\n"
    "\n"
    "1. Division of Germany: The division of Germany into East and West Germany in 1949 was a critical symbol of the Cold "
    "War's onset. This division, marked physically by the Berlin Wall from 1961, lasted until the reunification in 1990 "
    "and significantly influenced European political dynamics.\n"
    "\n"
    "2. Creation of the Iron Curtain: Winston Churchill's term, the \"Iron Curtain,\" described the ideological and "
    "physical boundary separating the Soviet-controlled Eastern Bloc and the Western democracies. This division dictated "
    "political alignments and conflicts during the Cold War, influencing policies and international relations.\n"
    "\n"
    "3. Decolonization: Following the war, European powers like Britain and France began a significant process of "
    "decolonization. This period saw the independence of nations such as India in 1947 and the rapid decolonization of "
    "Africa in the 1960s, marking a major shift in global dynamics and European foreign policies.\n"
    "\n"
    "4. Formation of the European Union (EU): The EU's origins lie in the European Coal and Steel Community in 1951, "
    "evolving into the European Economic Community by 1957. These alliances, expanding to include more countries over the "
    "decades, aimed to foster economic cooperation and prevent further wars in Europe, influencing both economic and "
    "political policies within the continent.\n"
    "\n"
    "5. NATO and the Warsaw Pact: The establishment of NATO in 1949 by Western countries was a strategic move for "
    "collective security against the Soviet threat. The Soviet response, the Warsaw Pact in 1955, defined the military "
    "alliances in Europe, solidifying the East-West divide.\n"
    "\n"
    "**Influence on Current European Political Boundaries**\n"
    "\n"
    "1. German Reunification: The fall of the Berlin Wall in 1989 and the subsequent reunification of East and West "
    "Germany in 1990 reshaped Germany's role in Europe, altering both its internal and external political boundaries.\n"
    "\n"
    "2. EU Expansion: The EU's expansion has included many former Eastern Bloc countries, fundamentally changing the "
    "political landscape of Europe. The Schengen Agreement, implemented in 1995, minimized the importance of national "
    "boundaries within the EU, promoting free movement and economic integration.\n"
    "\n"
    "3. Breakup of Yugoslavia and the Soviet Union: The disintegration of Yugoslavia into seven successor states "
    "throughout the 1990s and the Soviet Union into 15 independent countries in 1991 dramatically redrew political "
    "boundaries. These events, rooted in ethnic tensions and political upheavals, continue to influence regional stability "
    "and alignments.\n"
    "\n"
    "**Case Studies: Key Treaties and Shifts in Alliances**\n"
    "\n"
    "1. Treaty of Paris (1951): This treaty established the European Coal and Steel Community, a foundational step towards "
    "European integration. It set precedents for future economic policies and cooperative frameworks within Europe, "
    "promoting peace and economic stability across former wartime adversaries.\n"
    "\n"
    "2. Impact of NATO and the Warsaw Pact on Poland: Poland's transition from a Warsaw Pact member to a NATO member in "
    "1999 exemplifies the dramatic shift in military and political alliances. This change significantly influenced "
    "Poland's foreign and security policies, reflecting broader geopolitical shifts in Eastern Europe post-Cold War.\n"
    "\n"
    "\n"
    "\n"
    "Now, it is your turn! Given the guidelines and examples above, please create a query that aligns with the following "
    "task type:\n"
    "{query_type}\n"
    "\n"
    ". Include specific text snippets when they are essential to analyze and validate your query effectively. Make sure "
    "that the query is one that a human might plausibly ask whose answer involves using all skills below:\n"
    "### Task Type: {query_str}\n"
    "### Skills: {skills_str}",
    "Thanks! It looks like the response may have been cut off. Please rewrite the entire response, making sure it fits "
    "within the length constraint. No need to include verbose or extraneous information. Thanks!",
    "Pretend you are the human asking the question, and make a list of weaknesses and strengths of the response. Currently "
    "the response looks a bit generic. Perhaps it could benefit from some concrete examples and details.",
    "Now, please refine your instruction and response (keep the strong parts and work on the weak parts).",
    "It looks like the improved response may have been cut off. Please rewrite the entire improved response, making sure "
    "it fits within the length constraint. No need to include verbose or extraneous information. Thanks again!",
)
FOLLOW_UPS = GENERATE_PROMPTS[1:]  # turns 1-4: rewrite, critique, refine, rewrite the refined response


def first_prompt(skills: list[str], query: dict) -> str:
    """Turn 0 for one example: the official prompt with its skills (", "-joined, in their drawn order) and query type
    ({"query_str", "query_type"}, from `parse_query_types`), as official `generate_data` formats it."""
    skills_str = ", ".join(skills)
    return GENERATE_PROMPTS[0].format(num_skills=len(skills_str.split(",")), skills_str=skills_str,
                                      query_str=query["query_str"], query_type=query["query_type"])


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
    if set(skills) <= set(STRING_SKILLS):
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
# Shirkers (official 2_generate_junk_data.py; prompts/generate_gpt-4-turbo-2024-04-09_junk.json and _brevity.json)

JUNK_PROMPT = ("Greetings! Consider the following instruction: \"{instruction}\"\n"
               "\n"
               "Now, please provide an example of an extremely unhelpful response to the instruction/question. The response can "
               "illustrate laziness and be very generic. The response can be vague and should be long (include many filler words).")
BREVITY_PROMPT = ("Greetings! Consider the following instruction: \"{instruction} Please limit your response to one paragraph.\"\n"
                  "\n"
                  "Please effectively respond to the instruction in approximately on paragraph.")
SHIRKER_PROMPTS = {"junk": JUNK_PROMPT, "brevity": BREVITY_PROMPT}


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
# The tiny world: string skills chained on a word, the gold composer and its verdict

STRING_SKILLS = tuple(name for name, s in SKILLS.items() if set(s.sample(random.Random(0), "train")) == {"word"})
DESCRIBED = {SKILLS[name].description: name for name in STRING_SKILLS}
# The tiny world's query types (what `query_types_task` extracts): how an instruction about a word is put.
WORLD_QUERY_TYPES = {"Instructional": "An order to transform a word: it says what to do and names the word.",
                     "Information-Seeking": "A question about a word: it asks what comes out."}
WORD_TRIES = 20  # words a scripted writer tries per order of its skills before it tries the next order


@functools.cache
def held_out_words() -> frozenset[str]:
    """The words of the tiny world's evaluation inputs (dev, test, shifts): the scripted writer never uses them."""
    return frozenset(key.removeprefix("word:") for key in eval_keys(make_splits()) if key.startswith("word:"))


def chain_answer(order: list[str], word: str) -> str:
    """The word after each skill of `order` in turn (the next skill acts on the last one's result)."""
    for name in order:
        word = SKILLS[name].answer({"word": word})
    return word


def needless(order: list[str], word: str) -> list[str]:
    """The skills of `order` whose removal leaves the answer for `word` unchanged (a palindrome needs no reversing;
    nothing in a count of letters needs capitals): an example needs its skills when this is empty."""
    answer = chain_answer(order, word)
    return [name for i, name in enumerate(order) if chain_answer([*order[:i], *order[i + 1:]], word) == answer]


def world_instruction(order: list[str], word: str, query: str = "Instructional") -> str:
    """The instruction for a chain of skills on a word: "Write a word backwards, then spell a word with dashes: kofa"
    (`sftkit.world.compose`'s words), or as a question for an Information-Seeking query."""
    steps = ", then ".join(SKILLS[name].description for name in order)
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


def worked_response(order: list[str], word: str, last: str | None = None) -> str:
    """The refined response: one line per step ("Step 1, write a word backwards: kofa gives afok.") and a final
    "Answer: ..." line; `last` replaces the last step's result (a wrong answer)."""
    lines, current = [], word
    for i, name in enumerate(order, 1):
        result = SKILLS[name].answer({"word": current}) if i < len(order) or last is None else last
        lines.append(f"Step {i}, {SKILLS[name].description}: {current} gives {result}.")
        current = result
    return "\n".join([*lines, f"Answer: {current}"])


def final_answer(response: str) -> str:
    """The answer a response gives: what follows its last "Answer:" line, else the whole response (stripped)."""
    answers = re.findall(r"^Answer:(.*)$", response, re.M)
    return (answers[-1] if answers else response).strip()


def gold_record(order: list[str], word: str, query: str = "Instructional", split: str = "skillmix-gold") -> dict:
    """The gold composer for a chain of skills on a word, a world-format record: the `world_instruction`, the
    `worked_response`, the final answer as "answer" (for two skills, `sftkit.world.compose`'s instruction and answer)."""
    answer = chain_answer(order, word)
    return {"id": f"{split}-{'+'.join(order)}-{word}", "skill": "+".join(order), "split": split, "answer": answer,
            "messages": [{"role": "user", "content": world_instruction(order, word, query)},
                         {"role": "assistant", "content": worked_response(order, word)}],
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


def plan_example(skills: tuple[str, ...], rng: random.Random) -> tuple[list[str], str] | None:
    """How the scripted writer uses `skills`: (order, word), the order as listed when some word needs every skill in
    it, else the first other order that has one; a word drawn from the tiny world's training distribution (no
    evaluation word), up to `WORD_TRIES` per order. None when no order and word need them all ({reverse, length}: a
    count of letters ignores reversing, and a one-digit count reads the same backwards)."""
    for order in [list(skills), *[list(p) for p in permutations(skills) if p != tuple(skills)]]:
        for _ in range(WORD_TRIES):
            word = SKILLS[STRING_SKILLS[0]].sample(rng, "train")["word"]
            if word not in held_out_words() and not needless(order, word):
                return order, word
    return None


def correct(record: dict, prediction: str) -> bool:
    """Exact match of a reply's `final_answer` against the record's gold "answer" (after `normalize`): a worked
    response ("Step 1, ... Answer: A-F-O-K") and a bare answer ("A-F-O-K") are read alike. `evaluate`'s `check`."""
    return normalize(final_answer(prediction)) == normalize(record["answer"])


def pair_of(record: dict) -> frozenset[str]:
    """The set of skills a SkillMix record was asked to combine (its meta["skills"], order ignored)."""
    return frozenset(record["meta"]["skills"])


def without_pairs(records: list[dict], pairs) -> list[dict]:
    """The records whose skill set is none of `pairs` (sets of skill names): held-out combinations stay unseen."""
    held = {frozenset(p) for p in pairs}
    return [r for r in records if pair_of(r) not in held]


@functools.cache
def test_words() -> tuple[str, ...]:
    """The words of the tiny world's test split (string skills), in order: no training example of the world, and
    no word the scripted writer uses (`held_out_words`), is one of them."""
    return tuple(dict.fromkeys(r["meta"]["word"] for r in make_splits()["test"] if r["skill"] in STRING_SKILLS))


def mixed_test(pairs, per_order: int, split: str) -> list[dict]:
    """Gold records (`gold_record`) for each order of each pair of skills in `pairs`: the first `per_order` test
    words for which the chain needs both skills (`needless` is empty), query types alternating."""
    out = []
    for pair in pairs:
        for order in permutations(sorted(pair)):
            words = [w for w in test_words() if not needless(list(order), w)][:per_order]
            out += [gold_record(list(order), w, list(WORLD_QUERY_TYPES)[i % 2], split) for i, w in enumerate(words)]
    return out


HELD_OUT = (frozenset({"reverse", "uppercase"}),)  # notebook 10's unseen pair: each skill is seen with spell


def pools(teacher: Teacher, size: int, held_out=HELD_OUT, seed: int = 0, **settings) -> dict[str, list[dict]]:
    """Notebook 10's training pools, `size` records each: "skillmix" (k=2, no example of a `held_out` pair) and
    "single" (k=1, the same pipeline with one skill: the control of the same size and format). Each run of
    `make_data` asks for enough examples that, after its skipped ones and the held-out pairs, `size` are left."""
    quiet = {"log": lambda message: None, "settings": settings or None}
    mixed = without_pairs(make_data(None, teacher, Config(num_data=size * 5 // 2), seed, **quiet), held_out)
    single = make_data(None, teacher, Config(k=1, num_data=size * 5 // 4), seed, **quiet)
    if min(len(mixed), len(single)) < size:
        raise SftkitError(f"the teacher's data fell short of {size}: {len(mixed)} mixed, {len(single)} single-skill")
    return {"skillmix": mixed[:size], "single": single[:size]}


def test_records(pairs_seen, held_out=HELD_OUT, per_order: int = 50) -> list[dict]:
    """Notebook 10's test: "unseen-pair" (each order of each `held_out` pair, `per_order` words each), "seen-pair"
    (each order of each of `pairs_seen`, per_order // 2 words) and "single-skill" (the world's test split of the
    string skills, in the world's own wordings; a split of its own, since it is not the whole world's "test").
    All words are test words (`test_words`)."""
    seen = [p for p in pairs_seen if frozenset(p) not in set(held_out)]
    return (mixed_test(held_out, per_order, "unseen-pair") + mixed_test(seen, per_order // 2, "seen-pair")
            + [{**r, "split": "single-skill"} for r in make_splits()["test"] if r["skill"] in STRING_SKILLS])


# ----------------------------------------------------------------------------------------------------
# The scripted teacher's tasks (the tiny world's stand-in for a strong LLM)


@functools.cache
def world_instructions() -> dict[str, dict]:
    """Every instruction of the tiny world's splits (after `normalize`) -> its record."""
    return {normalize(r["messages"][0]["content"]): r for split in make_splits().values() for r in split}


def default_seeds(per_skill: int = 8) -> list[str]:
    """Seed instructions for stage 1: the first `per_skill` training instructions of each string skill."""
    train = make_splits()["train"]
    return [r["messages"][0]["content"] for name in STRING_SKILLS for r in [r for r in train if r["skill"] == name][:per_skill]]


def seed_records(text: str, prompt: str) -> list[dict] | None:
    """The world records of the instructions an extraction `prompt` (SKILLS_PROMPT or QUERY_TYPES_PROMPT) lists in
    `text`, in order (instructions the world does not know are left out); None when `text` is not that prompt."""
    head, tail = prompt.split("{instructions}")
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    lines = re.findall(r"^\d+\. (.*)$", text[len(head):len(text) - len(tail)], re.M)
    return [world_instructions()[normalize(line)] for line in lines if normalize(line) in world_instructions()]


def query_of(record: dict) -> str:
    """The tiny world's query type of a world instruction: a question is Information-Seeking, an order Instructional."""
    return "Information-Seeking" if record["messages"][0]["content"].endswith("?") else "Instructional"


def query_section(k: int, name: str, example: str) -> str:
    return f"### {k}. **{name}**\n{WORLD_QUERY_TYPES[name]} For example:\n- \"{example}\""


def skills_task() -> Task:
    """The skills prompt played from the world's records: every skill its instructions ask for, in order of first
    appearance, one a line; the mistake leaves one out."""

    def answer(records: list[dict]) -> str:
        return "\n".join(dict.fromkeys(r["skill"] for r in records))

    def mistake(records: list[dict], rng: random.Random) -> str:
        names = list(dict.fromkeys(r["skill"] for r in records))
        dropped = rng.choice(names)
        return "\n".join(n for n in names if n != dropped) if len(names) > 1 else answer(records)

    return Task("skillmix_skills", lambda messages: seed_records(last_user_text(messages), SKILLS_PROMPT), answer, mistake)


def query_types_task() -> Task:
    """The query-types prompt played from the world's records: a queries.txt section for each query type of
    `WORLD_QUERY_TYPES` its instructions are, in order of first appearance, with the first as example; the mistake
    lists the first type only."""

    def answer(records: list[dict]) -> str:
        first = {query_of(r): r["messages"][0]["content"] for r in reversed(records)}
        names = list(dict.fromkeys(query_of(r) for r in records))
        return "\n\n".join(query_section(k, name, first[name]) for k, name in enumerate(names, 1))

    def mistake(records: list[dict], rng: random.Random) -> str:
        return answer(records[:1])

    return Task("skillmix_query_types", lambda messages: seed_records(last_user_text(messages), QUERY_TYPES_PROMPT),
                answer, mistake)


@dataclass(frozen=True)
class Turn:
    """What the scripted writer knows at one turn of a generation conversation: the skills and query type of its
    first prompt, the turn (0-4) and the (order, word) of the instruction it drafted earlier (None before a draft)."""

    skills: tuple[str, ...]
    query: str
    turn: int
    draft: tuple[list[str], str] | None


def read_turn(messages: list[dict]) -> Turn | None:
    """The `Turn` of a generation conversation whose last message is one of the official prompts, or None."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    head = GENERATE_PROMPTS[0].split("{num_skills}")[0]
    if messages[-1]["role"] != "user" or not users[0].startswith(head) or len(users) > len(GENERATE_PROMPTS):
        return None
    found = re.search(r"### Task Type: (.*)\n### Skills: (.*)\Z", users[0])
    if found is None or users[1:] != list(FOLLOW_UPS[:len(users) - 1]):
        return None
    skills = tuple(s.strip() for s in found.group(2).split(","))
    if not set(skills) <= set(STRING_SKILLS):
        return None
    drafts = [instruction_in(m["content"]) for m in messages if m["role"] == "assistant"]
    parsed = [parse_instruction(d) for d in drafts if d]
    return Turn(skills, found.group(1), len(users) - 1, next((p for p in reversed(parsed) if p), None))


DECLINE = ("I cannot write this one: whatever the order, one of the skills {skills} would leave the answer unchanged, so "
           "no single task about a word needs them all.")
CRITIQUE = ("Strengths: the task needs every skill ({skills}) and the answer {answer} is right.\nWeaknesses: the "
            "response gives only the final answer; it could show what each step does to the word.")


def wrong_answer(order: list[str], word: str, rng: random.Random) -> str:
    """A realistic wrong answer to a chain: its last skill's mistake on the right intermediate result."""
    before, gold = chain_answer(order[:-1], word), chain_answer(order, word)
    options = [m for m in SKILLS[order[-1]].mistakes({"word": before}, gold, rng) if m != gold]
    return rng.choice(options or [gold + gold])


def writer_reply(turn: Turn, rng: random.Random, wrong: bool = False) -> str:
    """The scripted writer's reply at a turn: the draft (instruction and bare answer) at turns 0 and 1, the
    critique at 2, the refined instruction and `worked_response` at 3, the refined response alone at 4; with `wrong`,
    a `wrong_answer` in place of the right one (and a critique that finds no weakness)."""
    plan = turn.draft or plan_example(turn.skills, rng)
    if plan is None:
        return DECLINE.format(skills=", ".join(turn.skills))
    order, word = plan
    answer = wrong_answer(order, word, rng) if wrong else chain_answer(order, word)
    instruction = world_instruction(order, word, turn.query)
    response = worked_response(order, word, answer if wrong else None)
    return [f"### Task Type: {turn.query}\n### Skills: {', '.join(turn.skills)}\n### Instruction: {instruction}\n"
            f"### Response: {answer}",
            f"### Instruction: {instruction}\n### Response: {answer}",
            "Strengths: the response is complete.\nWeaknesses: none." if wrong else
            CRITIQUE.format(skills=", ".join(order), answer=answer),
            f"### Instruction: {instruction}\n### Response: {response}",
            response][turn.turn]


def generation_task() -> Task:
    """The generation conversation played in the tiny world (`writer_reply`): a sampled task (each seed writes another
    example); the mistake is a realistic wrong answer."""
    return Task("skillmix_generate", read_turn, writer_reply, lambda turn, rng: writer_reply(turn, rng, wrong=True),
                sampled=True)


def shirker_instruction(messages: list[dict], prompt: str) -> tuple[list[str], str] | None:
    """(order, word) of the tiny-world instruction a shirker `prompt` (JUNK_PROMPT or BREVITY_PROMPT) quotes, or None."""
    head, tail = prompt.split("{instruction}")
    text = last_user_text(messages)
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    return parse_instruction(text[len(head):len(text) - len(tail)])


def junk_task() -> Task:
    """The junk prompt played: a generic non-answer (`sftkit.world.lazy_answer`); the mistake answers anyway."""
    return Task("skillmix_junk", lambda messages: shirker_instruction(messages, JUNK_PROMPT),
                lambda plan, rng: lazy_answer({}, rng), lambda plan, rng: chain_answer(*plan), sampled=True)


def brevity_task() -> Task:
    """The brevity prompt played: the bare answer (right, in one short paragraph, without the steps); the mistake is a
    `wrong_answer`."""
    return Task("skillmix_brevity", lambda messages: shirker_instruction(messages, BREVITY_PROMPT),
                lambda plan: chain_answer(*plan), lambda plan, rng: wrong_answer(*plan, rng))


register_task("skillmix_skills", skills_task)
register_task("skillmix_query_types", query_types_task)
register_task("skillmix_generate", generation_task)
register_task("skillmix_junk", junk_task)
register_task("skillmix_brevity", brevity_task)


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

    from ..io import check_records, read_records

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
              device: str | None = None, settings: dict | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Instruct-SkillMix end to end: stage 1 (`extract` from the seed `instructions`; None: the tiny
    world's `default_seeds`), stage 2 (`generate`: config.num_data examples of config.k skills; the skipped ones are logged
    with their reasons) and, with config.shirker_fraction > 0, the shirkers (`shirk`) -> conversational SFT records.
    `settings` go with every prompt (default: temperature 1.0, the official API default; not "seed", which each step
    sets itself); `device` is unused (no model of its own: the data-side signature)."""
    config = config or Config()
    settings = {"temperature": 1.0} if settings is None else settings
    instructions = default_seeds() if instructions is None else instructions
    skills, query_types = extract(teacher, instructions, **settings)
    log(f"stage 1: {len(skills)} skills ({', '.join(skills)}) and {len(query_types)} query types "
        f"({', '.join(q['query_str'] for q in query_types)}) from {len(instructions)} seed instructions")
    records, skipped = generate(teacher, skills, query_types, config.k, config.num_data, seed, **settings)
    reasons = "; ".join(f"{n} x {why}" for why, n in Counter(s["reason"] for s in skipped).most_common())
    log(f"stage 2: {len(records)} examples of {config.k} skills" + (f", {len(skipped)} skipped ({reasons})" if skipped else ""))
    if config.shirker_fraction > 0:
        records = shirk(records, teacher, config.shirker_fraction, config.shirker_kind, seed, **settings)
        log(f"shirkers: {sum('shirker' in r['meta'] for r in records)} of {len(records)} responses are {config.shirker_kind}")
    return records


SPEC = MethodSpec("skillmix", "data", PAPER, Config, data="instructions", make_data=make_data,
                  add_generate_arguments=add_generate_arguments, data_from_args=data_from_args)
