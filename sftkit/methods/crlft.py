"""OpenChat's C-RLFT (Wang et al., "OpenChat: Advancing Open-source Language Models with Mixed-Quality Data",
arXiv 2309.11235), following the official code (imoneoi/openchat: `ochat/config/conversation_template.py`
for the class-conditioned prompt and the per-token weights, `ochat/models/unpadded_llama.py`
`lm_head_with_loss` and `ochat/training_deepspeed/train.py` for the loss and its normalization). A
loss-side method over conversational records that name their `source`. Notebook: 06_crlft.

Training data of mixed quality from known sources and no preference labels: a little expert data and much
sub-optimal data. Each source is a class with a coarse reward (1.0 expert, 0.1 sub-optimal):

1. Class-conditioned policy: the prompt carries the class. OpenChat writes it into the role prefixes
   ("GPT4 User: ... GPT4 Assistant:" vs "GPT3 User: ... GPT3 Assistant:"); here a system turn naming the
   source (`CONDITIONS`: "expert" / "suboptimal") carries it, which every chat template with a system
   role can render. At inference the expert condition is used (`inference_tokenizer`).
2. Reward-weighted NLL over assistant tokens: each answer token is weighted by its source's reward, and
   the sum is normalized by the total weight of the batch (`weighted_nll`, "token", the official default);
   the official `--per-sequence-loss` option divides each message's weight by its length first
   ("sequence").

With equal rewards and no condition this is exactly plain SFT (token mean). Shapes: B = batch, T =
sequence, V = vocabulary.

Records carry "source" ("expert" / "suboptimal", checked by `sftkit.data`); `tokenize` turns them into
examples with and without the condition, and `CRLFTTrainer` picks one by its `condition` knob. Mixed-quality
data from the tiny world: `mixed_quality_data` (each source's measured quality: `source_accuracy`).
"""
from __future__ import annotations

import copy
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, replace

import torch

from ..data import IGNORE, SOURCES, load_world, tokenize_dataset
from ..io import SftkitError
from ..losses import token_nll
from ..train import NTPTrainer
from ..world import LAZY_ANSWERS, check, consistent_mistake, corrupt, lazy_answer, normalize
from .base import Arm, MethodConfig, MethodSpec, Paper, knob

PAPER = Paper("OpenChat: Advancing Open-source Language Models with Mixed-Quality Data (C-RLFT)", "2309.11235",
              "https://github.com/imoneoi/openchat", "06_crlft")

# The class condition: the content of the system turn put in front of a record of each source. The
# paper's strings name the model that wrote the data ("GPT4", "GPT3"); the tiny world has no such
# models, so the condition names the source itself. To the model any two distinct strings would do: it
# learns what each means from the data that follows it.
CONDITIONS = {"expert": "expert", "suboptimal": "suboptimal"}
INFERENCE_SOURCE = "expert"  # the condition used at inference (the paper: "GPT4")

# ----------------------------------------------------------------------------------------------------
# Mixed-quality data from the tiny world

# What the sub-optimal source writes, as exact shares of its records per skill (largest remainder when
# a share of a skill's count is not whole): half right, a quarter the skill's realistic mistakes, an
# eighth lazy non-answers, an eighth partly right.
SUBOPTIMAL_MIX = {"correct": 0.5, "wrong": 0.25, "lazy": 0.125, "partial": 0.125}
# A systematically worse source, as a weaker model is: right on under a third of its records, and where it
# is wrong, wrong by its skill's one consistent rule (`sftkit.world.consistent_mistake`: the unreversed word,
# descending order, the smallest digit, ...), so the mixture's most common answer to an input is the wrong one.
SYSTEMATIC_MIX = {"correct": 0.3, "rule": 0.6, "lazy": 0.1}
MIXES = {"scattered": SUBOPTIMAL_MIX, "systematic": SYSTEMATIC_MIX}


def partial_answer(record: dict, rng: random.Random) -> str:
    """A partly right answer: the gold answer cut short (when it has 2+ characters) or wrapped in a
    sentence; never an exact match."""
    answer = record["answer"]
    if len(answer) >= 2 and rng.random() < 0.5:
        return answer[:len(answer) // 2]
    return f"I think it is {answer}."


WRITERS = {"correct": lambda r, rng: r["answer"], "wrong": corrupt, "rule": consistent_mistake, "lazy": lazy_answer,
           "partial": partial_answer}


def quotas(n: int, mix: dict[str, float]) -> dict[str, int]:
    """Split n records into whole counts per kind in proportion to `mix` (largest remainder; ties in the
    order of `mix`): e.g. quotas(216, SUBOPTIMAL_MIX) -> correct 108, wrong 54, lazy 27, partial 27."""
    total = sum(mix.values())
    exact = {k: n * v / total for k, v in mix.items()}
    counts = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: -(exact[k] - counts[k]))[:n - sum(counts.values())]:
        counts[k] += 1
    return counts


def mixed_quality_data(records: list[dict], expert_share: float = 0.1, mix: dict[str, float] | None = None,
                       seed: int = 0) -> list[dict]:
    """Mixed-quality SFT data from tiny-world records (e.g. the train split), two sources on disjoint inputs.

    Per skill, `round(expert_share * n)` records go to the small **expert** source (always the gold answer)
    and the rest to the large **sub-optimal** source, which writes, in exact per-skill counts (`quotas`),
    with the default `SUBOPTIMAL_MIX`:
      50%   correct (the gold answer);
      25%   wrong: a realistic mistake of the skill (`sftkit.world.corrupt`: an unreversed word, an off-by-one
            count, a neighbour's fact, a flipped label, a wrong operator...);
      12.5% lazy: a generic non-answer ("I am not sure.", `LAZY_ANSWERS`);
      12.5% partial: the gold answer cut short, or wrapped in a sentence ("I think it is afok.").
    So both sources cover the same skills. On the train split (240 records per skill) with the defaults:
    240 expert records (24 per skill, all correct) and 2160 sub-optimal ones (1080 correct, 540 wrong,
    270 lazy, 270 partial: 50% exact match). Each record is the original plus "source" ("expert" or
    "suboptimal") and "quality" (the kind above); "answer" stays the gold answer, the assistant turn is
    what the source wrote. Deterministic for a seed; records keep the input order.
    """
    mix = mix or SUBOPTIMAL_MIX
    unknown = set(mix) - set(WRITERS)
    if unknown:
        raise ValueError(f"unknown answer kinds {sorted(unknown)}; known: {', '.join(WRITERS)}")
    if not 0 <= expert_share <= 1:
        raise ValueError(f"expert_share must lie in [0, 1], not {expert_share}")
    rng = random.Random(seed)
    by_skill: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_skill[r["skill"]].append(i)
    assigned: dict[int, tuple[str, str]] = {}
    for skill in sorted(by_skill):
        order = list(by_skill[skill])
        rng.shuffle(order)
        n_expert = round(expert_share * len(order))
        kinds = [k for k, c in quotas(len(order) - n_expert, mix).items() for _ in range(c)]
        rng.shuffle(kinds)
        assigned.update({i: ("expert", "correct") for i in order[:n_expert]})
        assigned.update({i: ("suboptimal", k) for i, k in zip(order[n_expert:], kinds)})
    out = []
    for i, r in enumerate(records):
        source, kind = assigned[i]
        answer = WRITERS[kind](r, rng)
        out.append({**r, "source": source, "quality": kind,
                    "messages": [*r["messages"][:-1], {"role": "assistant", "content": answer}]})
    return out


def answer_kind(record: dict, text: str) -> str:
    """Which kind of `WRITERS` an answer to `record` looks like: "correct" (exact match), "rule" (the skill's
    consistent mistake, `SYSTEMATIC_MIX`), "lazy" (one of `LAZY_ANSWERS`), "partial" (a proper prefix of the
    gold answer, or it in "I think it is ...") or "wrong" (anything else). Used to read a model's outputs in
    the sub-optimal source's terms."""
    text, answer = normalize(text), normalize(record["answer"])
    if check(record, text):
        return "correct"
    if check({**record, "answer": consistent_mistake(record)}, text):
        return "rule"
    if text in LAZY_ANSWERS:
        return "lazy"
    if (text and answer.startswith(text)) or text == f"I think it is {answer}.":
        return "partial"
    return "wrong"


def source_accuracy(records: list[dict]) -> dict[str, dict]:
    """Measured quality per source: {source: {"n", "accuracy" (exact match of the written answer against
    the gold one), "kinds": {quality: share}}}."""
    out = {}
    for source in sorted({r["source"] for r in records}, key=lambda s: SOURCES.index(s)):
        rows = [r for r in records if r["source"] == source]
        kinds = Counter(r.get("quality", "?") for r in rows)
        out[source] = {"n": len(rows), "accuracy": sum(check(r, r["messages"][-1]["content"]) for r in rows) / len(rows),
                       "kinds": {k: c / len(rows) for k, c in kinds.items()}}
    return out


# ----------------------------------------------------------------------------------------------------
# Class-conditioned prompts


def with_condition(records: list[dict], source: str | None = None) -> list[dict]:
    """Records with a system turn naming a class in front: each record's own `source`, or `source` for
    all (e.g. the expert condition on evaluation records). A record's existing system turn is replaced."""
    out = []
    for i, r in enumerate(records):
        name = source or r.get("source")
        if name not in CONDITIONS:
            raise SftkitError(f"record {i}: source {name!r} is not a C-RLFT class (known: {', '.join(CONDITIONS)})")
        turns = [m for m in r["messages"] if m["role"] != "system"]
        out.append({**r, "messages": [{"role": "system", "content": CONDITIONS[name]}, *turns]})
    return out


def condition_template(chat_template: str, source: str = INFERENCE_SOURCE) -> str:
    """A chat template that puts the `source` condition (a system turn) in front of any conversation
    without a system turn, then renders as `chat_template` does (OpenChat's published templates likewise
    hard-code their inference condition, "GPT4 Correct")."""
    prefix = ("{%- if messages and messages[0]['role'] != 'system' -%}{%- set messages = [{'role': 'system', "
              f"'content': {CONDITIONS[source]!r}}}] + messages -%}}{{%- endif -%}}")
    return prefix + chat_template


def inference_tokenizer(tokenizer, method_config: MethodConfig | None = None):
    """The tokenizer to evaluate or save a model trained with `method_config` with: a copy whose chat
    template adds the expert condition (`condition_template`) when the model was trained with conditions,
    the tokenizer itself otherwise. `sftkit.experiment.run_method` evaluates with it; `sftkit train crlft`
    saves it, so `sftkit eval` and `apply_chat_template` prompt the trained model with the expert condition."""
    condition = getattr(method_config, "condition", "system")
    if condition == "none":
        return tokenizer
    out = copy.deepcopy(tokenizer)
    out.chat_template = condition_template(tokenizer.chat_template)
    return out


def tokenize(tokenizer, records: list[dict], max_length: int = 256) -> list[dict]:
    """Tokenize C-RLFT records both ways, so the trainer's `condition` knob can pick one.

    Each record needs "source" (one of `SOURCES`). Returns examples {"input_ids", "labels"} (with the
    record's system-turn condition), {"plain_input_ids", "plain_labels"} (without it: plain SFT's tokens),
    "source" (the index of the record's source in `SOURCES`) and "index" (position in `records`);
    labels are IGNORE except on assistant tokens. Over-long examples are dropped (both ways).
    """
    for i, r in enumerate(records):
        if r.get("source") not in SOURCES:
            raise SftkitError(f"training record {i}: 'source' must be one of {', '.join(SOURCES)}, not "
                              f"{r.get('source')!r} (C-RLFT needs each record's source; build tiny-world data "
                              "with sftkit.methods.crlft.mixed_quality_data)")
    conditioned = {ex["index"]: ex for ex in tokenize_dataset(tokenizer, with_condition(records), max_length)}
    plain = tokenize_dataset(tokenizer, records, max_length, verbose=False)
    return [{"input_ids": conditioned[ex["index"]]["input_ids"], "labels": conditioned[ex["index"]]["labels"],
             "plain_input_ids": ex["input_ids"], "plain_labels": ex["labels"], "index": ex["index"],
             "source": SOURCES.index(records[ex["index"]]["source"])}
            for ex in plain if ex["index"] in conditioned]


# ----------------------------------------------------------------------------------------------------
# The loss


def weighted_nll(nll: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor, normalization: str = "token") -> torch.Tensor:
    """Reward-weighted NLL: nll [B, T] and mask [B, T] (1 on answer tokens) from `token_nll`, weights [B]
    (each sequence's class reward) -> scalar.

    token (official default): sum_b sum_t w_b m_bt nll_bt / sum_b sum_t w_b m_bt, each answer token weighs
        its reward and the batch is normalized by its total weight (`lm_head_with_loss` sums w * nll; the
        training loop divides by the batch's total weight, `num_seqs`);
    sequence (official `--per-sequence-loss`): sum_b w_b mean_t(nll_bt) / sum_b w_b over sequences with an
        answer, each sequence's token weights are w_b / its answer length (the official code does this per
        assistant message; the same for the tiny world's one-turn records).
    With all weights equal, "token" is plain SFT's token mean and "sequence" its per-sequence mean.
    """
    if normalization == "token":
        w = weights[:, None].to(nll.dtype) * mask
        return (w * nll).sum() / w.sum().clamp(min=torch.finfo(nll.dtype).tiny)
    if normalization == "sequence":
        counts = mask.sum(1)
        w = weights.to(nll.dtype) * (counts > 0)
        per_sequence = (nll * mask).sum(1) / counts.clamp(min=1)
        return (w * per_sequence).sum() / w.sum().clamp(min=torch.finfo(nll.dtype).tiny)
    raise ValueError(f"unknown normalization {normalization!r}: use 'token' or 'sequence'")


def crlft_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
               normalization: str = "token") -> torch.Tensor:
    """The C-RLFT loss of a batch: logits [B, T, V], labels [B, T] (IGNORE off the answers), weights [B]
    (each sequence's class reward) -> scalar (`weighted_nll` of `sftkit.losses.token_nll`)."""
    return weighted_nll(*token_nll(logits, labels), weights, normalization)


class CRLFTTrainer(NTPTrainer):
    """`NTPTrainer` with the C-RLFT loss, on examples from `tokenize` (a source per example).

    Knobs (`Config`): condition ("system": train on the conditioned tokens; "none": on the plain ones),
    expert_reward, suboptimal_reward (the class rewards; equal rewards switch the weights off) and
    normalization ("token" | "sequence"). Logged per step: the mean answer-token NLL of each source in the
    batch (expert_nll, suboptimal_nll) and the share of the batch's total weight that is expert.
    """

    def __init__(self, *args, condition: str = "system", expert_reward: float = 1.0, suboptimal_reward: float = 0.1,
                 normalization: str = "token", **kwargs):
        if condition not in ("system", "none"):
            raise ValueError(f"unknown condition {condition!r}: use 'system' or 'none'")
        if normalization not in ("token", "sequence"):
            raise ValueError(f"unknown normalization {normalization!r}: use 'token' or 'sequence'")
        if min(expert_reward, suboptimal_reward) < 0 or max(expert_reward, suboptimal_reward) <= 0:
            raise ValueError("class rewards must be >= 0 and not all 0")
        super().__init__(*args, **kwargs)
        self.condition, self.normalization = condition, normalization
        self.rewards = torch.tensor([{"expert": expert_reward, "suboptimal": suboptimal_reward}[s] for s in SOURCES])
        self.train_dataset = self.pick_condition(self.train_dataset)

    def pick_condition(self, dataset: list[dict]) -> list[dict]:
        """The conditioned or the plain tokens of each `tokenize` example, with its source and index."""
        if not dataset or "source" not in dataset[0] or "plain_input_ids" not in dataset[0]:
            raise SftkitError("C-RLFT trains on examples from sftkit.methods.crlft.tokenize (a source per record); "
                              f"got fields {sorted(dataset[0]) if dataset else []}")
        prefix = "" if self.condition == "system" else "plain_"
        return [{"input_ids": ex[prefix + "input_ids"], "labels": ex[prefix + "labels"], "index": ex["index"],
                 "source": ex["source"]} for ex in dataset]

    def loss(self, model, inputs: dict, outputs) -> torch.Tensor:
        nll, mask = token_nll(outputs.logits, inputs["labels"])
        weights = self.rewards.to(nll.device)[inputs["source"]]
        with torch.no_grad():
            per_class = {}
            for k, name in enumerate(SOURCES):
                rows = inputs["source"] == k
                if rows.any():
                    per_class[f"{name}_nll"] = (nll[rows] * mask[rows]).sum() / mask[rows].sum().clamp(min=1)
            token_weights = weights[:, None] * mask
            per_class["expert_weight_share"] = (token_weights[inputs["source"] == SOURCES.index("expert")].sum()
                                                / token_weights.sum().clamp(min=1e-12))
        self.record(**per_class)
        return weighted_nll(nll, mask, weights, self.normalization)

    def loss_weight(self, inputs: dict) -> torch.Tensor:
        """The denominator of `weighted_nll`: the batch's reward-weighted answer tokens ("token") or the summed
        rewards of its sequences with an answer ("sequence")."""
        answer = (inputs["labels"][:, 1:] != IGNORE).sum(1)
        per_row = answer if self.normalization == "token" else (answer > 0)
        return (self.rewards.to(answer.device)[inputs["source"]] * per_row).sum()


@dataclass
class Config(MethodConfig):
    VARIANT = ("condition", "expert_reward", "suboptimal_reward", "normalization")
    LABELS = {"expert_reward": "r_expert", "suboptimal_reward": "r_sub", "normalization": "norm"}

    condition: str = knob("system", "class condition in the prompt: 'system' (a system turn naming the record's "
                                    "source; the expert one at inference) or 'none' (the 'weights only' ablation)",
                          choices=("system", "none"))
    expert_reward: float = knob(1.0, "reward (loss weight) of the expert source's tokens (paper: 1.0)")
    suboptimal_reward: float = knob(0.1, "reward of the sub-optimal source's tokens (paper: 0.1; equal to "
                                         "expert_reward switches the weights off: the 'conditioning only' ablation)")
    normalization: str = knob("token", "token: sum of w * NLL over the batch's answer tokens / their total weight "
                                       "(official default); sequence: per-sequence mean NLL, weighted "
                                       "(official --per-sequence-loss)", choices=("token", "sequence"))



def ablation(mix: str = "systematic", full: Config | None = None, steps: int = 300, expert_share: float = 0.1,
             records: list[dict] | None = None) -> dict[str, Arm]:
    """The paper's ablation rows, plus plain SFT on all the data and expert-only SFT at matched epochs, on
    `mixed_quality_data(records, expert_share, MIXES[mix], seed)` drawn afresh for each seed (default records:
    the world's train split): {label: Arm}. `full` is C-RLFT's Config (default: the paper's); "conditioning
    only" sets both rewards equal, "weights only" drops the condition. Every arm trains `steps` steps except
    "expert-only SFT, matched epochs", which passes over its expert records as often as the mixed-data arms
    pass over theirs in `steps` (steps * n_expert / n_all: 30 of 300 with a 10% expert share)."""
    full = full or Config()
    if mix not in MIXES:
        raise ValueError(f"unknown sub-optimal source {mix!r}; known: {', '.join(MIXES)}")
    records = records if records is not None else load_world("train")

    def draw(seed: int, source: str | None = None) -> list[dict]:
        mixed = mixed_quality_data(records, expert_share, MIXES[mix], seed=seed)
        return mixed if source is None else [r for r in mixed if r["source"] == source]

    n_expert = len(draw(0, "expert"))
    matched = max(1, round(steps * n_expert / len(records)))

    def arm(method, knobs, source, note, **kw):
        return Arm(method, knobs, lambda seed: draw(seed, source), f"{mix} source, {note}", **kw)

    return {
        "SFT on everything": arm("sft", None, None, "mixed data"),
        "expert-only SFT": arm("sft", None, "expert", "expert data only"),
        "expert-only SFT, matched epochs": arm("sft", None, "expert", f"expert data only, {matched} steps", steps=matched),
        "sub-optimal-only SFT": arm("sft", None, "suboptimal", "sub-optimal data only"),
        "conditioning only": arm("crlft", replace(full, suboptimal_reward=full.expert_reward), None, "conditioning only"),
        "weights only": arm("crlft", replace(full, condition="none"), None, "weights only"),
        "C-RLFT": arm("crlft", full, None, "C-RLFT"),
    }


# What `sftkit train crlft --data FILE` needs in each record (a missing one is an error naming file and line).
REQUIRED = {"source": "C-RLFT needs each record's source, 'expert' or 'suboptimal'"}


def required(reward: str | None = None) -> dict[str, str]:
    """The fields `sftkit train crlft --data FILE` needs in each record."""
    return REQUIRED


def default_data(expert_share: float = 0.1, seed: int = 0, mix: str = "systematic") -> tuple[list[dict], str]:
    """`sftkit train crlft` without --data: the world's train split as mixed-quality data (`mixed_quality_data`
    with the `mix` sub-optimal source, notebook 06's headline setting), and a line describing it with each
    source's measured accuracy (`source_accuracy`)."""
    records = mixed_quality_data(load_world("train"), expert_share, MIXES[mix], seed=seed)
    shares = ", ".join(f"{s} {a['n']} records, {100 * a['accuracy']:.0f}% correct" for s, a in source_accuracy(records).items())
    return records, (f"tiny-world train split as mixed-quality data ({mix} sub-optimal source, expert share "
                     f"{expert_share}, seed {seed}): {shares}")


SPEC = MethodSpec("crlft", "loss", PAPER, Config, required=required, default_data=lambda reward=None: default_data(),
                  trainer=CRLFTTrainer, tokenize=tokenize, inference_tokenizer=inference_tokenizer)
