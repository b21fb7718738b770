"""The suite's one comparison: is arm A above, below, or not distinguishable from arm B?

Every verdict in the notebooks, the leaderboard and the README comes from `compare(a, b)`, where `a` and `b`
are per-item scores of shape (seeds, items) on the SAME items in the same order (0/1 for exact match, a
fraction for partial credit, a pass rate for code). Two sources of noise decide how far apart two arms must be:

* items: the split is a sample of the questions the skill could ask. Because both arms answer the same items,
  the comparison is paired: per item, d_i = mean over A's seeds - mean over B's seeds, and the item part of the
  variance of the difference is var(d_i) / n.
* seeds: a training run is a sample of everything random in training (start model, data draw, batch order).
  The seed part is the sample variance of an arm's seed means (each a mean over the n items), pooled over the
  two arms (under "no difference" they are the same kind of run, and a one-seed side borrows the other side's
  spread): s_seed^2 (1/k_a + 1/k_b). It also carries the seed x item noise that var(d_i) already counts, so
  the interval errs on the wide side. (Subtracting that noise, a two-way method-of-moments split, gave 6.5%
  false "differs" at 3 v 3 seeds and 7.3% at 3 v 1 in `rates`, over the 5% it promises; this gives 2.6% and
  2.4% with 96% power for a 5-point effect at n = 490, 92%, 3 v 3 seeds.)

The standard error of diff = mean(a) - mean(b) is sqrt(item part + seed part); its degrees of freedom come from
Welch-Satterthwaite (item part n - 1, seed part k_a + k_b - 2), so three seeds a side give a wide t interval,
not a normal one. "above"/"below" only when the 95% interval excludes 0. A side whose seeds all repeat the same
per-item outcomes counts as one seed (its seeds vary nothing; seeds that only partly coincide all count), and
with one seed on each side the seed variance is unknown, so the verdict is "inconclusive" whatever the gap.
`mde` is the smallest true difference this design detects with 80% power at the 5% level: (t_{0.975, df} + t_{0.8, df}) x SE.

`holm` corrects a family of p-values (per-skill or per-split breakdowns); `simulate` draws identical or
shifted arms of a given size, for the lesson in notebook 01 and for the tests of this module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

VERDICTS = ("above", "below", "inconclusive")
RULE = ("Every verdict is one paired comparison (sftkit.stats.compare): the difference in mean score over seeds and "
        "items with its 95% interval, which counts both the items (the split is a sample) and the seeds (a run is a "
        "sample of training randomness); 'above' or 'below' only when the interval excludes 0, else 'inconclusive'. "
        "MDE is the smallest difference the design detects with 80% power.")


@dataclass(frozen=True)
class Comparison:
    """The outcome of `compare(a, b)`: fractions in [0, 1] (x 100 for points)."""

    diff: float  # mean(a) - mean(b) over seeds and items
    ci: tuple[float, float]  # 95% interval of diff
    p_value: float  # two-sided, t test with Welch-Satterthwaite degrees of freedom
    mde: float  # smallest |true diff| detected with 80% power at the 5% level
    verdict: str  # "above", "below" or "inconclusive"
    n: int  # items
    seeds: tuple[int, int]  # seeds of a and b (a side whose seeds all repeat one run's outcomes counts 1)
    mean_a: float
    mean_b: float
    se: float
    df: float
    note: str = ""
    share: bool = True  # every score lies in [0, 1] (exact match, a pass rate): ceiling and floor mean something

    @property
    def differs(self) -> bool:
        return self.verdict != "inconclusive"

    @property
    def saturated(self) -> bool:
        """Both arms at or above 95% or at or below 2% of items (a share of n items, so n > 0; scores in [0, 1]):
        no headline comparison belongs on this split. A score on another scale (a reward) is never saturated."""
        return bool(self.n) and self.share and (min(self.mean_a, self.mean_b) >= 0.95 or max(self.mean_a, self.mean_b) <= 0.02)

    def summary(self, unit: str = "points", scale: float = 100.0) -> str:
        """e.g. '+2.1 points [-0.4, +4.6], n = 490 x 3 v 3 seeds, MDE 3.5: inconclusive'."""
        lo, hi = (scale * x for x in self.ci)
        size = f"n = {self.n} x " if self.n else ""  # n = 0: a metric with no items, the seeds alone decide
        text = (f"{scale * self.diff:+.1f} {unit} [{lo:+.1f}, {hi:+.1f}], {size}{self.seeds[0]} v {self.seeds[1]} "
                f"seeds, MDE {scale * self.mde:.1f}: {self.verdict}")
        notes = [self.note] if self.note else []
        if self.saturated:
            notes.append("both arms at the ceiling or floor of this split")
        return text + (f" ({'; '.join(notes)})" if notes else "")

    def sentence(self, a: str, b: str, unit: str = "points", scale: float = 100.0) -> str:
        """e.g. 'SFTMix vs NTP: 82.0 vs 81.6, +0.4 points [-1.9, +2.7], n = 490 x 3 v 3 seeds, MDE 3.2: inconclusive.'"""
        return f"{a} vs {b}: {scale * self.mean_a:.1f} vs {scale * self.mean_b:.1f}, {self.summary(unit, scale)}."

    def __str__(self) -> str:
        return self.summary()


def _one_run_if_constant(x: np.ndarray) -> np.ndarray:
    """x (seeds, items), or its first row alone when every seed repeats the same per-item outcomes (seeds that
    vary nothing are one run). Seeds that merely coincide, e.g. two runs both at 100% on a small split, keep
    their weight: dropping them would move the arm's mean towards its other seeds."""
    return x[:1] if (x == x[0]).all() else x


def seed_variance(seed_means: np.ndarray) -> tuple[float, int]:
    """(sample variance, degrees of freedom) of one arm's seed means (each a mean over items): 0 and 0 df for
    one seed. It also carries the seed x item noise that var(d_i) counts, which makes the interval slightly
    conservative (the tests measure how much)."""
    k = len(seed_means)
    return (float(np.var(seed_means, ddof=1)), k - 1) if k > 1 else (0.0, 0)


def as_table(x, name: str) -> np.ndarray:
    """Per-item scores as a float array (seeds, items); a 1-D array is one seed."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(f"{name}: per-item scores must have shape (seeds, items) with at least 2 items, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: per-item scores must be finite")
    return arr


def compare(a, b, alpha: float = 0.05, power: float = 0.8) -> Comparison:
    """Compare arm `a` with arm `b`: per-item scores of shape (seeds, items) on the same items (seed counts
    may differ). See the module docstring for the model; returns a `Comparison`."""
    a, b = as_table(a, "a"), as_table(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must score the same items: {a.shape[1]} vs {b.shape[1]} items")
    a, b = _one_run_if_constant(a), _one_run_if_constant(b)
    n = a.shape[1]
    item_part = float((a.mean(0) - b.mean(0)).var(ddof=1)) / n
    return _judge(a.mean(1), b.mean(1), item_part, n, alpha, power, share=_shares(a, b))


def _shares(*arrays: np.ndarray) -> bool:
    """Whether every score lies in [0, 1]."""
    return all(bool(((x >= 0) & (x <= 1)).all()) for x in arrays)


def compare_means(a, b, n: int | None = None, alpha: float = 0.05, power: float = 0.8,
                  why: str = "per-item outcomes not saved") -> Comparison:
    """`compare` for results that kept only one mean per seed (`a`, `b`: seed means, fractions) on n items:
    rows saved before per-item outcomes, or a metric with no items. Unpaired and conservative: the item part
    is p_a(1 - p_a)/n + p_b(1 - p_b)/n (binomial, as if the arms shared no items), 0 when n is None (the seed
    spread alone decides). The comparison's note says it is unpaired and `why` (e.g. "different splits")."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if not len(a) or not len(b):
        raise ValueError("compare_means needs at least one seed a side")
    item_part = 0.0
    if n:
        pa, pb = (float(np.clip(x.mean(), 0, 1)) for x in (a, b))
        item_part = (pa * (1 - pa) + pb * (1 - pb)) / n
    if len(set(a)) == 1:  # seeds that vary nothing count once
        a = a[:1]
    if len(set(b)) == 1:
        b = b[:1]
    return _judge(a, b, item_part, n or 0, alpha, power,
                  note=f"unpaired: {why}" + ("" if n else ", n unknown (seed spread only)"), share=_shares(a, b))


def _judge(seed_means_a: np.ndarray, seed_means_b: np.ndarray, item_part: float, n: int, alpha: float,
           power: float, note: str = "", share: bool = True) -> Comparison:
    """The interval, p-value, MDE and verdict from the seed means of each arm and the item part of the variance."""
    ka, kb = len(seed_means_a), len(seed_means_b)
    diff = float(seed_means_a.mean() - seed_means_b.mean())
    (va, dfa), (vb, dfb) = seed_variance(seed_means_a), seed_variance(seed_means_b)
    df_seed = dfa + dfb
    common = dict(diff=diff, n=n, seeds=(ka, kb), mean_a=float(seed_means_a.mean()), mean_b=float(seed_means_b.mean()),
                  share=share)
    notes = [note] if note else []
    if df_seed == 0:
        return Comparison(ci=(-math.inf, math.inf), p_value=math.nan, mde=math.inf, verdict="inconclusive",
                          se=math.inf, df=0.0, note="; ".join(notes + ["one seed a side: the seed-to-seed variance "
                                                                         "is unknown"]), **common)
    if min(ka, kb) == 1:
        notes.append("one side has one seed: the other side's seeds estimate the seed variance")
    seed_part = (dfa * va + dfb * vb) / df_seed * (1 / ka + 1 / kb)
    var = item_part + seed_part
    if var == 0:  # the arms agree on every item in every seed
        return Comparison(ci=(diff, diff), p_value=1.0 if diff == 0 else 0.0, mde=0.0,
                          verdict="inconclusive" if diff == 0 else ("above" if diff > 0 else "below"),
                          se=0.0, df=math.inf, note="; ".join(notes), **common)
    df = var ** 2 / ((item_part ** 2 / (n - 1) if n > 1 else 0.0) + seed_part ** 2 / df_seed)
    se = math.sqrt(var)
    t = _scipy.t.ppf(1 - alpha / 2, df)
    ci = (diff - t * se, diff + t * se)
    verdict = "above" if ci[0] > 0 else "below" if ci[1] < 0 else "inconclusive"
    return Comparison(ci=ci, p_value=float(2 * _scipy.t.sf(abs(diff) / se, df)),
                      mde=float((t + _scipy.t.ppf(power, df)) * se), verdict=verdict, se=se, df=float(df),
                      note="; ".join(notes), **common)


def holm(p_values) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (compare each with 0.05): a family of tests,
    e.g. one per skill, keeps its chance of any false "differs" at 5%."""
    p = [1.0 if math.isnan(x) else float(x) for x in p_values]
    order = sorted(range(len(p)), key=p.__getitem__)
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def simulate(n: int = 490, accuracy: float = 0.92, seed_sd: float = 0.01, seeds_a: int = 3, seeds_b: int = 3,
             effect: float = 0.0, item_sd: float = 1.5, rng: np.random.Generator | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One draw of two arms' per-item outcomes (seeds, items) on the same n items.

    Items differ in difficulty (logit ~ Normal(m, item_sd), m set so the mean accuracy is `accuracy`); each seed
    shifts an arm's logits by Normal(0, s) with s chosen so its mean accuracy moves by about `seed_sd` from seed
    to seed; each (seed, item) outcome is then a coin flip. Arm a is `effect` higher in mean accuracy (applied on
    the logit scale). effect=0 draws two identical methods: any verdict other than "inconclusive" is false.
    """
    rng = np.random.default_rng(rng)
    z = rng.normal(0.0, item_sd, n)
    shift = _logit_shift(z, accuracy)
    slope = float(np.mean(_sigmoid(z + shift) * (1 - _sigmoid(z + shift))))
    logit = z + shift
    bump = _logit_shift(z, accuracy + effect) - shift if effect else 0.0

    def arm(k: int, extra: float) -> np.ndarray:
        drift = rng.normal(0.0, seed_sd / slope, (k, 1))
        return (rng.random((k, n)) < _sigmoid(logit + extra + drift)).astype(float)

    return arm(seeds_a, bump), arm(seeds_b, 0.0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _logit_shift(z: np.ndarray, accuracy: float) -> float:
    """The shift m with mean(sigmoid(z + m)) = accuracy (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(_sigmoid(z + mid)) < accuracy else (lo, mid)
    return (lo + hi) / 2


def old_rule_differs(a, b) -> bool:
    """The rule this suite used before `compare` (kept for the lesson in notebook 01 only): "differs" when
    |mean(a) - mean(b)| > max(std(a), std(b)) over seed means, std 0 for a single seed."""
    ma, mb = np.asarray(a, float).mean(1), np.asarray(b, float).mean(1)
    spread = max(ma.std(ddof=1) if len(ma) > 1 else 0.0, mb.std(ddof=1) if len(mb) > 1 else 0.0)
    return bool(abs(ma.mean() - mb.mean()) > spread)


def rates(trials: int = 2000, rng: int = 0, **design) -> dict[str, float]:
    """Share of `trials` simulated designs (`simulate(**design)`) that `compare` calls "above"/"below", that the
    old rule calls different, and the median MDE: with effect=0 the false-positive rates, else the power."""
    gen = np.random.default_rng(rng)
    new = old = 0
    mdes = []
    for _ in range(trials):
        a, b = simulate(rng=gen, **design)
        c = compare(a, b)
        new += c.differs
        old += old_rule_differs(a, b)
        mdes.append(c.mde)
    return {"compare": new / trials, "old_rule": old / trials, "median_mde": float(np.median(mdes))}


def interval(x, alpha: float = 0.05) -> tuple[float, tuple[float, float]]:
    """One arm's mean score and its (1 - alpha) interval, from per-item scores (seeds, items), with `compare`'s
    model for one arm: item part var(per-item seed means) / n, seed part var(seed means) / k (seeds that all repeat
    the same outcomes count once), Welch-Satterthwaite degrees of freedom. One seed: the item part alone."""
    x = _one_run_if_constant(as_table(x, "x"))
    k, n = x.shape
    item_part = float(x.mean(0).var(ddof=1)) / n
    seed_var, df_seed = seed_variance(x.mean(1))
    seed_part = seed_var / k
    mean, var = float(x.mean()), item_part + seed_part
    if var == 0:
        return mean, (mean, mean)
    df = var ** 2 / (item_part ** 2 / (n - 1) + (seed_part ** 2 / df_seed if df_seed else 0.0))
    half = float(_scipy.t.ppf(1 - alpha / 2, df)) * math.sqrt(var)
    return mean, (mean - half, mean + half)
