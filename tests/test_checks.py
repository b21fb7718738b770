"""Every exercise checker accepts a right answer and rejects wrong ones with a one-line message.

The right answers here are written from the papers' equations with plain loops, not by calling sftkit."""
import json
import math
import re
from pathlib import Path

import pytest
import torch

from sftkit import checks
from sftkit.checks import (
    CHECKERS,
    check_crlft_loss,
    check_dpo_loss,
    check_loss,
    check_mixup_loss,
    check_ntp_loss,
    check_relation_weights,
    check_rpo_loss,
)
from sftkit.io import SftkitError

IGNORE = -100


def nll_at(logits_row: torch.Tensor, token: int) -> torch.Tensor:
    """-log softmax(logits_row)[token]."""
    return -torch.log_softmax(logits_row, -1)[token]


def answer_positions(labels_row: torch.Tensor) -> list[int]:
    """Positions t whose logits predict an answer token (labels[t + 1] != IGNORE)."""
    return [t for t in range(len(labels_row) - 1) if labels_row[t + 1] != IGNORE]


# --- the right answers ------------------------------------------------------------------------------


def sft_solution(logits, labels):
    """L = (1 / #answer tokens) sum_{b, t} -log p(y_{b, t+1} | y_{b, <=t})."""
    terms = [nll_at(logits[b, t], labels[b, t + 1]) for b in range(len(labels)) for t in answer_positions(labels[b])]
    return torch.stack(terms).mean()


def mixup_solution(head, hidden, labels, confident_rows, unconfident_rows, lam):
    """SFTMix: per pair, Z = lam Z^c + (1 - lam) Z^u over the aligned answer positions (shorter answer's length),
    loss lam CE(head(Z), y^c) + (1 - lam) CE(head(Z), y^u), averaged over all mixed positions."""
    terms = []
    for c, u, w in zip(confident_rows.tolist(), unconfident_rows.tolist(), lam.tolist()):
        pos_c, pos_u = answer_positions(labels[c]), answer_positions(labels[u])
        for tc, tu in zip(pos_c, pos_u):
            z = head(w * hidden[c, tc] + (1 - w) * hidden[u, tu])
            terms.append(w * nll_at(z, labels[c, tc + 1]) + (1 - w) * nll_at(z, labels[u, tu + 1]))
    return torch.stack(terms).mean()


def ift_solution(nll, mask, gamma):
    """IFT: R_t = sum_{i >= t} gamma^(i - t) l_i / N, w_t = N R_t / sum_s R_s on answer tokens, 0 elsewhere."""
    weights = torch.zeros_like(nll)
    for b in range(len(nll)):
        answer = [t for t in range(nll.size(1)) if mask[b, t] > 0]
        n = len(answer)
        r = {t: sum(gamma ** (i - t) * nll[b, i].item() for i in answer if i >= t) / n for t in answer}
        total = sum(r.values())
        for t in answer:
            weights[b, t] = n * r[t] / total
    return weights


def neg_log_sigmoid(x: float) -> float:
    return math.log1p(math.exp(-x)) if x > 0 else -x + math.log1p(math.exp(x))


def dpo_solution(chosen, rejected, ref_chosen, ref_rejected, beta):
    """DPO Eq. 7: -log sigmoid(beta [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))]) per pair."""
    return torch.tensor([neg_log_sigmoid(beta * ((c - rc) - (r - rr)))
                         for c, r, rc, rr in zip(chosen.tolist(), rejected.tolist(), ref_chosen.tolist(),
                                                 ref_rejected.tolist())])


def rpo_sum_solution(chosen, rejected, ref_chosen, ref_rejected, lengths, beta, eta):
    """RPO, the paper's runs: mean_i [DPO_i + beta eta (-log pi(y_w,i))]."""
    dpo = dpo_solution(chosen, rejected, ref_chosen, ref_rejected, beta)
    return sum(d + beta * eta * -c for d, c in zip(dpo.tolist(), chosen.tolist())) / len(chosen)


def rpo_mean_solution(chosen, rejected, ref_chosen, ref_rejected, lengths, beta, eta):
    """RPO, the official README's variant: mean_i DPO_i + eta mean_i [-log pi(y_w,i) / |y_w,i|]."""
    dpo = dpo_solution(chosen, rejected, ref_chosen, ref_rejected, beta)
    sft = [-c / n for c, n in zip(chosen.tolist(), lengths.tolist())]
    return sum(dpo.tolist()) / len(dpo) + eta * sum(sft) / len(sft)


def crlft_token_solution(logits, labels, weights):
    """C-RLFT: sum_{b, t} w_b nll_bt / sum_{b, t} w_b over answer tokens."""
    num = den = 0.0
    for b in range(len(labels)):
        for t in answer_positions(labels[b]):
            num += weights[b].item() * nll_at(logits[b, t], labels[b, t + 1]).item()
            den += weights[b].item()
    return num / den


def crlft_sequence_solution(logits, labels, weights):
    """C-RLFT with --per-sequence-loss: sum_b w_b mean_t nll_bt / sum_b w_b."""
    num = den = 0.0
    for b in range(len(labels)):
        nll = [nll_at(logits[b, t], labels[b, t + 1]).item() for t in answer_positions(labels[b])]
        num += weights[b].item() * sum(nll) / len(nll)
        den += weights[b].item()
    return num / den


# --- wrong answers: the mistakes students make ------------------------------------------------------


def sft_no_mask(logits, labels):
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].clamp(min=0).flatten())


def sft_sum(logits, labels):
    return sft_solution(logits, labels) * sum(len(answer_positions(row)) for row in labels)


def mixup_swapped_lam(head, hidden, labels, c, u, lam):
    return mixup_solution(head, hidden, labels, c, u, 1 - lam)


def ift_no_discount(nll, mask, gamma):
    return ift_solution(nll, mask, 1.0)


def dpo_sign_flip(chosen, rejected, ref_chosen, ref_rejected, beta):
    return dpo_solution(rejected, chosen, ref_rejected, ref_chosen, beta)


def dpo_batch_mean(chosen, rejected, ref_chosen, ref_rejected, beta):
    return dpo_solution(chosen, rejected, ref_chosen, ref_rejected, beta).mean()


def rpo_sft_sign(chosen, rejected, ref_chosen, ref_rejected, lengths, beta, eta):
    return rpo_sum_solution(-chosen, rejected, ref_chosen - 2 * chosen, ref_rejected, lengths, beta, eta)


def crlft_no_rewards(logits, labels, weights):
    return crlft_token_solution(logits, labels, torch.ones_like(weights))


RIGHT = [
    (check_ntp_loss, {}, sft_solution),
    (check_mixup_loss, {}, mixup_solution),
    (check_relation_weights, {}, ift_solution),
    (check_dpo_loss, {}, dpo_solution),
    (check_rpo_loss, {"reduction": "sum"}, rpo_sum_solution),
    (check_rpo_loss, {"reduction": "mean"}, rpo_mean_solution),
    (check_crlft_loss, {"normalization": "token"}, crlft_token_solution),
    (check_crlft_loss, {"normalization": "sequence"}, crlft_sequence_solution),
]

WRONG = [  # (checker, options, wrong answer, what the FAIL line must say)
    (check_ntp_loss, {}, sft_no_mask, "IGNORE"),
    (check_ntp_loss, {}, sft_sum, "a sum instead of a mean"),
    (check_mixup_loss, {}, mixup_swapped_lam, "swapped"),
    (check_relation_weights, {}, ift_no_discount, "no discount"),
    (check_dpo_loss, {}, dpo_sign_flip, "sign flip"),
    (check_dpo_loss, {}, dpo_batch_mean, "shape (), expected (4,)"),
    (check_rpo_loss, {"reduction": "sum"}, rpo_sft_sign, "wrong sign"),
    (check_rpo_loss, {"reduction": "sum"}, rpo_mean_solution, "other variant"),
    (check_crlft_loss, {"normalization": "token"}, crlft_no_rewards, "rewards are not applied"),
    (check_crlft_loss, {"normalization": "token"}, crlft_sequence_solution, "normalized per sequence"),
]


@pytest.mark.parametrize("checker, options, solution", RIGHT, ids=lambda x: getattr(x, "__name__", str(x)))
def test_checker_accepts_the_solution(checker, options, solution, capsys):
    assert checker(solution, **options)
    out = capsys.readouterr().out
    assert out.startswith("PASS ") and out.count("\n") == 1


@pytest.mark.parametrize("checker, options, wrong, says", WRONG, ids=lambda x: getattr(x, "__name__", str(x)))
def test_checker_rejects_a_wrong_answer(checker, options, wrong, says, capsys):
    assert not checker(wrong, **options)
    out = capsys.readouterr().out
    assert out.startswith("FAIL ") and out.count("\n") == 1 and says in out, out


SPECS = [checks.SFT, checks.SFTMIX, checks.IFT, checks.DPO, *(checks.rpo_spec(r) for r in ("sum", "mean")),
         *(checks.crlft_spec(n) for n in ("token", "sequence"))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_known_mistake_fails_with_its_own_hint(spec, capsys):
    for hint, wrong in spec.mistakes.items():
        assert not checks.run_check(wrong, spec), hint
        out = capsys.readouterr().out
        assert hint in out, (hint, out)


def test_a_value_mismatch_names_the_position_and_the_max_diff(capsys):
    assert not check_dpo_loss(lambda c, r, rc, rr, beta: dpo_solution(c, r, rc, rr, beta) + 0.5)
    out = capsys.readouterr().out
    assert "value at [0]" in out and "max abs diff 0.5" in out and "hint: loss_i = -log sigmoid" in out


def test_a_crashing_answer_is_a_fail_line_not_an_exception(capsys):
    assert not check_ntp_loss(lambda logits: logits.sum())
    out = capsys.readouterr().out
    assert out.startswith("FAIL ") and "raised TypeError" in out and "fn(logits [B, T, V], labels [B, T])" in out


def test_check_loss_dispatches_and_refuses_unknown_methods(capsys):
    assert set(CHECKERS) == {"sft", "sftmix", "ift", "dpo", "rpo", "crlft"}
    assert check_loss(dpo_solution, "dpo") and check_loss(rpo_mean_solution, "rpo", reduction="mean")
    with pytest.raises(SftkitError, match="no exercise checker for 'ppo': use one of sft, sftmix"):
        check_loss(dpo_solution, "ppo")
    with pytest.raises(SftkitError, match="not its result"):
        check_loss(torch.tensor(1.0), "sft")
    with pytest.raises(SftkitError, match="unknown RPO reduction"):
        check_rpo_loss(rpo_sum_solution, reduction="median")


# --- the online and data-side methods' pieces (notebooks 07-09), answers written from the papers' equations ---


def gae_solution(rewards, values, mask, gamma, lam):
    """GAE (Schulman et al. 2016), one reply at a time: V = 0 after its last token; A_t = sum_l (gamma lam)^l delta_{t+l}."""
    out = torch.zeros_like(rewards)
    for n in range(len(rewards)):
        length = int(mask[n].sum())
        v = [values[n, t].item() for t in range(length)] + [0.0]
        deltas = [rewards[n, t].item() + gamma * v[t + 1] - v[t] for t in range(length)]
        for t in range(length):
            out[n, t] = sum((gamma * lam) ** k * deltas[t + k] for k in range(length - t))
    return out


def surrogate_solution(logp, old_logp, advantages, mask, clip):
    """PPO (Schulman et al. 2017), as a loss: mean over reply tokens of -min(r A, clip(r) A)."""
    terms = []
    for n, t in mask.nonzero().tolist():
        r, a = math.exp(logp[n, t] - old_logp[n, t]), advantages[n, t].item()
        terms.append(-min(r * a, min(max(r, 1 - clip), 1 + clip) * a))
    return sum(terms) / len(terms)


def prior_kl_solution(logits, prior_logits, mask):
    """SuperHF: per reply, mean over its tokens of sum_v p_prior(v) log(p_prior(v) / p_policy(v))."""
    out = []
    for b in range(len(logits)):
        kls = []
        for t in mask[b].nonzero().flatten().tolist():
            p, q = torch.softmax(prior_logits[b, t], -1), torch.softmax(logits[b, t], -1)
            kls.append(sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist())))
        out.append(sum(kls) / len(kls))
    return out


def scorer_solution(s_pos, s_neg):
    """AugCon's official scorer loss: -mean(sigmoid(s+)) + mean(sigmoid(s-))."""
    sig = lambda x: 1 / (1 + math.exp(-x))
    return -sum(map(sig, s_pos.tolist())) / len(s_pos) + sum(map(sig, s_neg.tolist())) / len(s_neg)


def filter_solution(queries, scores, threshold, keep):
    """AugCon's filter: best score first, skip near-duplicates of kept queries (ROUGE-L F > threshold), stop at keep."""
    from rouge_score import rouge_scorer

    rouge, kept = rouge_scorer.RougeScorer(["rougeL"]), []
    for i in sorted(range(len(queries)), key=lambda i: -scores[i]):
        if keep is not None and len(kept) == keep:
            break
        if all(rouge.score(queries[j], queries[i])["rougeL"].fmeasure <= threshold for j in kept):
            kept.append(i)
    return kept


PIECE_RIGHT = [("ppo-gae", gae_solution), ("ppo-surrogate", surrogate_solution), ("superhf-prior-kl", prior_kl_solution),
               ("augcon-scorer-loss", scorer_solution), ("augcon-filter", filter_solution)]

PIECE_WRONG = [  # (piece, wrong answer, what the FAIL line must say)
    ("ppo-gae", lambda r, v, m, g, lam: gae_solution(r, v, m, g, 1.0), "lam is missing"),
    ("ppo-gae", lambda r, v, m, g, lam: gae_solution(r, v, m, g, lam) + v * m, "the returns"),
    ("ppo-surrogate", lambda lp, old, a, m, c: surrogate_solution(lp, old, a, m, 100.0), "no clipping"),
    ("ppo-surrogate", lambda lp, old, a, m, c: surrogate_solution(old, lp, a, m, c), "upside down"),
    ("superhf-prior-kl", lambda lo, pr, m: prior_kl_solution(pr, lo, m), "direction is reversed"),
    ("superhf-prior-kl", lambda lo, pr, m: sum(prior_kl_solution(lo, pr, m)) / len(lo), "one KL per reply"),
    ("augcon-scorer-loss", lambda p, n: -scorer_solution(p, n), "sign is flipped"),
    ("augcon-filter", lambda q, s, t, k: filter_solution(q, list(range(len(q), 0, -1)), t, k), "input order"),
    ("augcon-filter", lambda q, s, t, k: filter_solution(q, s, t, None), "budget is ignored"),
    ("augcon-filter", lambda q, s, t, k: sorted(filter_solution(q, s, t, k)), "best score first"),
]


@pytest.mark.parametrize("piece, solution", PIECE_RIGHT, ids=[p for p, _ in PIECE_RIGHT])
def test_piece_checker_accepts_the_solution_and_sftkits_own(piece, solution, capsys):
    assert checks.check_piece(solution, piece)
    spec = checks.PIECES[piece][0]
    assert checks.check_piece(spec.reference, piece)
    out = capsys.readouterr().out
    assert out.startswith("PASS ") and out.count("\n") == 2


@pytest.mark.parametrize("piece, wrong, says", PIECE_WRONG, ids=[f"{p}-{s}" for p, _, s in PIECE_WRONG])
def test_piece_checker_rejects_a_wrong_answer_with_a_hint(piece, wrong, says, capsys):
    assert not checks.check_piece(wrong, piece)
    out = capsys.readouterr().out
    assert out.startswith("FAIL ") and out.count("\n") == 1 and says in out and "hint:" in out, out


@pytest.mark.parametrize("piece", list(checks.PIECES))
def test_every_known_mistake_of_a_piece_fails_with_its_own_hint(piece, capsys):
    spec = checks.PIECES[piece][0]
    for hint, wrong in spec.mistakes.items():
        assert not checks.run_check(wrong, spec), hint
        assert hint in capsys.readouterr().out


def test_check_piece_refuses_unknown_names():
    with pytest.raises(SftkitError, match="no exercise checker for 'ppo': use one of ppo-gae"):
        checks.check_piece(gae_solution, "ppo")


# --- notebooks 10-11 ---


def needless_solution(order, word):
    """Instruct-SkillMix in the tiny world: skill i is needless when the chain without it gives the same answer."""
    from functools import reduce

    from sftkit.world import SKILLS

    def run(skills):
        return reduce(lambda w, name: SKILLS[name].answer({"word": w}), skills, word)

    return [run(order[:i] + order[i + 1:]) == run(order) for i in range(len(order))]


def pass_at_k_solution(n, c, k):
    """Chen et al. (2021): 1 - C(n - c, k) / C(n, k)."""
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize("piece, solution, wrong, says", [
    ("skillmix-needless", needless_solution, lambda order, word: [False] * len(order), "hint:"),
    ("pass-at-k", pass_at_k_solution, lambda n, c, k: c / n, "plain success rate"),
    ("pass-at-k", pass_at_k_solution, lambda n, c, k: 1 - (1 - c / n) ** k, "with replacement"),
])
def test_notebook_10_and_11_pieces(piece, solution, wrong, says, capsys):
    assert checks.check_piece(solution, piece) and checks.check_piece(checks.PIECES[piece][0].reference, piece)
    assert not checks.check_piece(wrong, piece)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS") and out[2].startswith("FAIL") and says in out[2], out


def test_pass_at_k_by_hand():
    """n = 4, c = 1, k = 2: 1 - C(3, 2) / C(4, 2) = 1 - 3/6 = 0.5; k = 1 is c / n."""
    from sftkit.sandbox import pass_at_k

    assert pass_at_k(4, 1, 2) == pytest.approx(0.5) and pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(3, 2, 2) == 1.0


# --- every method notebook has an exercise with a checker, and its worked solution passes ---

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
METHOD_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if 1 <= int(p.name[:2]) <= 11)


def checked_solution(path: Path) -> str | None:
    """The worked solution's code of a notebook's "Check yourself" exercise (None when it has none)."""
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "Check yourself" in source:
            found = re.search(r"<summary>Solution</summary>\s*```python\n(.*?)```", source[source.index("Check yourself"):],
                              re.S)
            return found.group(1) if found else None
    return None


def test_the_method_notebooks_are_all_there():
    assert len(METHOD_NOTEBOOKS) >= 10, METHOD_NOTEBOOKS


@pytest.mark.parametrize("name", METHOD_NOTEBOOKS)
def test_each_method_notebook_has_a_checked_exercise_whose_solution_passes(name, capsys):
    code = checked_solution(NOTEBOOKS / name)
    assert code, f"{name}: no 'Check yourself' exercise with a worked solution"
    assert "check_loss(" in code or "check_piece(" in code
    exec(compile(code, name, "exec"), {"__name__": "solution"})  # noqa: S102  (our own notebook's solution)
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith("PASS") for line in out), out


EDITABLE_FINDER = '''
import importlib.util, sys
from pathlib import Path

SOURCE = Path(sys.argv[1])
sys.meta_path = [f for f in sys.meta_path if "sftkit" not in getattr(f, "__module__", "")]  # the venv's own


class Editable:  # as setuptools' finder for `pip install -e .`: sftkit's modules from SOURCE, after the path finder
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] != "sftkit":
            return None
        base = SOURCE.joinpath(*name.split(".")[1:])
        if (base / "__init__.py").exists():
            return importlib.util.spec_from_file_location(name, base / "__init__.py", submodule_search_locations=[str(base)])
        if base.with_suffix(".py").exists():
            return importlib.util.spec_from_file_location(name, base.with_suffix(".py"))
        return None


sys.meta_path.append(Editable)
from sftkit.checks import check_loss
'''


def test_importing_from_the_folder_holding_a_clone_is_one_clear_error(tmp_path):
    """Python started in the folder that holds a clone named sftkit, with an editable install: `sftkit` is the
    clone's folder (a namespace package) and `sftkit.data` its data/ folder. The error says so instead of
    "cannot import name 'IGNORE' from 'sftkit.data' (unknown location)"."""
    import os
    import subprocess
    import sys

    (tmp_path / "sftkit" / "data").mkdir(parents=True)  # the clone: its data/ folder, no __init__.py
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", EDITABLE_FINDER, str(Path(checks.__file__).parent)], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last == (f"ImportError: `import sftkit` found the folder {tmp_path / 'sftkit'} (a clone named sftkit in the "
                    "current directory), not the package inside it: start Python from inside the clone (or from any "
                    "other folder)"), out.stderr
