"""AugCon itself: its paper and knobs, the Context-Split-Tree, the contrastive scorer and its filter, the bootstrapped
answers and the whole pipeline (`make_data`, `sftkit generate augcon`). The package docstring (`sftkit.methods.augcon`)
says what each step is and where it differs from the official code.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ...io import SftkitError
from ...model import load_model
from ...reward import RewardTrainer
from ...teachers import Teacher
from ...train import TrainConfig, TrainResult, train
from ...world import make_documents
from ...world.facts import answer_from, asked, fact_credit, question_quality, seed_examples
from ..base import MethodConfig, Paper, knob
from .prompts import CST_EXAMPLES, CST_INSTRUCTION, JUDGE_PROMPT, WEAK_PROMPTS, answer_prompt, cst_prompt

PAPER = Paper("Automatically Generating Numerous Context-Driven SFT Data for LLMs across Diverse Granularity (AugCon)",
              "2405.16579", "https://github.com/quanshr/AugCon", "09_augcon")

# Official settings (quanshr/AugCon config.py and step1/step2).
MIN_CHARS = 20  # config.min_length: a context of at most this many characters is not asked about
MIN_QUESTION_CHARS = 5  # step1_cst: a question shorter than this ends the branch
TRIES = 4  # step1_cst: asks again up to 4 times while the reply cannot be parsed
CHARS_PER_QUERY = 35  # config.character_per_piece: one query per 35 characters of context
OVERSHOOT = 1.15  # step1_gen_q.gen_q: generate 1.15 x the wanted queries, for the filter to drop
ROUGE_THRESHOLD = 0.7  # config.rouge_thres


@dataclass
class Config(MethodConfig):
    """AugCon's own knobs (`sftkit generate augcon`); the teacher's are its own (`--teacher`, `--error-rate`)."""

    VARIANT = ("rouge_threshold",)

    rouge_threshold: float = knob(ROUGE_THRESHOLD, "drop a question whose ROUGE-L F with a kept one exceeds this")
    scorer_steps: int = knob(200, "optimizer steps of the contrastive scorer (batches of 8 pairs)")
    scorer_lr: float = knob(3e-4, "learning rate of the contrastive scorer")


# ----------------------------------------------------------------------------------------------------
# The split reply's parser (the prompts: prompts.py)


def parse_split(reply: str) -> tuple[str, str, str] | None:
    """(question, context 1, context 2) from a reply to `cst_prompt`, or None when it has no "Context 1: ...
    Context 2: ..." in that order. As the official regex: the question is the last line before "Context 1:";
    unlike it, a sub-context may span lines (context 2 ends at a "---" line, where a model runs on into
    another example)."""
    match = re.search(r"(.*?)\s*Context 1:(.*?)\s*Context 2:(.*)", reply, re.S)
    if match is None:
        return None
    question = match.group(1).strip().split("\n")[-1].strip().removeprefix("Question:").strip()
    context2 = re.split(r"\n\s*---", match.group(3))[0]
    return question, match.group(2).strip(), context2.strip()


# ----------------------------------------------------------------------------------------------------
# The Context-Split-Tree


@dataclass(frozen=True)
class Node:
    """One (context, question) pair of a tree. depth: 0 for the root context, +1 per split (the granularity:
    deeper = finer); parent: the index of the parent node in the same list (None for a root); round: which
    re-run on the root made it (`repeat_until_enough`)."""

    context: str
    question: str
    depth: int
    parent: int | None
    round: int = 0


def ask_parsed(context: str, ask: Callable[[str], str], tries: int = TRIES) -> tuple[str, str, str] | None:
    """`parse_split` of the first of up to `tries` replies of `ask(context)` that parses; None if none does."""
    for _ in range(tries):
        parsed = parse_split(ask(context))
        if parsed is not None:
            return parsed
    return None


def context_split_tree(context: str, ask: Callable[[str], str], min_chars: int = MIN_CHARS,
                       min_question_chars: int = MIN_QUESTION_CHARS, tries: int = TRIES) -> list[Node]:
    """The Context-Split-Tree of `context` (official `step1_cst.context_split_tree`), depth first, a node
    before its subtrees. `ask(context) -> reply` is one teacher call on the split prompt (`teacher_ask`).

    A branch ends without a node when the context has at most `min_chars` characters, when `tries` replies
    in a row cannot be parsed, or when the question has fewer than `min_question_chars` characters; it ends
    after its node (no children) when either half is not shorter than the context."""
    nodes: list[Node] = []

    def grow(text: str, depth: int, parent: int | None) -> None:
        if len(text) <= min_chars:
            return
        parsed = ask_parsed(text, ask, tries)
        if parsed is None or len(parsed[0]) < min_question_chars:
            return
        question, first, second = parsed
        nodes.append(Node(text, question, depth, parent))
        if len(first) >= len(text) or len(second) >= len(text):
            return
        here = len(nodes) - 1
        grow(first, depth + 1, here)
        grow(second, depth + 1, here)

    grow(context, 0, None)
    return nodes


def query_budget(context: str) -> int:
    """How many queries a context is worth: len(context) // 35 (official `utils.gen_count`)."""
    return len(context) // CHARS_PER_QUERY


def repeat_until_enough(context: str, ask: Callable[[str], str], wanted: int | None = None, overshoot: float = OVERSHOOT,
                        max_rounds: int = 50, **tree_settings) -> list[Node]:
    """Context-Split-Trees of `context`, one round after another, until there are at least overshoot x wanted
    nodes (default wanted: `query_budget(context)`; official `step1_gen_q.gen_q`) or `max_rounds` rounds
    ran. The nodes of all rounds in one list (parents index into it; `Node.round` tells the rounds apart);
    `tree_settings` go to `context_split_tree`."""
    wanted = query_budget(context) if wanted is None else wanted
    nodes: list[Node] = []
    for r in range(max_rounds):
        if len(nodes) >= wanted * overshoot:
            break
        offset = len(nodes)
        nodes += [Node(n.context, n.question, n.depth, None if n.parent is None else n.parent + offset, r)
                  for n in context_split_tree(context, ask, **tree_settings)]
    return nodes


def teacher_ask(teacher: Teacher, instruction: str = CST_INSTRUCTION, examples: tuple = CST_EXAMPLES,
                **settings) -> Callable[[str], str]:
    """`ask(context) -> reply` for `context_split_tree`: the teacher's reply to `cst_prompt(context, ...)`.
    The k-th ask (from 0) of the same context passes seed=k, so a retry or a new round draws a new reply instead of
    reading the first one back from the teacher's cache (a `seed` setting is the first ask's seed)."""
    asked: dict[str, int] = {}
    first_seed = settings.pop("seed", 0)

    def ask(context: str) -> str:
        k = asked[context] = asked.get(context, -1) + 1
        return teacher.ask(cst_prompt(context, instruction, examples), **settings, seed=first_seed + k)

    return ask


# ----------------------------------------------------------------------------------------------------
# Filtering and the scorer's loss


def filter_report(queries: list[str], scores: list[float], threshold: float = ROUGE_THRESHOLD,
                  keep: int | None = None) -> list[dict]:
    """What the filter does with each query, in order of decreasing score (ties: input order) (official
    `step2_scorer.filter_queries`): {"index", "score", "verdict", "like", "rouge"}, verdict "kept"; or
    "near-duplicate" when its ROUGE-L F with the kept query `like` is `rouge` > `threshold`; or "over budget"
    once `keep` are kept (None: no limit). ROUGE-L from `rouge-score` (lower-cased words)."""
    from rouge_score import rouge_scorer

    if len(queries) != len(scores):
        raise ValueError(f"rouge_l_filter: {len(queries)} queries but {len(scores)} scores")
    rouge = rouge_scorer.RougeScorer(["rougeL"])
    report, kept = [], []
    for i in sorted(range(len(queries)), key=lambda i: -scores[i]):
        row = {"index": i, "score": scores[i], "verdict": "kept", "like": None, "rouge": None}
        if keep is not None and len(kept) >= keep:
            row["verdict"] = "over budget"
        else:
            similar = [(rouge.score(queries[j], queries[i])["rougeL"].fmeasure, j) for j in kept]
            closest = max(similar, default=(0.0, None))
            if closest[0] > threshold:
                row.update(verdict="near-duplicate", rouge=closest[0], like=closest[1])
            else:
                kept.append(i)
        report.append(row)
    return report


def rouge_l_filter(queries: list[str], scores: list[float], threshold: float = ROUGE_THRESHOLD,
                   keep: int | None = None) -> list[int]:
    """Indices of the queries kept, best score first (official `step2_scorer.filter_queries`): in order of
    decreasing score, drop a query whose ROUGE-L F with an already kept one exceeds `threshold`; stop at
    `keep` kept (official: `query_budget(context)`; None: no limit). See `filter_report` for the reasons."""
    return [r["index"] for r in filter_report(queries, scores, threshold, keep) if r["verdict"] == "kept"]


def scorer_loss(s_pos, s_neg):
    """The contrastive scorer's loss on raw scores (logits of the linear head), s_pos [P], s_neg [N] -> []:
    -mean(sigmoid(s_pos)) + mean(sigmoid(s_neg)) (official `Scorer.forward`, whose head ends in a sigmoid).
    Its minimum, -1, is every positive scored far above every negative."""
    return -s_pos.sigmoid().mean() + s_neg.sigmoid().mean()


# ----------------------------------------------------------------------------------------------------
# The contrastive scorer (official step1_gen_q.mk_scorer_pairs and step2_scorer)


def scorer_pairs(pool: list[Node], teacher: Teacher, count: int = 500, seed: int = 0,
                 prompts: dict = WEAK_PROMPTS, tries: int = TRIES, **settings) -> list[dict]:
    """The scorer's training pairs (official `mk_scorer_pairs`): the pool's nodes shuffled, the next
    min(count, len(pool) // 3) of them for each weakened prompt in turn; each node's question is the positive
    and the weakened prompt's question about the same context the negative, asked up to `tries` times until a
    reply parses (as the official code does through `context_split_tree`; no pair when none does). A negative
    equal to its positive gives no pair either (the official code keeps those: its two terms of the loss
    cancel, so they only dilute the batch). As preference records for `sftkit.train` ({prompt, chosen,
    rejected} + "weak", "context"): the prompt is the context, the chosen / rejected reply the positive /
    negative question."""
    rng = random.Random(seed)
    nodes = rng.sample(pool, len(pool))
    per_prompt = min(count, len(pool) // len(prompts))
    pairs = []
    for k, (name, prompt) in enumerate(prompts.items()):
        pending = nodes[k * per_prompt:(k + 1) * per_prompt]
        for attempt in range(tries):
            replies = teacher.complete([cst_prompt(n.context, **prompt) for n in pending], **settings, seed=attempt)
            failed = []
            for node, reply in zip(pending, replies):
                parsed = parse_split(reply)
                if parsed is None:
                    failed.append(node)
                elif parsed[0] != node.question:
                    pairs.append(scorer_record(node.context, node.question, parsed[0]) | {"weak": name})
            pending = failed
    return pairs


def split_pairs(pairs: list[dict], held_out: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) scorer pairs, duplicates removed and split by context, so that no held-out pair's
    context (and no copy of it) is trained on: the tiny world's filler sentences recur across documents."""
    unique = list({(p["context"], p["chosen"][0]["content"], p["rejected"][0]["content"]): p for p in pairs}.values())
    contexts = sorted({p["context"] for p in unique})
    random.Random(seed).shuffle(contexts)
    held = set(contexts[:round(held_out * len(contexts))])
    return [p for p in unique if p["context"] not in held], [p for p in unique if p["context"] in held]


def scorer_record(context: str, positive: str, negative: str) -> dict:
    """One scorer pair as a preference record: the official input "Context: ...\\n\\nQuestion: ..." as a chat
    (the context a user turn, the question the reply), so the scorer reads it through the chat template."""
    return {"prompt": [{"role": "user", "content": f"Context: {context}"}],
            "chosen": [{"role": "assistant", "content": f"Question: {positive}"}],
            "rejected": [{"role": "assistant", "content": f"Question: {negative}"}], "context": context}


class ScorerTrainer(RewardTrainer):
    """The scorer's training: an LM with a scalar head on the last token (`sftkit.reward.load_reward_model`),
    positives first in each batch, loss = `scorer_loss`; logs how often a positive outscores its negative."""

    def loss(self, model, inputs: dict, outputs) -> torch.Tensor:
        positive, negative = outputs.logits.squeeze(-1).float().chunk(2)
        self.record(reward_accuracy=(positive > negative).float().mean(), margin=(positive - negative).mean())
        return scorer_loss(positive, negative)


SCORER_BUDGET = TrainConfig(steps=200, batch_size=8, lr=3e-4, warmup_steps=20, weight_decay=0.01, max_length=512,
                            scheduler="linear")  # official: 4 epochs of batch 4, warm-up 50, weight decay 0.01


def train_scorer(pairs: list[dict], model_name: str = "tiny", config: TrainConfig = SCORER_BUDGET,
                 device: str | None = None, seed: int = 0) -> TrainResult:
    """Train the contrastive scorer from `model_name` on `scorer_pairs`: -> `TrainResult` (model, history)."""
    from ...data import tokenize_pairs
    from ...reward import load_reward_model

    model, tokenizer = load_reward_model(model_name, device=device, seed=seed)
    config = replace(config, seed=seed)
    return train(model, tokenizer, pairs, config, trainer_cls=ScorerTrainer,
                 dataset=tokenize_pairs(tokenizer, pairs, config.max_length))


def score_questions(model, tokenizer, contexts: list[str], questions: list[str], batch_size: int = 64) -> list[float]:
    """The scorer's score (the head's logit; the official sigmoid of it ranks the same) of each
    (context, question): -> one float each."""
    from ...reward import reward_scores

    conversations = [scorer_record(c, q, q)["prompt"] + [{"role": "assistant", "content": f"Question: {q}"}]
                     for c, q in zip(contexts, questions)]
    return reward_scores(model, tokenizer, conversations, batch_size).tolist()


def keep_questions(pool: dict[str, list[Node]], scores: dict[str, list[float]], documents: list[dict],
                   threshold: float = ROUGE_THRESHOLD) -> dict[str, list[Node]]:
    """Per document: its pool ranked by score, near-duplicates dropped, `query_budget(document)` kept
    (`rouge_l_filter`); the kept nodes best first."""
    texts = {d["id"]: d["text"] for d in documents}
    return {doc: [nodes[i] for i in rouge_l_filter([n.question for n in nodes], scores[doc], threshold,
                                                    keep=query_budget(texts[doc]))]
            for doc, nodes in pool.items()}


# ----------------------------------------------------------------------------------------------------
# Answers: self-alignment with principles, bootstrapped few-shot (official step3_get_a.py; the prompts: prompts.py)


def clean_answer(reply: str) -> str:
    """The answer in a reply: up to a "---" line (the official LM stops at "---"), stripped."""
    return re.split(r"\n\s*---", reply)[0].strip()


def judged_yes(reply: str) -> bool | None:
    """The judge's verdict: True for yes, False for no (official: "yes" / "no" anywhere in the reply, yes
    first), None when it says neither (the official code stops with an assertion; here it counts as no)."""
    text = reply.lower()
    return True if "yes" in text else False if "no" in text else None


def bootstrap_demos(teacher: Teacher, examples: list[dict], max_bootstrapped: int = 3, max_labeled: int = 3,
                    **settings) -> tuple[list[dict], list[dict]]:
    """Self-improvement by bootstrapped few-shot (DSPy `BootstrapFewShot` as the official code configures it):
    the teacher answers each seed example (context, question, answer) with no demos, judges its own answer
    against the reference (`JUDGE_PROMPT`), and up to `max_bootstrapped` answers judged right become demos
    (with the teacher's own answer); examples not bootstrapped fill the demos up to `max_labeled` with their
    reference answers. -> (demos, log: one {question, answer, verdict} per example tried)."""
    answers = [clean_answer(a) for a in teacher.complete([answer_prompt(e["context"], e["question"]) for e in examples],
                                                           **settings)]
    verdicts = [judged_yes(v) for v in teacher.complete(
        [JUDGE_PROMPT.format(context=e["context"], question=e["question"], reference=e["answer"], predicted=a)
         for e, a in zip(examples, answers)], **settings)]
    log = [{"question": e["question"], "answer": a, "verdict": v} for e, a, v in zip(examples, answers, verdicts)]
    demos = [dict(e, answer=a) for e, a, v in zip(examples, answers, verdicts) if v][:max_bootstrapped]
    labeled = [e for e in examples if e["question"] not in {d["question"] for d in demos}]
    return demos + labeled[:max(0, max_labeled - len(demos))], log


def answer_questions(teacher: Teacher, nodes: list[Node], demos: list[dict] = (), **settings) -> list[str]:
    """The teacher's answer to each node's question from its context, with the bootstrapped `demos`."""
    replies = teacher.complete([answer_prompt(n.context, n.question, demos) for n in nodes], **settings)
    return [clean_answer(r) for r in replies]


# ----------------------------------------------------------------------------------------------------
# The whole pipeline, the baseline and the SFT records (the closed-book test: sftkit.world.facts)


def question_pools(documents: list[dict], teacher: Teacher, **settings) -> dict[str, list[Node]]:
    """Step 1 for every document: `repeat_until_enough` on its text with the full split prompt."""
    return {d["id"]: repeat_until_enough(d["text"], teacher_ask(teacher, **settings)) for d in documents}


def sft_records(items: list[tuple[str, Node]], answers: list[str], source: str, gold: bool = True) -> list[dict]:
    """Conversational SFT records from (document id, node) items and their answers: question -> answer,
    without the context, as the paper fine-tunes. "meta" holds the document, the depth and the context, and
    with `gold` (the tiny world's documents) what the notebook measures: the question's gold quality
    (`question_quality`) and whether the answer is the right one from the context."""
    records = []
    for k, ((doc, node), answer) in enumerate(zip(items, answers)):
        meta = {"document": doc, "depth": node.depth, "context": node.context}
        if gold:
            meta |= {"quality": question_quality(node.question, node.context),
                     "answer_right": answer == answer_from(node.context, node.question)}
        records.append({"id": f"{source}-{k:04d}", "skill": "facts", "split": source, "meta": meta,
                        "messages": [{"role": "user", "content": node.question},
                                     {"role": "assistant", "content": answer}]})
    return records


def default_documents() -> list[dict]:
    """The tiny world's documents about Veloria (`sftkit.world.make_documents`), a fresh copy."""
    return make_documents()


def one_question_per_document(pools: dict[str, list[Node]], n: int) -> list[tuple[str, Node]]:
    """The baseline's questions: each document's root question (one question about the whole document, the
    first node of its pool), the documents taken in turn until there are `n` (document id, node) items, so
    the baseline has AugCon's size and every document as often as the others (within one). `answer_items`
    answers each distinct question once, as one call per document would."""
    roots = [(doc, nodes[0]) for doc, nodes in pools.items() if nodes and nodes[0].depth == 0]
    if not roots:
        raise SftkitError("one_question_per_document: no document has a root question")
    return [roots[k % len(roots)] for k in range(n)]


def answer_items(teacher: Teacher, items: list[tuple[str, Node]], demos: list[dict] = (), fresh: bool = False,
                 **settings) -> list[str]:
    """`answer_questions` for (document id, node) items, one teacher call per distinct (context, question). A
    repeated question gets the same answer, or, with `fresh`, its k-th repeat passes seed=k and draws a new
    one (as a sampling teacher would)."""
    seen: dict[tuple[str, str], int] = {}
    keys = []
    for _, node in items:
        key = (node.context, node.question)
        seen[key] = seen.get(key, -1) + 1
        keys.append((node, seen[key] if fresh else 0))
    distinct = list(dict.fromkeys((n.context, n.question, k) for n, k in keys))
    answer = {}
    for k in sorted({k for *_, k in distinct}):
        todo = [Node(c, q, 0, None) for c, q, kk in distinct if kk == k]
        for node, reply in zip(todo, answer_questions(teacher, todo, demos, **{**settings, "seed": k})):
            answer[node.context, node.question, k] = reply
    return [answer[n.context, n.question, k] for n, k in keys]


MAX_CHUNK = 500  # config.max_length: the official `load_data` cuts documents into pieces of at most 500 characters


def chunks(text: str, max_chars: int = MAX_CHUNK) -> list[str]:
    """`text` cut at sentence ends into pieces of at most `max_chars` characters (a longer sentence is a piece
    of its own), as the official `load_data` does, so that a split reply fits a teacher's output budget."""
    pieces, current = [], ""
    for sentence in re.split(r"(?<=[.!?。？！])\s+", text.strip()):
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    return pieces + [current] if current else pieces


def read_documents(path: str, max_chars: int = MAX_CHUNK) -> list[dict]:
    """Documents to generate from: a JSONL file of {"id", "text"} (or the official "context") records, each cut
    into `chunks` of at most `max_chars` characters ("id" gets "#k" for the k-th piece of a longer text); an
    `SftkitError` names the file and line of a bad record. Any `sftkit.io.read_records` format (chosen by the
    extension: .jsonl, .json, .csv, .parquet, a saved dataset), so a CSV is read as CSV, not as JSONL."""
    from ...io import check_records, read_records

    def text_of(record: dict) -> str:
        return record.get("text", record.get("context")) if isinstance(record, dict) else None

    def validate(record: dict) -> None:
        if not isinstance(text_of(record), str) or not text_of(record).strip():
            raise ValueError("expected a record with a non-empty string 'text' (or 'context')")

    documents = []
    located = read_records(path)
    check_records(located, validate)
    for k, (_, record) in enumerate(located):
        name = str(record.get("id", f"doc-{k:05d}"))
        pieces = chunks(text_of(record), max_chars)
        documents += [{"id": name if len(pieces) == 1 else f"{name}#{j}", "text": piece} for j, piece in enumerate(pieces)]
    if not documents:
        raise SftkitError(f"{path}: no documents")
    return documents


def read_examples(path: str) -> list[dict]:
    """Seed examples for `bootstrap_demos` (official qa_examples_en.jsonl): {context, question, answer} records in
    any `sftkit.io.read_records` format (JSONL, JSON, CSV, Parquet)."""
    from ...io import check_records, read_records

    def validate(record: dict) -> None:
        missing = [k for k in ("context", "question", "answer") if not isinstance(record.get(k), str)]
        if missing:
            raise ValueError(f"field {missing[0]!r} is missing or not a string")

    located = read_records(path)
    check_records(located, validate)
    return [record for _, record in located]


def add_generate_arguments(parser) -> None:
    """`sftkit generate augcon`'s own inputs (the CLI adds the teacher's and the Config's)."""
    parser.add_argument("--documents", default=None, help="JSONL of {id, text} documents (default: the tiny world's)")
    parser.add_argument("--scorer-model", default="tiny", help="the model the scorer starts from ('tiny' knows only "
                        "the tiny world's characters: for text of your own, a real model)")
    parser.add_argument("--examples", default=None, help="JSONL of {context, question, answer} seed examples for "
                        "the answer step's demos (default: the tiny world's)")


SCORER_SECONDS_PER_STEP = 0.30  # the tiny scorer's median step (batch 8 pairs) on 2 CPU cores at load 1.8, 2026-12-07
SCORER_MEASURED_CORES = 2


def scorer_line(steps: int, scorer_model: str, device: str, cores: int, load: float | None) -> str:
    """The line `sftkit generate augcon` prints before any work: the scorer it will train and, for the tiny scorer on
    the CPU, about how long (the measured step scaled to this machine's cores and, when busier, its load)."""
    line = f"training the scorer: {steps} steps"
    if scorer_model == "tiny" and device == "cpu":
        busy = max(1.0, (load or 0.0) / cores)
        minutes = steps * SCORER_SECONDS_PER_STEP * max(1.0, SCORER_MEASURED_CORES / cores) * busy / 60
        about = "under a minute" if minutes < 1 else f"about {minutes:.0f} min"
        line += f", {about} on this machine ({cores} core{'s' * (cores > 1)}" + (
            f", load {load:.1f})" if load is not None else ")")
    else:
        line += f" of a {scorer_model} scorer on {device} (its time was not measured here)"
    return line + "; --scorer-steps to change"


def data_from_args(args, teacher: Teacher, config: Config) -> list[dict]:
    """`make_data` with `sftkit generate augcon`'s arguments; first, one line on the scorer it trains."""
    import os

    from ...model import pick_device

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        load = None
    print(scorer_line(config.scorer_steps, args.scorer_model, pick_device(args.device), cores, load), flush=True)
    documents = read_documents(args.documents) if args.documents else default_documents()
    examples = read_examples(args.examples) if args.examples else None
    return make_data(documents, teacher, config, scorer_model=args.scorer_model, examples=examples, seed=args.seed,
                     device=args.device)


def make_data(documents: list[dict], teacher: Teacher, config: Config | None = None, scorer_model: str = "tiny",
              examples: list[dict] | None = None, seed: int = 0, device: str | None = None,
              question_settings: dict | None = None, answer_settings: dict | None = None,
              log: Callable[[str], None] = print) -> list[dict]:
    """AugCon end to end (official augcon.sh: step 1, step 2, step 3): question pools by Context-Split-Tree,
    the scorer's pairs and training, scoring, the ROUGE-L filter, bootstrapped demos and the answers ->
    conversational SFT records (question -> answer). `examples` ({context, question, answer} records) seed the
    demos (default: the tiny world's `seed_examples`). `question_settings` go with the split prompts (default:
    the official temperature 0.85), `answer_settings` with the answer and judge prompts (default: greedy, as
    DSPy's default). With the tiny world's documents (they carry "facts"),
    each record's meta also holds the gold quality of its question and whether its answer is right."""
    asking = {"temperature": 0.85} if question_settings is None else question_settings
    answering = {"temperature": 0.0} if answer_settings is None else answer_settings
    pools = question_pools(documents, teacher, **asking)
    pool = [n for nodes in pools.values() for n in nodes]
    log(f"step 1: {len(pool)} questions from {len(documents)} documents")
    pairs = scorer_pairs(pool, teacher, seed=seed, **asking)
    if not pairs:
        raise SftkitError("no scorer pair: the teacher's replies to the weakened prompts did not parse")
    config = config or Config()
    budget = replace(SCORER_BUDGET, steps=config.scorer_steps, lr=config.scorer_lr)
    result = train_scorer(pairs, scorer_model, budget, device=device, seed=seed)
    tokenizer = load_model(scorer_model, tokenizer_only=True)
    scores = score_questions(result.model, tokenizer, [n.context for n in pool], [n.question for n in pool])
    by_doc, start = {}, 0
    for doc, nodes in pools.items():
        by_doc[doc], start = scores[start:start + len(nodes)], start + len(nodes)
    kept = keep_questions(pools, by_doc, documents, config.rouge_threshold)
    items = [(doc, n) for doc, nodes in kept.items() for n in nodes]
    log(f"step 2: scorer trained on {len(pairs)} pairs; {len(items)} questions kept")
    demos, _ = bootstrap_demos(teacher, examples or seed_examples(), **answering)
    answers = answer_items(teacher, items, demos, **answering)
    log(f"step 3: {len(answers)} answers ({len(demos)} demos)")
    return sft_records(items, answers, "augcon", gold=all("facts" in d for d in documents))


# ----------------------------------------------------------------------------------------------------
# Several independent data draws (notebook 09): each its own teacher seed, scorer seed and random ranking


ARMS = ("AugCon", "one question per document", "AugCon without the scorer")


def question_kind(question: str) -> str:
    """What a question asks for: "one fact", "several facts" (`asked` parses it) or "no fact" (a filler
    sentence's question, or a generic one)."""
    pairs = asked(question)
    return "no fact" if pairs is None else "one fact" if len(pairs) == 1 else "several facts"


def split_by_document(flat: list[float], pools: dict[str, list[Node]]) -> dict[str, list[float]]:
    """A flat list of per-node values (pools in order, documents then nodes) -> {document: its nodes' values}."""
    out, start = {}, 0
    for doc, nodes in pools.items():
        out[doc], start = list(flat[start:start + len(nodes)]), start + len(nodes)
    return out


def score_pools(model, tokenizer, pools: dict[str, list[Node]]) -> dict[str, list[float]]:
    """`score_questions` of every node of `pools`, each distinct (context, question) scored once (the trees of a
    document's rounds repeat many): -> {document: one score per node}."""
    nodes = [n for ns in pools.values() for n in ns]
    distinct = list(dict.fromkeys((n.context, n.question) for n in nodes))
    scored = dict(zip(distinct, score_questions(model, tokenizer, [c for c, _ in distinct], [q for _, q in distinct])))
    return split_by_document([scored[n.context, n.question] for n in nodes], pools)


def drop_counts(pools: dict[str, list[Node]], reports: dict[str, list[dict]]) -> dict[tuple[str, str], int]:
    """What the filter did, by `question_kind`: {(kind, verdict): count}, verdict "kept", "over budget",
    "duplicate" (a near-duplicate of a kept question that asks for every fact it asks for, or of the same
    string: nothing lost) or "other facts" (a near-duplicate of a kept question that lacks some fact it asks
    for: coverage the filter cost)."""
    counts: dict[tuple[str, str], int] = {}
    for doc, report in reports.items():
        for row in report:
            question = pools[doc][row["index"]].question
            verdict = row["verdict"]
            if verdict == "near-duplicate":
                like = pools[doc][row["like"]].question
                same = question == like or (asked(question) is not None and set(asked(question)) <= set(asked(like) or ()))
                verdict = "duplicate" if same else "other facts"
            key = (question_kind(question), verdict)
            counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass
class Draw:
    """One independent draw of the three data sets (`make_draw`): the pool, the scorer and what each arm kept."""

    seed: int
    pools: dict[str, list[Node]]
    train_pairs: list[dict]
    held_pairs: list[dict]
    scorer: TrainResult
    held_accuracy: float  # held-out scorer pairs (other contexts) ranked positive first
    scores: dict[str, list[float]]
    random_scores: dict[str, list[float]]
    kept: dict[str, list[Node]]
    kept_random: dict[str, list[Node]]
    data: dict[str, list[dict]]  # ARMS label -> SFT records


def make_draw(documents: list[dict], question_teacher: Teacher, answer_teacher: Teacher, demos: list[dict],
              seed: int, scorer_config: TrainConfig = SCORER_BUDGET, model_name: str = "tiny",
              device: str | None = None, threshold: float = ROUGE_THRESHOLD, question_settings: dict | None = None,
              held_out: float = 0.2) -> Draw:
    """One data draw for the three `ARMS`, everything random in it seeded by `seed` (the teachers carry their
    own seed): the question pools (step 1), the scorer's pairs, its held-out split and its training (step 2),
    the pool ranked by the scorer and, for the control, at random (`random.Random(seed)`), both through the same
    ROUGE-L filter and budget; the baseline (each document's root question, round robin, at AugCon's size);
    every question answered by `answer_teacher` with `demos` (step 3)."""
    asking = {"temperature": 0.85} if question_settings is None else question_settings
    pools = question_pools(documents, question_teacher, **asking)
    pairs = scorer_pairs([n for ns in pools.values() for n in ns], question_teacher, seed=seed, **asking)
    train_pairs, held = split_pairs(pairs, held_out=held_out, seed=seed)
    scorer = train_scorer(train_pairs, model_name, scorer_config, device=device, seed=seed)
    tokenizer = load_model(model_name, tokenizer_only=True)
    contexts = [p["context"] for p in held]
    pos, neg = (score_questions(scorer.model, tokenizer, contexts,
                                [p[side][0]["content"].removeprefix("Question: ") for p in held])
                for side in ("chosen", "rejected"))
    held_accuracy = sum(a > b for a, b in zip(pos, neg)) / max(1, len(held))
    scores = score_pools(scorer.model, tokenizer, pools)
    rng = random.Random(seed)
    random_scores = {d: [rng.random() for _ in nodes] for d, nodes in pools.items()}
    kept = keep_questions(pools, scores, documents, threshold)
    kept_random = keep_questions(pools, random_scores, documents, threshold)
    items = {"AugCon": [(d, n) for d, ns in kept.items() for n in ns],
             "AugCon without the scorer": [(d, n) for d, ns in kept_random.items() for n in ns]}
    items["one question per document"] = one_question_per_document(pools, len(items["AugCon"]))
    data = {label: sft_records(items[label], answer_items(answer_teacher, items[label], demos), f"{label}-{seed}")
            for label in ARMS}
    return Draw(seed, pools, train_pairs, held, scorer, held_accuracy, scores, random_scores, kept, kept_random, data)


def credit_rows(predictions: list[dict]) -> list[dict]:
    """Evaluation rows (`sftkit.evaluate.evaluate`) with "correct" replaced by `fact_credit`: the share of the
    facts its question asks for that the prediction states correctly (checked against the world), and the exact
    match kept as "exact"."""
    return [{**p, "exact": p["correct"], "correct": fact_credit(asked(p["prompt"]), p["prediction"] or "")}
            for p in predictions]


def within_document_rank(scores: dict[str, list[float]]) -> dict[str, list[float]]:
    """Each score's rank among its document's pool as a fraction in [0, 1] (1: the document's best): what the
    filter acts on, comparable across scorers whose raw scales differ."""
    out = {}
    for doc, values in scores.items():
        order = sorted(range(len(values)), key=lambda i: values[i])
        rank = [0.0] * len(values)
        for r, i in enumerate(order):
            rank[i] = r / max(1, len(values) - 1)
        out[doc] = rank
    return out


def context_probe(model, tokenizer, pools: dict[str, list[Node]], seed: int = 0, n: int = 120) -> tuple[list[float], list[float]]:
    """Does the scorer read the context? For up to `n` one-fact questions that their context answers, the score
    with that context and with a context from another document that does not state the fact (so the same question
    becomes unanswerable): -> (scores with the own context, scores with the other)."""
    nodes = [nd for ns in pools.values() for nd in ns]
    answerable = [nd for nd in nodes if question_quality(nd.question, nd.context) == "complete"
                  and question_kind(nd.question) == "one fact"]
    rng = random.Random(seed)
    picked = rng.sample(answerable, min(n, len(answerable)))
    others = []
    for nd in picked:
        town = asked(nd.question)[0][0]
        others.append(rng.choice([o.context for o in nodes if town not in o.context and len(o.context) < 2 * len(nd.context) + 80]))
    own = score_questions(model, tokenizer, [nd.context for nd in picked], [nd.question for nd in picked])
    other = score_questions(model, tokenizer, others, [nd.question for nd in picked])
    return own, other
