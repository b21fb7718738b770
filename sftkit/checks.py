"""Exercise checkers: is a student's hand-written loss the library's? One call, one printed line.

    from sftkit.checks import check_loss
    check_loss(my_dpo_loss, "dpo")   # PASS ... or FAIL ... with what differs and a hint; returns True / False

Each checker draws a few random batches of the documented shapes (prompt tokens and padding masked with
`sftkit.data.IGNORE`, rows of different lengths), calls the student's function positionally in the order its
docstring gives, and compares the result with sftkit's own function: the shape, then every value (float64,
rtol 1e-4, atol 1e-5). A FAIL line names the batch, the first differing position with both values, the
largest absolute difference, and a hint: the specific one when the answer matches a known mistake (a sign
flip, a missing mask, a mean instead of a sum...), else the equation to re-read. One checker per loss-side
method (`CHECKERS`): sft, sftmix, ift, dpo, rpo, crlft. Shapes: B = batch, T = sequence, V = vocabulary,
H = hidden size, P = pairs.

The online and data-side methods' pieces are checked the same way through `check_piece(fn, name)`
(`PIECES`): PPO's generalized advantage estimation and clipped surrogate (notebook 07), SuperHF's KL to the
prior (notebook 08), AugCon's contrastive scorer loss and ROUGE-L filter (notebook 09), Instruct-SkillMix's
test that an example needs each of its skills (notebook 10), and the unbiased pass@k estimator (notebook 11).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import _home  # noqa: F401  (first: one clear line when `sftkit` is a clone's folder, not this package)
from .data import IGNORE
from .io import SftkitError
from .losses import dpo_loss, ntp_loss, reduce_loss, rpo_loss, token_nll
from .methods.crlft import crlft_loss
from .methods.ift import discounted_cumsum, relation_weights
from .methods.sftmix import mixup_loss

RTOL, ATOL = 1e-4, 1e-5
CASES = 3  # random batches per check


@dataclass
class Spec:
    """One exercise: how to draw inputs, the library's answer, known mistakes (hint -> wrong answer)."""

    name: str
    signature: str
    make: Callable[[torch.Generator, int], tuple]
    reference: Callable[..., torch.Tensor]
    hint: str
    mistakes: dict[str, Callable[..., torch.Tensor]] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# Random inputs of the documented shapes


def randint(gen: torch.Generator, low: int, high: int) -> int:
    """One integer in [low, high] from `gen`."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def answer_labels(gen: torch.Generator, batch: int, length: int, vocab: int) -> torch.Tensor:
    """labels [B, T]: per row IGNORE over a prompt (>= 1 token), then >= 2 answer tokens, then IGNORE padding;
    rows differ in prompt and answer length so that token and sequence means differ."""
    labels = torch.full((batch, length), IGNORE, dtype=torch.long)
    for b in range(batch):
        start = randint(gen, 1, length // 2)
        end = randint(gen, start + 2, length)
        labels[b, start:end] = torch.randint(0, vocab, (end - start,), generator=gen)
    return labels


def logits_and_labels(gen: torch.Generator, case: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [B, T, V], labels [B, T]) with B, T, V varying by case."""
    batch, length, vocab = 3 + case, 8 + 2 * case, 11 + case
    return torch.randn(batch, length, vocab, generator=gen) * 2, answer_labels(gen, batch, length, vocab)


def pair_logps(gen: torch.Generator, batch: int) -> list[torch.Tensor]:
    """Summed response log-probs [B] (negative) of policy chosen, rejected, reference chosen, rejected."""
    return [-torch.rand(batch, generator=gen) * 20 - 1 for _ in range(4)]


# ----------------------------------------------------------------------------------------------------
# sft: next-token prediction on answer tokens (Wei et al. 2109.01652; Ouyang et al. 2203.02155)


def no_shift_ntp(logits, labels):
    """Mistake: logits at t scored against the label at t (no next-token shift)."""
    mask = labels != IGNORE
    nll = F.cross_entropy(logits[mask], labels[mask], reduction="none")
    return nll.mean()


def unmasked_ntp(logits, labels):
    """Mistake: prompt and padding positions carry loss too (label IGNORE read as token 0)."""
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].clamp(min=0).reshape(-1))
    return nll


SFT = Spec(
    name="sft next-token loss",
    signature="fn(logits [B, T, V], labels [B, T]) -> scalar",
    make=logits_and_labels,
    reference=ntp_loss,
    hint="L = sum over answer tokens of -log p(y_{t+1} | y_<=t) / their number: shift (logits[:, :-1] vs "
         "labels[:, 1:]), skip labels == IGNORE, one token mean over the whole batch",
    mistakes={
        "no next-token shift: logits at t predict the label at t + 1 (logits[:, :-1], labels[:, 1:])": no_shift_ntp,
        "the prompt and padding count: keep only positions whose label is not IGNORE (-100)": unmasked_ntp,
        "mean per sequence, then over sequences: the loss is one mean over all answer tokens of the batch":
            lambda logits, labels: reduce_loss(*token_nll(logits, labels), "sequence_mean"),
        "a sum instead of a mean: divide by the number of answer tokens":
            lambda logits, labels: reduce_loss(*token_nll(logits, labels), "sum"),
    },
)

# ----------------------------------------------------------------------------------------------------
# sftmix: Mixup of last-layer hidden states (Xiao et al. 2410.05248)


class HeadModel:
    """The two things `sftmix.mixup_loss` asks of a model: its LM head and a config without soft-capping."""

    def __init__(self, head: torch.nn.Module):
        self.head, self.config = head, type("Config", (), {})()

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.head


def mixup_inputs(gen: torch.Generator, case: int) -> tuple:
    """(head Linear H -> V, hidden [B, T, H], labels [B, T], confident_rows [P], unconfident_rows [P], lam [P])."""
    batch, length, hidden_size, vocab = 4 + 2 * case, 9 + case, 6, 13
    head = torch.nn.Linear(hidden_size, vocab, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.randn(vocab, hidden_size, generator=gen))
    order = torch.randperm(batch, generator=gen)
    lam = torch.rand(batch // 2, generator=gen)
    return (head, torch.randn(batch, length, hidden_size, generator=gen), answer_labels(gen, batch, length, vocab),
            order[:batch // 2], order[batch // 2:], lam)


def mixed_positions(labels: torch.Tensor, confident_rows: torch.Tensor, unconfident_rows: torch.Tensor) -> int:
    """sum_p L_p: the number of answer positions mixed over all pairs (the shorter answer of each pair)."""
    counts = (labels[:, 1:] != IGNORE).sum(1)
    return int(torch.minimum(counts[confident_rows], counts[unconfident_rows]).sum())


def mixup_reference(head, hidden, labels, confident_rows, unconfident_rows, lam):
    return mixup_loss(HeadModel(head), hidden, labels, confident_rows, unconfident_rows, lam)


SFTMIX = Spec(
    name="sftmix Mixup loss",
    signature="fn(head, hidden [B, T, H], labels [B, T], confident_rows [P], unconfident_rows [P], lam [P]) -> scalar",
    make=mixup_inputs,
    reference=mixup_reference,
    hint="per pair p: align both rows' answer positions at the answer start, keep the shorter answer's length, "
         "Z = lam Z^c + (1 - lam) Z^u, loss lam CE(head(Z), y^c) + (1 - lam) CE(head(Z), y^u), mean over all "
         "mixed positions",
    mistakes={
        "lam and 1 - lam are swapped (or the pair's rows): lam weighs the confident row, Z = lam Z^c + (1 - lam) Z^u":
            lambda head, hidden, labels, c, u, lam: mixup_reference(head, hidden, labels, c, u, 1 - lam),
        "a sum over mixed positions, not their mean": lambda head, hidden, labels, c, u, lam: (
            mixup_reference(head, hidden, labels, c, u, lam) * mixed_positions(labels, c, u)),
    },
)

# ----------------------------------------------------------------------------------------------------
# ift: relation-propagation weights (Hua et al. 2405.11870)


def weights_inputs(gen: torch.Generator, case: int) -> tuple:
    """(nll [B, T] >= 0, mask [B, T] float, gamma in (0, 1))."""
    logits, labels = logits_and_labels(gen, case)
    nll, mask = token_nll(logits, labels)
    return nll, mask, (0.95, 0.5, 0.8)[case % 3]


def forward_cumsum_weights(nll, mask, gamma):
    """Mistake: the discounted sum runs over the tokens before t instead of after."""
    return relation_weights(nll.flip(-1), mask.flip(-1), gamma).flip(-1)


def unnormalized_weights(nll, mask, gamma):
    """Mistake: R_t itself, not rescaled to sum to N."""
    return discounted_cumsum(nll * mask / mask.sum(-1, keepdim=True).clamp(min=1), gamma) * mask


IFT = Spec(
    name="ift relation-propagation weights",
    signature="fn(nll [B, T], mask [B, T], gamma) -> weights [B, T]",
    make=weights_inputs,
    reference=relation_weights,
    hint="R_t = sum_{i >= t} gamma^(i - t) l_i / N over a row's N answer tokens (l = nll * mask), "
         "w_t = N R_t / sum_s R_s on answer tokens, 0 elsewhere",
    mistakes={
        "the discounted sum runs forward: R_t sums the losses at and AFTER t (i >= t)": forward_cumsum_weights,
        "no discount: gamma^(i - t) is missing": lambda nll, mask, gamma: relation_weights(nll, mask, 1.0),
        "weights off the answer are not 0: multiply by the mask": lambda nll, mask, gamma: (
            relation_weights(nll, mask, gamma) + (1 - mask)),
        "not rescaled: w_t = N R_t / sum_s R_s, so a row's weights sum to its N answer tokens": unnormalized_weights,
    },
)

# ----------------------------------------------------------------------------------------------------
# dpo (Rafailov et al. 2305.18290, Eq. 7) and rpo (Liu et al. 2405.16436)


def dpo_inputs(gen: torch.Generator, case: int) -> tuple:
    """(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps [B], beta)."""
    return (*pair_logps(gen, 4 + case), (0.1, 0.5, 1.0)[case % 3])


DPO = Spec(
    name="dpo loss",
    signature="fn(chosen_logps [B], rejected_logps [B], ref_chosen_logps [B], ref_rejected_logps [B], beta) -> [B]",
    make=dpo_inputs,
    reference=dpo_loss,
    hint="loss_i = -log sigmoid(beta * [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))]), one "
         "value per pair (no mean)",
    mistakes={
        "sign flip: the margin is chosen minus rejected, and the loss is -log sigmoid(+beta * margin)":
            lambda c, r, rc, rr, beta: dpo_loss(r, c, rr, rc, beta),
        "beta is missing: scale the margin by beta inside the sigmoid":
            lambda c, r, rc, rr, beta: dpo_loss(c, r, rc, rr, 1.0),
        "the reference is added, not subtracted: log pi(y) - log ref(y)":
            lambda c, r, rc, rr, beta: dpo_loss(c, r, -rc, -rr, beta),
        "the reference model is missing: the margin compares log pi(y) - log ref(y) of both answers":
            lambda c, r, rc, rr, beta: dpo_loss(c, r, torch.zeros_like(rc), torch.zeros_like(rr), beta),
    },
)


def rpo_inputs(gen: torch.Generator, case: int) -> tuple:
    """(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps [B], chosen_lengths [B], beta, eta)."""
    batch = 4 + case
    lengths = torch.randint(1, 12, (batch,), generator=gen)
    return (*pair_logps(gen, batch), lengths, (0.1, 0.5, 1.0)[case % 3], (0.005, 0.2, 1.0)[case % 3])


def rpo_spec(reduction: str) -> Spec:
    """RPO in the official code's `reduction` variant ("sum": the paper's runs; "mean": its README)."""
    def ref(c, r, rc, rr, n, beta, eta):
        return rpo_loss(c, r, rc, rr, n, beta, eta, reduction)

    sft_term = ("- beta * eta * log pi(y_w)" if reduction == "sum" else "+ eta * (-log pi(y_w) / |y_w|)")
    mistakes = {
        "the SFT term has the wrong sign: it adds -log pi(y_w) (the chosen answer's NLL)":
            lambda c, r, rc, rr, n, beta, eta: 2 * dpo_loss(c, r, rc, rr, beta).mean() - ref(c, r, rc, rr, n, beta, eta),
        "the SFT term is missing (that is plain DPO): add it on the chosen response":
            lambda c, r, rc, rr, n, beta, eta: dpo_loss(c, r, rc, rr, beta).mean(),
        "RPO's reduction is the other variant: check `reduction` ('sum' scales by beta * eta, 'mean' divides by "
        "|y_w|)": lambda c, r, rc, rr, n, beta, eta: rpo_loss(c, r, rc, rr, n, beta, eta,
                                                                {"sum": "mean", "mean": "sum"}[reduction]),
    }
    if reduction == "sum":
        mistakes["beta is missing from the SFT term: it is beta * eta * (-log pi(y_w))"] = (
            lambda c, r, rc, rr, n, beta, eta: rpo_loss(c, r, rc, rr, n, beta, eta / beta, "sum"))
    return Spec(
        name=f"rpo loss (reduction={reduction})",
        signature="fn(chosen_logps [B], rejected_logps [B], ref_chosen_logps [B], ref_rejected_logps [B], "
                  "chosen_lengths [B], beta, eta) -> scalar",
        make=rpo_inputs, reference=ref, mistakes=mistakes,
        hint=f"mean over pairs of DPO_i {sft_term}, with DPO_i = -log sigmoid(beta * margin_i)",
    )

# ----------------------------------------------------------------------------------------------------
# crlft: reward-weighted NLL (Wang et al. 2309.11235; the official code's normalizations)


def crlft_inputs(gen: torch.Generator, case: int) -> tuple:
    """(logits [B, T, V], labels [B, T], weights [B]: each row's class reward, 1.0 or 0.1)."""
    logits, labels = logits_and_labels(gen, case)
    weights = torch.where(torch.rand(len(labels), generator=gen) < 0.5, 1.0, 0.1)
    weights[0], weights[-1] = 1.0, 0.1  # both classes in every batch
    return logits, labels, weights


def token_count_crlft(logits, labels, weights):
    """Mistake: the weighted sum divided by the answer-token count instead of the total weight."""
    nll, mask = token_nll(logits, labels)
    return (nll * mask * weights[:, None]).sum() / mask.sum()


def crlft_spec(normalization: str) -> Spec:
    """C-RLFT's loss with the official code's `normalization` ("token": default; "sequence": --per-sequence-loss)."""
    def ref(logits, labels, weights):
        return crlft_loss(logits, labels, weights, normalization)

    other = {"token": "sequence", "sequence": "token"}[normalization]
    hint = ("sum_b sum_t w_b m_bt nll_bt / sum_b sum_t w_b m_bt: weight each answer token by its row's reward, "
            "divide by the batch's total weight" if normalization == "token" else
            "sum_b w_b mean_t(nll_bt) / sum_b w_b: each row's mean answer NLL, weighted by its reward")
    return Spec(
        name=f"crlft weighted loss (normalization={normalization})",
        signature="fn(logits [B, T, V], labels [B, T], weights [B]) -> scalar",
        make=crlft_inputs, reference=ref, hint=hint,
        mistakes={
            "divided by the number of answer tokens, not by their total weight": token_count_crlft,
            "the rewards are not applied (that is plain SFT)": lambda logits, labels, weights: ref(
                logits, labels, torch.ones_like(weights)),
            f"normalized per {other}, not per {normalization}": lambda logits, labels, weights: crlft_loss(
                logits, labels, weights, other),
        },
    )

# ----------------------------------------------------------------------------------------------------
# Running a check


def as_tensor(value) -> torch.Tensor:
    """The student's answer as a detached float64 tensor (a Python float or a list is fine too)."""
    if isinstance(value, torch.Tensor):
        return value.detach().double().cpu()
    return torch.as_tensor(value, dtype=torch.float64)


def clone_args(args: tuple) -> tuple:
    """Copies of the tensor inputs, so an in-place edit by one function cannot change the other's inputs."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def describe(args: tuple) -> str:
    """The shapes of a case's tensor inputs, e.g. "[4, 8, 11], [4, 8]" (a list: its length, e.g. "9 items")."""
    return ", ".join(str(list(a.shape)) if isinstance(a, torch.Tensor) else f"{len(a)} items"
                     for a in args if isinstance(a, (torch.Tensor, list)))


def difference(got: torch.Tensor, want: torch.Tensor) -> str | None:
    """None when `got` matches `want`; else what differs: the shape, or the first differing value and the max diff."""
    if got.shape != want.shape:
        return f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    close = torch.isclose(got, want, rtol=RTOL, atol=ATOL)
    if bool(close.all()):
        return None
    first = tuple(int(i) for i in (~close).nonzero()[0])
    where = f" at {list(first)}" if first else ""
    return (f"value{where} {got[first].item():.6g}, expected {want[first].item():.6g} "
            f"(max abs diff {(got - want).abs().nan_to_num(float('inf')).max().item():.3g})")


def diagnose(spec: Spec, args: tuple, got: torch.Tensor) -> str:
    """The hint for an answer that is wrong: the known mistake it matches, else the equation."""
    for hint, wrong in spec.mistakes.items():
        with torch.no_grad():
            if difference(got, as_tensor(wrong(*clone_args(args)))) is None:
                return f"hint: looks like {hint}"
    return f"hint: {spec.hint}"


def run_case(student_fn: Callable, spec: Spec, args: tuple) -> str | None:
    """None if the student's answer matches the library's on one case; else the one-line reason."""
    try:
        got = as_tensor(student_fn(*clone_args(args)))
    except Exception as e:  # noqa: BLE001  (a student's bug is reported, not raised)
        first_line = (str(e).splitlines() or [""])[0]
        return f"your function raised {type(e).__name__}: {first_line} (called as {spec.signature})"
    with torch.no_grad():
        want = as_tensor(spec.reference(*clone_args(args)))
    diff = difference(got, want)
    return None if diff is None else f"{diff}; {diagnose(spec, args, got)}"


def run_check(student_fn: Callable, spec: Spec, seed: int = 0) -> bool:
    """Check `student_fn` against `spec` on `CASES` random batches; print one PASS / FAIL line; return passed."""
    if not callable(student_fn):
        raise SftkitError(f"check the function itself, not its result: got a {type(student_fn).__name__}")
    gen = torch.Generator().manual_seed(seed)
    for case in range(CASES):
        args = spec.make(gen, case)
        reason = run_case(student_fn, spec, args)
        if reason is not None:
            print(f"FAIL {spec.name}, batch {case + 1} of {CASES} (inputs {describe(args)}): {reason}")
            return False
    print(f"PASS {spec.name}: matches sftkit's on {CASES} random batches")
    return True


def check_ntp_loss(student_fn: Callable, seed: int = 0) -> bool:
    """Plain SFT: fn(logits [B, T, V], labels [B, T]) -> scalar token-mean NLL of the answer tokens
    (labels IGNORE elsewhere; logits at t predict the label at t + 1), as `sftkit.losses.ntp_loss`."""
    return run_check(student_fn, SFT, seed)


def check_mixup_loss(student_fn: Callable, seed: int = 0) -> bool:
    """SFTMix (2410.05248): fn(head, hidden [B, T, H], labels [B, T], confident_rows [P], unconfident_rows [P],
    lam [P]) -> scalar, as `sftkit.methods.sftmix.mixup_loss`; `head` is the LM head, a module H -> V."""
    return run_check(student_fn, SFTMIX, seed)


def check_relation_weights(student_fn: Callable, seed: int = 0) -> bool:
    """IFT (2405.11870): fn(nll [B, T], mask [B, T], gamma) -> weights [B, T] for 0 < gamma < 1, as
    `sftkit.methods.ift.relation_weights`."""
    return run_check(student_fn, IFT, seed)


def check_dpo_loss(student_fn: Callable, seed: int = 0) -> bool:
    """DPO (2305.18290): fn(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps [B], beta) -> [B]
    per-pair losses, as `sftkit.losses.dpo_loss`."""
    return run_check(student_fn, DPO, seed)


def check_rpo_loss(student_fn: Callable, reduction: str = "sum", seed: int = 0) -> bool:
    """RPO (2405.16436): fn(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths [B],
    beta, eta) -> scalar, as `sftkit.losses.rpo_loss` with `reduction` ("sum" or "mean")."""
    if reduction not in ("sum", "mean"):
        raise SftkitError(f"unknown RPO reduction {reduction!r}: use 'sum' or 'mean'")
    return run_check(student_fn, rpo_spec(reduction), seed)


def check_crlft_loss(student_fn: Callable, normalization: str = "token", seed: int = 0) -> bool:
    """C-RLFT (2309.11235): fn(logits [B, T, V], labels [B, T], weights [B]) -> scalar, as
    `sftkit.methods.crlft.crlft_loss` with `normalization` ("token" or "sequence")."""
    if normalization not in ("token", "sequence"):
        raise SftkitError(f"unknown C-RLFT normalization {normalization!r}: use 'token' or 'sequence'")
    return run_check(student_fn, crlft_spec(normalization), seed)


CHECKERS: dict[str, Callable[..., bool]] = {
    "sft": check_ntp_loss, "sftmix": check_mixup_loss, "ift": check_relation_weights,
    "dpo": check_dpo_loss, "rpo": check_rpo_loss, "crlft": check_crlft_loss,
}


def check_loss(student_fn: Callable, method: str, **options) -> bool:
    """Check a hand-written loss of a loss-side `method` (a key of `CHECKERS`); `options` go to its checker
    (rpo: reduction; crlft: normalization; all: seed). Prints one PASS / FAIL line and returns passed."""
    if method not in CHECKERS:
        raise SftkitError(f"no exercise checker for {method!r}: use one of {', '.join(CHECKERS)}")
    return CHECKERS[method](student_fn, **options)


# ----------------------------------------------------------------------------------------------------
# The online and data-side methods' pieces: PPO (notebook 07), SuperHF (08), AugCon (09)


def reply_mask(gen: torch.Generator, rows: int, length: int) -> torch.Tensor:
    """mask [N, T] float: 1.0 over each reply's tokens (from position 0, >= 2 of them), 0.0 over padding."""
    mask = torch.zeros(rows, length)
    for r in range(rows):
        mask[r, :randint(gen, 2, length)] = 1.0
    return mask


GAE_SETTINGS = ((1.0, 0.95), (0.9, 0.8), (0.99, 0.95))  # (gamma, lam) per case; PPO's default first


def gae_inputs(gen: torch.Generator, case: int) -> tuple:
    """rewards [N, T] (the task score on the last reply token plus per-token KL penalties), values [N, T], mask
    [N, T], gamma, lam."""
    rows, length = 3 + case, 6 + case
    mask = reply_mask(gen, rows, length)
    return (torch.randn(rows, length, generator=gen) * mask, torch.randn(rows, length, generator=gen), mask,
            *GAE_SETTINGS[case])


def gae_advantages(rewards, values, mask, gamma, lam):
    from .methods.ppo import gae

    return gae(rewards, values, mask, gamma, lam)[0]


def gae_loop(rewards, values, mask, gamma, lam, bootstrap=True, mask_values=True, use_lam=True):
    """Advantages by the backward loop, with one of the known mistakes switched on (tests and hints)."""
    values = values * mask if mask_values else values
    rewards = rewards * mask
    out, last = torch.zeros_like(rewards), torch.zeros(len(rewards))
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] and bootstrap else torch.zeros(len(rewards))
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * (lam if use_lam else 1.0) * last
        out[:, t] = last
    return out * mask


PPO_GAE = Spec(
    name="PPO generalized advantage estimation",
    signature="fn(rewards [N, T], values [N, T], mask [N, T], gamma, lam) -> advantages [N, T]",
    make=gae_inputs,
    reference=gae_advantages,
    hint="from the last token back: delta_t = r_t + gamma V_{t+1} - V_t (V = 0 after the reply's last token), "
         "A_t = delta_t + gamma lam A_{t+1}; 0 on padding",
    mistakes={
        "no bootstrap: delta_t needs + gamma * V_{t+1}": lambda r, v, m, g, lam: gae_loop(r, v, m, g, lam, bootstrap=False),
        "lam is missing: A_t = delta_t + gamma * lam * A_{t+1}": lambda r, v, m, g, lam: gae_loop(r, v, m, g, lam,
                                                                                                  use_lam=False),
        "values after the reply's last token leak in: multiply values by the mask first (V = 0 after the episode)":
            lambda r, v, m, g, lam: gae_loop(r, v, m, g, lam, mask_values=False),
        "the returns (A_t + V_t), not the advantages":
            lambda r, v, m, g, lam: gae_loop(r, v, m, g, lam) + v * m,
    },
)


def surrogate_inputs(gen: torch.Generator, case: int) -> tuple:
    """logp, old_logp, advantages, mask [N, T], clip: the new log-probs differ enough that some ratios clip."""
    rows, length = 3 + case, 6 + case
    old = -torch.rand(rows, length, generator=gen) * 3
    return (old + torch.randn(rows, length, generator=gen) * 0.4, old, torch.randn(rows, length, generator=gen),
            reply_mask(gen, rows, length), (0.2, 0.1, 0.3)[case])


def surrogate_reference(logp, old_logp, advantages, mask, clip):
    from .methods.ppo import policy_loss

    return policy_loss(logp, old_logp, advantages, mask, clip)[0]


def surrogate_with(logp, old_logp, advantages, mask, clip, pick=torch.maximum, clipped=True, masked=True, flip=False):
    """The clipped surrogate with one known mistake switched on (tests and hints)."""
    ratio = torch.exp((old_logp - logp) if flip else (logp - old_logp))
    unclipped = -advantages * ratio
    loss = pick(unclipped, -advantages * ratio.clamp(1 - clip, 1 + clip)) if clipped else unclipped
    return (loss * mask).sum() / mask.sum() if masked else loss.mean()


PPO_SURROGATE = Spec(
    name="PPO clipped surrogate loss",
    signature="fn(logp [N, T], old_logp [N, T], advantages [N, T], mask [N, T], clip) -> scalar",
    make=surrogate_inputs,
    reference=surrogate_reference,
    hint="ratio = exp(logp - old_logp); loss_t = max(-A_t ratio, -A_t clip(ratio, 1 - clip, 1 + clip)); mean over "
         "reply tokens (mask)",
    mistakes={
        "min instead of max: as a loss (negated objective), the pessimistic bound is the max of the two terms":
            lambda *a: surrogate_with(*a, pick=torch.minimum),
        "no clipping: the ratio must be clamped to [1 - clip, 1 + clip] in the second term":
            lambda *a: surrogate_with(*a, clipped=False),
        "the ratio is upside down: exp(logp - old_logp), new over old": lambda *a: surrogate_with(*a, flip=True),
        "padding counts: average over reply tokens only (mask)": lambda *a: surrogate_with(*a, masked=False),
    },
)


def kl_inputs(gen: torch.Generator, case: int) -> tuple:
    """logits [B, T, V] (the LoRA policy), prior_logits [B, T, V] (adapter off, near the policy), mask [B, T]."""
    batch, length, vocab = 2 + case, 5 + case, 7 + case
    prior = torch.randn(batch, length, vocab, generator=gen)
    return prior + torch.randn(batch, length, vocab, generator=gen) * 0.5, prior, reply_mask(gen, batch, length)


def prior_kl_reference(logits, prior_logits, mask):
    from .methods.superhf import prior_kl

    return prior_kl(logits, prior_logits, mask)


def kl_with(logits, prior_logits, mask, reverse=False, mean=True):
    """KL to the prior per reply with one known mistake switched on (tests and hints)."""
    p, q = (logits, prior_logits) if reverse else (prior_logits, logits)
    lp, lq = F.log_softmax(p, -1), F.log_softmax(q, -1)
    per_token = (lp.exp() * (lp - lq)).sum(-1) * mask
    return per_token.sum(1) / (mask.sum(1) if mean else 1.0)


SUPERHF_KL = Spec(
    name="SuperHF KL(prior || policy)",
    signature="fn(logits [B, T, V], prior_logits [B, T, V], mask [B, T]) -> [B]",
    make=kl_inputs,
    reference=prior_kl_reference,
    hint="KL_t = sum_v p_prior(v) (log p_prior(v) - log p_policy(v)) over the whole vocabulary (log_softmax of "
         "each), then per reply the mean over its tokens (mask)",
    mistakes={
        "the direction is reversed: KL(prior || policy) weights by the prior's probabilities":
            lambda lo, pr, m: kl_with(lo, pr, m, reverse=True),
        "a sum over reply tokens: SuperHF averages KL over each reply's tokens": lambda lo, pr, m: kl_with(lo, pr, m, mean=False),
        "one number for the batch: return one KL per reply, [B]": lambda lo, pr, m: kl_with(lo, pr, m).mean(),
    },
)


def scorer_inputs(gen: torch.Generator, case: int) -> tuple:
    """s_pos [P], s_neg [N]: raw scores (the linear head's logits) of positive and negative questions."""
    return torch.randn(4 + case, generator=gen) * 2, torch.randn(6 + case, generator=gen) * 2


def scorer_reference(s_pos, s_neg):
    from .methods.augcon import scorer_loss

    return scorer_loss(s_pos, s_neg)


AUGCON_SCORER = Spec(
    name="AugCon contrastive scorer loss",
    signature="fn(s_pos [P], s_neg [N]) -> scalar",
    make=scorer_inputs,
    reference=scorer_reference,
    hint="L = -mean(sigmoid(s_pos)) + mean(sigmoid(s_neg)): the official head ends in a sigmoid",
    mistakes={
        "no sigmoid: the scores are logits, squash them first": lambda p, n: -p.mean() + n.mean(),
        "the sign is flipped: positives should be pushed up, so their term enters with a minus":
            lambda p, n: p.sigmoid().mean() - n.sigmoid().mean(),
        "Bradley-Terry on the mean scores (exercise 3's loss), not the official one":
            lambda p, n: -F.logsigmoid(p.mean() - n.mean()),
    },
)

TOWNS_ = ("Viga", "Valu", "Poga", "Kudi")
ATTRIBUTES_ = ("ruler", "animal", "colour")


def filter_inputs(gen: torch.Generator, case: int) -> tuple:
    """queries (templated, so that many are near-duplicates), scores, threshold, keep (the budget; None: none)."""
    queries = []
    for _ in range(8 + 2 * case):
        town, attr = TOWNS_[randint(gen, 0, 3)], ATTRIBUTES_[randint(gen, 0, 2)]
        queries.append(("What is the {a} of {t}?", "Tell me about {t}.", "Who or what is the {a} of {t} and why?")
                       [randint(gen, 0, 2)].format(a=attr, t=town))
    scores = torch.rand(len(queries), generator=gen).tolist()
    return queries, scores, (0.7, 0.5, 0.7)[case], (None, 4, 3)[case]


def filter_reference(queries, scores, threshold, keep):
    from .methods.augcon import rouge_l_filter

    return rouge_l_filter(queries, scores, threshold, keep)


def filter_with(queries, scores, threshold, keep, by_score=True, budget=True, sort_out=False):
    """The ROUGE-L filter with one known mistake switched on (tests and hints)."""
    from rouge_score import rouge_scorer

    rouge = rouge_scorer.RougeScorer(["rougeL"])
    order = sorted(range(len(queries)), key=lambda i: -scores[i]) if by_score else range(len(queries))
    kept = []
    for i in order:
        if budget and keep is not None and len(kept) >= keep:
            break
        if max((rouge.score(queries[j], queries[i])["rougeL"].fmeasure for j in kept), default=0.0) <= threshold:
            kept.append(i)
    return sorted(kept) if sort_out else kept


AUGCON_FILTER = Spec(
    name="AugCon ROUGE-L filter",
    signature="fn(queries [list of str], scores [list of float], threshold, keep) -> kept indices, best score first",
    make=filter_inputs,
    reference=filter_reference,
    hint="go through the queries by decreasing score; drop one whose ROUGE-L F (rouge_score's rougeL fmeasure) "
         "with an already kept query exceeds threshold; stop once `keep` are kept (None: no limit)",
    mistakes={
        "the queries are taken in input order: rank them by decreasing score first":
            lambda q, s, t, k: filter_with(q, s, t, k, by_score=False),
        "the budget is ignored: stop once `keep` queries are kept": lambda q, s, t, k: filter_with(q, s, t, k, budget=False),
        "the kept indices are sorted: return them best score first": lambda q, s, t, k: filter_with(q, s, t, k, sort_out=True),
    },
)


def needless_inputs(gen: torch.Generator, case: int) -> tuple:
    """(order [k skill names], word): a chain of the world's string skills; the first two cases hold a needless
    skill (reversing a palindrome; reversing before a letter count, though it changes the word on its own)."""
    from .world.chains import STRING_SKILLS

    words = ("kofa", "abba", "mipu")
    if case == 0:
        return ["reverse", "uppercase"], "abba"
    if case == 1:
        return ["reverse", "length"], "kofa"
    order = [STRING_SKILLS[i] for i in torch.randperm(len(STRING_SKILLS), generator=gen)[:3].tolist()]
    return order, words[randint(gen, 0, 2)]


def needless_reference(order, word):
    from .world.chains import needless

    unneeded = set(needless(order, word))
    return [name in unneeded for name in order]


def needless_alone(order, word):
    """Mistake: a skill is needless when it leaves the input word unchanged on its own (no chain)."""
    from .world import SKILLS

    return [SKILLS[name].answer({"word": word}) == word for name in order]


def needless_vs_word(order, word):
    """Mistake: the chain without skill i compared with the input word instead of the whole chain's answer."""
    from .world.chains import chain_answer

    return [chain_answer(order[:i] + order[i + 1:], word) == word for i in range(len(order))]


SKILLMIX_NEEDLESS = Spec(
    name="Instruct-SkillMix needless skills",
    signature="fn(order [list of skill names], word) -> [k] True where that skill can be dropped",
    make=needless_inputs,
    reference=needless_reference,
    hint="answer = the word after every skill of order in turn (skillmix.chain_answer); skill i is needless when "
         "the chain without it (order[:i] + order[i + 1:]) gives the same answer",
    mistakes={
        "each skill was tried on the word alone: drop it from the chain and compare the chain's final answers":
            needless_alone,
        "compared with the input word: compare with the whole chain's answer": needless_vs_word,
    },
)


def pass_at_k_inputs(gen: torch.Generator, case: int) -> tuple:
    """(n samples, c correct, k) with k > 1, so that pass@k differs from c / n; the last case has n - c < k."""
    return ((10, 3, 5), (8, 2, 3), (6, 5, 2))[case]


def pass_at_k_reference(n, c, k):
    from .sandbox import pass_at_k

    return pass_at_k(n, c, k)


SELFDEBUG_PASS_AT_K = Spec(
    name="unbiased pass@k",
    signature="fn(n, c, k) -> float",
    make=pass_at_k_inputs,
    reference=pass_at_k_reference,
    hint="pass@k = 1 - C(n - c, k) / C(n, k): the chance that k samples drawn WITHOUT replacement from the n "
         "include a correct one (1.0 when n - c < k); math.comb computes C",
    mistakes={
        "the plain success rate c / n: pass@k asks whether ANY of k samples is correct": lambda n, c, k: c / n,
        "1 - (1 - c / n)^k draws with replacement (biased): draw the k samples without replacement":
            lambda n, c, k: 1 - (1 - c / n) ** k,
    },
)

PIECES: dict[str, tuple[Spec, str]] = {  # name -> (spec, the notebook whose exercise it checks)
    "ppo-gae": (PPO_GAE, "07_ppo"),
    "ppo-surrogate": (PPO_SURROGATE, "07_ppo"),
    "superhf-prior-kl": (SUPERHF_KL, "08_superhf"),
    "augcon-scorer-loss": (AUGCON_SCORER, "09_augcon"),
    "augcon-filter": (AUGCON_FILTER, "09_augcon"),
    "skillmix-needless": (SKILLMIX_NEEDLESS, "10_skillmix"),
    "pass-at-k": (SELFDEBUG_PASS_AT_K, "11_selfdebug"),
}


def check_piece(student_fn: Callable, name: str, seed: int = 0) -> bool:
    """Check a hand-written piece of an online or data-side method (a key of `PIECES`) against sftkit's own:
    "ppo-gae" (`methods.ppo.gae`'s advantages), "ppo-surrogate" (`methods.ppo.policy_loss`'s loss),
    "superhf-prior-kl" (`methods.superhf.prior_kl`), "augcon-scorer-loss" (`methods.augcon.scorer_loss`),
    "augcon-filter" (`methods.augcon.rouge_l_filter`), "skillmix-needless" (`methods.skillmix.needless`, as one
    flag per skill of the order), "pass-at-k" (`sandbox.pass_at_k`). Prints one PASS / FAIL line and returns passed."""
    if name not in PIECES:
        raise SftkitError(f"no exercise checker for {name!r}: use one of {', '.join(PIECES)}")
    return run_check(student_fn, PIECES[name][0], seed)
