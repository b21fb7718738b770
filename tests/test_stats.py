"""`sftkit.stats.compare`, the suite's one comparison: hand-computed values, the null and power simulations the
issue sets as acceptance, and the retired rule's false-positive rate for contrast."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from sftkit import stats


def test_compare_by_hand():
    a = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]], float)  # seed means 0.75, 0.5, 1.0
    b = np.array([[0, 1, 0, 0], [0, 1, 0, 1]], float)  # seed means 0.25, 0.5
    c = stats.compare(a, b)
    d = a.mean(0) - b.mean(0)
    item = d.var(ddof=1) / 4
    pooled = (2 * np.var([0.75, 0.5, 1.0], ddof=1) + 1 * np.var([0.25, 0.5], ddof=1)) / 3
    seed = pooled * (1 / 3 + 1 / 2)
    df = (item + seed) ** 2 / (item ** 2 / 3 + seed ** 2 / 3)
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(item + seed)
    assert c.diff == pytest.approx(0.75 - 0.375)
    assert c.ci == pytest.approx((c.diff - half, c.diff + half))
    assert c.df == pytest.approx(df) and c.n == 4 and c.seeds == (3, 2)
    assert c.mde == pytest.approx((scipy_stats.t.ppf(0.975, df) + scipy_stats.t.ppf(0.8, df)) * math.sqrt(item + seed))
    assert c.verdict == ("above" if c.ci[0] > 0 else "inconclusive")
    assert c.p_value == pytest.approx(2 * scipy_stats.t.sf(c.diff / math.sqrt(item + seed), df))
    assert stats.compare(b, a).diff == pytest.approx(-c.diff) and stats.compare(b, a).ci[1] == pytest.approx(-c.ci[0])


def test_printed_verdict_shows_difference_interval_n_and_mde():
    a, b = stats.simulate(effect=0.05, rng=3)
    text = stats.compare(a, b).summary()
    assert text.startswith("+") and "points [" in text and "n = 490 x 3 v 3 seeds, MDE " in text
    assert text.endswith(": above")


def test_one_seed_a_side_is_never_certain_and_repeated_seeds_count_once():
    a, b = stats.simulate(effect=0.2, seeds_a=1, seeds_b=1, rng=0)
    c = stats.compare(a, b)
    assert c.verdict == "inconclusive" and math.isinf(c.mde) and "unknown" in c.note
    # three "seeds" that repeat one run's outcomes (e.g. 16 pairs = one batch) are one seed
    a3, b3 = np.repeat(a, 3, axis=0), np.repeat(b, 3, axis=0)
    assert stats.compare(a3, b3).verdict == "inconclusive" and stats.compare(a3, b3).seeds == (1, 1)


def test_seeds_that_only_partly_coincide_all_count():
    # two of three seeds at 100% on 4 items, one at 50%: the arm's mean is 5/6, not the mean of the distinct rows
    a = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 1, 0]])
    b = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    c = stats.compare(a, b)
    assert c.seeds == (3, 3)
    assert c.mean_a == pytest.approx(10 / 12) and c.diff == pytest.approx(10 / 12 - 3 / 12)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same items"):
        stats.compare(np.ones((3, 10)), np.ones((3, 11)))
    with pytest.raises(ValueError, match="shape"):
        stats.compare(np.ones((2, 3, 4)), np.ones((3, 4)))


def test_holm_by_hand():
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert stats.holm([]) == []


def test_compare_means_is_unpaired_and_says_so():
    c = stats.compare_means([0.90, 0.92, 0.94], [0.50, 0.52, 0.54], n=490)
    item = (0.92 * 0.08 + 0.52 * 0.48) / 490
    assert c.verdict == "above" and "unpaired" in c.note
    assert c.se == pytest.approx(math.sqrt(item + 0.02 ** 2 * (2 / 3)))
    assert stats.compare_means([0.3, 0.3], [0.2, 0.2]).verdict == "inconclusive"  # seeds that vary nothing


@pytest.mark.slow
@pytest.mark.parametrize("seeds_b", [3, 1])
def test_identical_arms_at_the_test_split_size_are_rarely_called_different(seeds_b):
    """The issue's acceptance: n = 490 items at 92%, seed-to-seed sd 1 point, at most 6% false "above"/"below"
    at 3 v 3 and 3 v 1 seeds (the retired rule: about 21% and 48%)."""
    r = stats.rates(1500, seeds_a=3, seeds_b=seeds_b, rng=seeds_b)
    assert r["compare"] <= 0.06
    assert r["old_rule"] >= (0.15 if seeds_b == 3 else 0.4)


@pytest.mark.slow
def test_power_for_a_five_point_effect_at_three_seeds():
    r = stats.rates(400, seeds_a=3, seeds_b=3, effect=0.05, rng=7)
    assert r["compare"] >= 0.8 and r["median_mde"] <= 0.05


def test_saturated_only_for_shares_at_the_ceiling_or_floor():
    compare, compare_means = stats.compare, stats.compare_means
    high = np.array([[1.0] * 19 + [0.0], [1.0] * 20])  # 97.5% over two seeds
    low = np.array([[0.0] * 20, [0.0] * 19 + [1.0]])  # 2.5%
    assert compare(high, high[::-1]).saturated
    assert not compare(high, low).saturated
    assert "ceiling or floor" in compare(high, high[::-1]).summary()
    rewards = np.array([[-0.3, 0.01, 0.0, -0.2], [0.01, -0.1, 0.0, 0.0]])  # a reward near 0 is not a floor
    c = compare(rewards, rewards * 0.5)
    assert not c.share and not c.saturated and "ceiling" not in c.summary(unit="reward", scale=1)
    assert compare_means([0.99, 0.98], [0.97, 0.99], n=100).saturated
    assert not compare_means([-0.5, 0.01], [0.0, 0.01]).saturated


def test_interval_by_hand():
    # two seeds with equal means (seed part 0): per-item means 1, .5, .5, 1 -> item part (4 x 1/16) / 3 / 4 = 1/48, df 3
    mean, (lo, hi) = stats.interval([[1, 0, 1, 1], [1, 1, 0, 1]])
    half = 3.182446305284263 * (1 / 48) ** 0.5
    assert mean == 0.75 and (lo, hi) == pytest.approx((0.75 - half, 0.75 + half))
    # every score equal: no item or seed variance -> a point; repeated seeds count once
    assert stats.interval([[1, 1], [1, 1]]) == (1.0, (1.0, 1.0))
    assert stats.interval([[1, 0], [1, 0]]) == stats.interval([[1, 0]])  # half-width t(1) x 0.5 = 6.35
    assert stats.interval([[1, 0]])[1] == pytest.approx((0.5 - 12.706204736 * 0.5, 0.5 + 12.706204736 * 0.5))
    # seeds differ: the seed part (var of seed means / k) widens it
    m2, (lo2, hi2) = stats.interval([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1]])
    assert m2 == pytest.approx(2 / 3) and hi2 - lo2 > 0 and lo2 < m2 < hi2
