"""SFTMix (Xiao et al., arXiv 2410.05248): confidence from training dynamics and a Mixup regularizer.

1. A reference model is trained with plain next-token prediction (NTP); at C checkpoints every training
   example's response perplexity is measured. SFTMix's confidence = minus the mean perplexity over
   checkpoints (`Dynamics.confidence`). The Dataset-Cartography map (Swayamdipta et al., arXiv 2009.10795)
   uses the gold response's probability 1 / perplexity instead: its mean and std over checkpoints, both in
   [0, 1] (`Dynamics.map_coordinates`); the std of perplexity grows with its mean and draws one curve.
2. The median splits the data into a confident half and a relatively unconfident half.
3. Training: every batch holds as many confident as unconfident examples (`BalancedSampler`); confident
   and unconfident examples are paired, their last-layer hidden states over the response are mixed with
   lambda ~ Beta(alpha, alpha), and the mixed states must predict the mixed labels (`mixup_loss`).
   Loss = NTP + mu * Mixup, with the hidden states taken from the same forward pass as the NTP loss.

A loss-side method. Notebook: 02_sftmix.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from ..data import IGNORE, pad_collate, tokenize_dataset
from ..io import SftkitError, read_jsonl, write_jsonl
from ..logprobs import eval_mode
from ..losses import ntp_loss, token_nll
from ..model import device_of
from ..profile import timed
from ..train import NTPTrainer, Progress, TrainConfig, bucketed, example_length, full_batches, training_arguments
from .base import MethodConfig, MethodSpec, Paper, knob


@torch.no_grad()
def response_perplexity(model, dataset: list[dict], collate, batch_size: int = 128) -> torch.Tensor:
    """Perplexity of each example's response, exp(mean token NLL over response tokens): [N] in dataset order.

    `dataset` holds tokenized examples ({"input_ids", "labels", ...}); `collate` pads a list of them.
    Examples are batched by length so little compute goes to padding.
    """
    device = next(model.parameters()).device
    order = sorted(range(len(dataset)), key=lambda i: len(dataset[i]["input_ids"]))
    out = torch.empty(len(dataset))
    with eval_mode(model):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = collate([dataset[i] for i in idx])
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            nll, mask = token_nll(logits, batch["labels"].to(device))
            out[idx] = ((nll * mask).sum(1) / mask.sum(1).clamp(min=1)).exp().float().cpu()
    return out


def confidence_and_variability(perplexity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """perplexity [C, N] (C checkpoints) -> (confidence = -mean over checkpoints [N], variability = std [N]).

    The confidence is SFTMix's (it decides the median split). The std of perplexity is unbounded and grows
    with the mean, so it is no map axis: draw the map with `Dynamics.map_coordinates`."""
    return -perplexity.mean(0), perplexity.std(0, unbiased=False)


def median_split(confidence: torch.Tensor) -> torch.Tensor:
    """Bool [N]: True for the confident half (the N // 2 highest confidences; ties broken by position)."""
    order = torch.argsort(confidence, descending=True, stable=True)
    confident = torch.zeros(len(confidence), dtype=torch.bool)
    confident[order[:len(confidence) // 2]] = True
    return confident


def load_split(path: str | Path) -> dict[int, bool]:
    """Read a confidence file (JSONL rows with "index" and "confidence", as `Dynamics.save` writes) and
    split it at the median: record index -> True if confident."""
    def check(row):
        if not isinstance(row.get("index"), int) or not isinstance(row.get("confidence"), (int, float)):
            raise ValueError("each row needs an integer 'index' and a numeric 'confidence'")

    rows = read_jsonl(path, check)
    if len(rows) < 2:
        raise SftkitError(f"{path}: a confidence file needs at least 2 rows")
    confident = median_split(torch.tensor([float(r["confidence"]) for r in rows]))
    return dict(zip((r["index"] for r in rows), confident.tolist()))


def checkpoint_steps(steps: int, checkpoints: int) -> list[int]:
    """`checkpoints` evenly spaced optimizer steps ending at `steps` (e.g. 300, 3 -> [100, 200, 300])."""
    if not 1 <= checkpoints <= steps:
        raise SftkitError(f"need 1 <= checkpoints ({checkpoints}) <= steps ({steps})")
    return [round(steps * (k + 1) / checkpoints) for k in range(checkpoints)]


@timed("train")
def record_dynamics(model, dataset: list[dict], collate, args, checkpoints: int = 3) -> Dynamics:
    """Train `model` in place with NTP under `TrainingArguments` `args`, recording perplexities at
    `checkpoints` evenly spaced steps. Returns the `Dynamics` (the model ends trained)."""
    recorder = PerplexityRecorder(dataset, collate, checkpoint_steps(args.max_steps, checkpoints))
    trainer = DynamicsTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate,
                              callbacks=[Progress()], recorder=recorder)
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    model.eval()
    return Dynamics(index=[ex["index"] for ex in dataset], steps=recorder.steps,
                    perplexity=torch.stack(recorder.perplexity))


def training_dynamics(model, tokenizer, records: list[dict], config: TrainConfig, checkpoints: int = 3,
                      dataset: list[dict] | None = None) -> Dynamics:
    """The reference NTP run: train `model` on `records` with `config` (in place) and return each
    example's response perplexity at `checkpoints` evenly spaced steps."""
    dataset = dataset if dataset is not None else tokenize_dataset(tokenizer, records, config.max_length)
    torch.manual_seed(config.seed)
    with tempfile.TemporaryDirectory() as scratch:
        return record_dynamics(model, dataset, lambda b: pad_collate(b, tokenizer.pad_token_id),
                               training_arguments(config, scratch, device_of(model)), checkpoints)


def response_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """labels [B, T] -> (positions [B, R], counts [B]): row b's positions t (ascending) whose hidden state
    predicts a response token (labels[b, t + 1] != IGNORE), left-aligned and zero-padded to R = max count."""
    predicts = labels[:, 1:] != IGNORE  # [B, T-1]
    counts = predicts.sum(1)
    rows, cols = predicts.nonzero(as_tuple=True)
    positions = torch.zeros(labels.size(0), int(counts.max()), dtype=torch.long, device=labels.device)
    positions[rows, predicts.long().cumsum(1)[rows, cols] - 1] = cols  # k-th response position of each row
    return positions, counts


def head_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """The model's LM head applied to last-layer hidden states [..., H] -> logits [..., V] (with the final
    logit soft-capping of models that have one, e.g. Gemma 2)."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def mixup_loss(model, hidden: torch.Tensor, labels: torch.Tensor, confident_rows: torch.Tensor,
               unconfident_rows: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """SFTMix's Mixup regularizer on last-layer hidden states (token mean over all mixed positions).

    hidden [B, T, H]: the LM head's input; labels [B, T] (IGNORE off the response); confident_rows [P],
    unconfident_rows [P]: the rows of each pair; lam [P]: each pair's mixing weight. For pair p the
    response positions of both rows are aligned at the response start and truncated to the shorter
    response (L_p positions); Z = lam Z^c + (1 - lam) Z^u goes through the LM head and the loss is
    lam CE(logits(Z), y^c) + (1 - lam) CE(logits(Z), y^u).
    """
    positions, counts = response_positions(labels)
    c, u = confident_rows.to(labels.device), unconfident_rows.to(labels.device)
    pos_c, pos_u = positions[c], positions[u]  # [P, R]
    keep = torch.arange(positions.size(1), device=labels.device) < torch.minimum(counts[c], counts[u])[:, None]
    w = lam.to(hidden.dtype)[:, None, None]
    mixed = w * hidden[c[:, None], pos_c] + (1 - w) * hidden[u[:, None], pos_u]  # [P, R, H]
    logits = head_logits(model, mixed[keep]).float()  # [M, V], M = sum_p L_p
    weights = lam[:, None].expand_as(keep)[keep].float()
    ce_c = F.cross_entropy(logits, labels[c[:, None], pos_c + 1][keep], reduction="none")
    ce_u = F.cross_entropy(logits, labels[u[:, None], pos_u + 1][keep], reduction="none")
    loss = weights * ce_c + (1 - weights) * ce_u
    return loss.mean() if len(loss) else logits.sum() * 0.0


def pair_rows(is_confident: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random pairs (confident row, unconfident row) within a batch: is_confident [B] bool -> two [P] tensors."""
    conf = is_confident.nonzero().squeeze(1).cpu()
    unconf = (~is_confident).nonzero().squeeze(1).cpu()
    p = min(len(conf), len(unconf))
    conf = conf[torch.randperm(len(conf), generator=generator)[:p]]
    unconf = unconf[torch.randperm(len(unconf), generator=generator)[:p]]
    return conf, unconf


@dataclass
class Dynamics:
    """Training dynamics of a reference run: perplexity [C, N] of examples `index` (record positions) at `steps`."""

    index: list[int]
    steps: list[int]
    perplexity: torch.Tensor

    @property
    def confidence(self) -> torch.Tensor:
        """SFTMix's confidence [N]: minus the mean perplexity over checkpoints (what the median split uses)."""
        return confidence_and_variability(self.perplexity)[0]

    @property
    def variability(self) -> torch.Tensor:
        """Std of perplexity over checkpoints [N] (saved by `save`; for the map use `map_coordinates`)."""
        return confidence_and_variability(self.perplexity)[1]

    @property
    def confident(self) -> torch.Tensor:
        return median_split(self.confidence)

    @property
    def probability(self) -> torch.Tensor:
        """The gold response's per-token (geometric-mean) probability, 1 / perplexity: [C, N], in (0, 1]."""
        return 1.0 / self.perplexity

    @property
    def map_coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(confidence, variability) [N] as Swayamdipta et al. (arXiv 2009.10795) draw the cartography map:
        mean and standard deviation over checkpoints of the gold response's probability, both in [0, 1].
        (Perplexity's std grows with its mean, so a map in perplexity collapses onto one curve; SFTMix's
        split still uses perplexity, as the paper does: `confidence`.)"""
        return self.probability.mean(0), self.probability.std(0, unbiased=False)

    def split(self) -> dict[int, bool]:
        """Record index -> True if confident: what `SFTMixTrainer(confident=...)` takes."""
        return dict(zip(self.index, self.confident.tolist()))

    def save(self, path: str | Path) -> None:
        """JSONL, one row per example: {"index", "perplexity": [C], "confidence", "variability", "confident"}."""
        write_jsonl(path, [{"index": i, "perplexity": p, "confidence": c, "variability": v, "confident": k}
                           for i, p, c, v, k in zip(self.index, self.perplexity.T.tolist(), self.confidence.tolist(),
                                                    self.variability.tolist(), self.confident.tolist())])


class PerplexityRecorder(TrainerCallback):
    """Measures `response_perplexity` of a dataset after the optimizer steps listed in `at_steps`."""

    def __init__(self, dataset: list[dict], collate, at_steps: list[int], batch_size: int = 128):
        self.dataset, self.collate, self.at_steps, self.batch_size = dataset, collate, set(at_steps), batch_size
        self.steps: list[int] = []
        self.perplexity: list[torch.Tensor] = []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step in self.at_steps:
            self.steps.append(state.global_step)
            self.perplexity.append(response_perplexity(model, self.dataset, self.collate, self.batch_size))


class DynamicsTrainer(NTPTrainer):
    """Plain NTP training that also runs a `PerplexityRecorder` (the reference run of SFTMix)."""

    def __init__(self, *args, recorder: PerplexityRecorder, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_callback(recorder)


class BalancedSampler(torch.utils.data.Sampler):
    """Dataset positions in blocks of `batch_size`: the first half confident, the second half unconfident.

    `confident` is a bool per dataset position. Each pass (epoch) reshuffles both halves with a new
    seed and yields min(#confident, #unconfident) // (batch_size // 2) full blocks, so every batch a
    sequential DataLoader of that batch size cuts from it is balanced. With `lengths` (tokens per
    position) each half is `bucketed` like plain SFT's batches, so a batch pairs similar lengths.

    With `num_replicas` blocks of `batch_size` rows to an optimizer step (processes times gradient-accumulation
    micro-batches; accelerate deals consecutive blocks out to the processes in turn), the blocks of one step
    hold the same confident / unconfident pairs as the block of one process with batch
    `num_replicas * batch_size`, and every block is balanced.
    """

    def __init__(self, confident: list[bool], batch_size: int, seed: int = 0, lengths: list[int] | None = None,
                 bucket: int = 1, num_replicas: int = 1):
        if batch_size < 2 or batch_size % 2:
            raise SftkitError(f"SFTMix needs an even batch size >= 2 (got {batch_size})")
        self.conf = [i for i, c in enumerate(confident) if c]
        self.unconf = [i for i, c in enumerate(confident) if not c]
        self.half, self.num_replicas, self.seed, self.epoch = batch_size // 2, num_replicas, seed, 0
        self.lengths, self.bucket = lengths, bucket if lengths is not None else 1
        need = self.half * num_replicas
        if min(len(self.conf), len(self.unconf)) < need:
            raise SftkitError(f"need at least {need} confident and {need} unconfident examples, "
                              f"got {len(self.conf)} and {len(self.unconf)}")

    def __len__(self) -> int:
        step_half = self.half * self.num_replicas  # confident (and unconfident) examples per step, all processes
        return 2 * full_batches(min(len(self.conf), len(self.unconf)), step_half)

    def set_epoch(self, epoch: int) -> None:
        """Called by Trainer/accelerate before each pass, so a resumed run replays the same order."""
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        conf = [self.conf[i] for i in torch.randperm(len(self.conf), generator=gen)]
        unconf = [self.unconf[i] for i in torch.randperm(len(self.unconf), generator=gen)]
        if self.bucket > 1:
            conf = bucketed(conf, self.lengths, self.half * self.num_replicas, self.bucket)
            unconf = bucketed(unconf, self.lengths, self.half * self.num_replicas, self.bucket)
        for b in range(len(self) // (2 * self.half)):
            yield from conf[b * self.half:(b + 1) * self.half]
            yield from unconf[b * self.half:(b + 1) * self.half]


HALVES = ("confidence", "random")


def random_split(index: list[int], seed: int) -> dict[int, bool]:
    """The control split: record index -> True for a random half (len(index) // 2 of them), drawn with `seed`.
    Same sizes as the confidence split (`median_split`), no information about the examples."""
    order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen = set(order[:len(index) // 2])
    return {i: k in chosen for k, i in enumerate(index)}


class SFTMixTrainer(NTPTrainer):
    """NTP + mu * Mixup, on batches balanced between confident and unconfident examples.

    confident: record index -> bool (`Dynamics.split()`); or confidence_file: a JSONL file as written by
    `Dynamics.save` (split at the median when read); with neither, setup first runs the reference NTP
    run itself on the training data (`reference_steps`, default the run's own steps, with
    `reference_checkpoints` perplexity checkpoints) and restores the initial weights afterwards.
    mu: weight of the Mixup term; ntp_weight: weight of the NTP term (0 gives 'Mixup only'); alpha: the
    Beta(alpha, alpha) of lambda, drawn once per pair (the tutorial's choice). halves="random" is the control
    that asks whether confidence matters: the same balanced batches and Mixup, but the two halves are a random
    median split of the training data (`random_split`, seeded by the run's seed; no reference run).
    """

    def __init__(self, *args, confident: dict[int, bool] | None = None, confidence_file: str | None = None,
                 mu: float = 0.2, alpha: float = 0.5, ntp_weight: float = 1.0, reference_steps: int | None = None,
                 reference_checkpoints: int = 3, halves: str = "confidence", **kwargs):
        super().__init__(*args, **kwargs)
        self.mu, self.ntp_weight = mu, ntp_weight
        self.beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
        if halves not in HALVES:
            raise SftkitError(f"unknown halves {halves!r}: use one of {', '.join(HALVES)}")
        if halves == "random":
            if confident is not None or confidence_file:
                raise SftkitError("halves='random' draws its own split: give no confident split or confidence file")
            confident = random_split([ex["index"] for ex in self.train_dataset], self.args.seed)
        if confident is None and confidence_file:
            confident = load_split(confidence_file)
        if confident is None:
            confident = self.reference_split(reference_steps or self.args.max_steps, reference_checkpoints)
        missing = [ex["index"] for ex in self.train_dataset if ex["index"] not in confident]
        if missing:
            raise SftkitError(f"no confidence for {len(missing)} training examples (e.g. record {missing[0]})")
        self.confident = confident

    def reference_split(self, steps: int, checkpoints: int) -> dict[int, bool]:
        """Run the reference NTP run on this trainer's model and data, then restore the initial weights."""
        initial = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        with tempfile.TemporaryDirectory() as scratch:
            args = training_arguments(TrainConfig(steps=steps, batch_size=self.args.per_device_train_batch_size,
                                                  lr=self.args.learning_rate, seed=self.args.seed,
                                                  warmup_steps=self.args.warmup_steps,
                                                  weight_decay=self.args.weight_decay), scratch,
                                      device_of(self.model))
            dynamics = record_dynamics(self.model, self.train_dataset, self.data_collator, args, checkpoints)
        self.model.load_state_dict(initial)
        self.model.train()
        return dynamics.split()

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return BalancedSampler([self.confident[ex["index"]] for ex in dataset], self._train_batch_size,
                               seed=self.args.seed, lengths=[example_length(ex) for ex in dataset],
                               bucket=self.bucket, num_replicas=self.micro_batches_per_step)

    def forward_loss(self, model, inputs: dict):
        captured, base = {}, self.accelerator.unwrap_model(model)
        hook = base.get_output_embeddings().register_forward_pre_hook(
            lambda module, args: captured.update(hidden=args[0]))
        try:
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        finally:
            hook.remove()
        ntp = ntp_loss(outputs.logits, inputs["labels"])
        loss = self.ntp_weight * ntp if self.ntp_weight else 0.0
        self.record(ntp_loss=ntp)
        if self.mu:
            is_conf = torch.tensor([self.confident[i] for i in inputs["index"].tolist()])
            conf, unconf = pair_rows(is_conf)
            if len(conf):
                lam = self.beta.sample((len(conf),)).to(captured["hidden"].device, captured["hidden"].dtype)
                mixup = mixup_loss(base, captured["hidden"], inputs["labels"], conf, unconf, lam)
                loss = loss + self.mu * mixup
                self.record(mixup_loss=mixup)
        return loss, outputs


PAPER = Paper("SFTMix: Elevating Language Model Instruction Tuning with Mixup Recipe", "2410.05248",
              "no official code is public", "02_sftmix")


@dataclass
class Config(MethodConfig):
    VARIANT = ("mu",)

    mu: float = knob(0.2, "weight of the Mixup regularizer (paper: 0.2)")
    alpha: float = knob(0.5, "lambda ~ Beta(alpha, alpha), one draw per confident/unconfident pair")
    ntp_weight: float = knob(1.0, "weight of the NTP term (0: the 'Mixup only' ablation)")
    reference_steps: int | None = knob(None, "steps of the reference NTP run (default: the run's own steps)")
    reference_checkpoints: int = knob(3, "perplexity checkpoints of the reference run (training dynamics)")
    confidence_file: str | None = knob(None, "JSONL of {index, confidence} per training record (skips the "
                                             "reference run; split at the median)")
    halves: str = knob("confidence", "how the data is halved: 'confidence' (the paper) or 'random' (the "
                                     "control: the same Mixup on a random median split)", choices=HALVES)

    def variant(self, note: str = "") -> str:
        """The base variant ("mu=0.2"), plus "halves=random" only for the control (earlier results keep their
        names)."""
        text = ",".join([super().variant()] + (["halves=random"] if self.halves == "random" else []))
        return f"{text} ({note})" if note else text


SPEC = MethodSpec("sftmix", "loss", PAPER, Config, trainer=SFTMixTrainer)
