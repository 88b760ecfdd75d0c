"""Rater screening: every quality statistic in one table, plus recommended exclusions.

Exclusion is a recommendation with reasons; applying it is an explicit,
recorded choice of the caller (``eyetest rank --exclude-raters auto`` writes
the list it applied in the report).  Default rules (:class:`ScreeningRules`):

=====================  ==========================================================
gold accuracy          < 0.70 on >= 5 gold trials (pairwise: the expected answer;
                       ratings: a rating inside the trial's known region, e.g.
                       4-5 for the reference, 1-2 for a degraded copy, the
                       instructed category of an attention check; attention
                       checks count as gold)
self-consistency       on >= 10 repeated pairs: significantly below what an
                       honest rater following the consensus scale shows on
                       the same pairs (Monte Carlo p < 0.01) *and* nearer to
                       random clicking than to that expectation
circular triads        on >= 10 complete triads: significantly more than the
                       consensus scale predicts for the rater's triads (Monte
                       Carlo p < 0.01) *and* a rate nearer to random clicking
                       (1/4) than to that expectation
too fast               > 20 % of timed trials under ``min_ms``
straight-lining        one answer in >= 90 % of >= 20 trials, unless the
                       better stimulus was on that side in > 75 % of them
                       (sides not randomised: answering "a" is then accurate)
SPRT (gold)            decision "random" (Wald SPRT on the gold sequence)
LOO likelihood         pwcmp ``dist_L`` > 1.5 (pairwise, see ``outliers``),
                       computed only with >= 8 raters (the quartiles of fewer
                       are noise)
BT.500                 observer rejected by the BT.500 kurtosis screening (ratings)
=====================  ==========================================================

The two tests ("significant" and "nearer to random") together keep a large
study, where a tiny shortfall is significant, from excluding honest raters
(the light-field observers agree with themselves 0.59-0.64 where 0.63-0.64
is expected).  Measured on simulated honest raters (``benchmarks/screening.py``,
recorded in ``docs/judgments.md``): the triad rule flags 0.2-0.4 % of them
(the old "rate > 0.25" rule 7.5 %), the self-consistency rule 0.6 % (old
1.8 %); with 12 raters x 6 conditions the whole screening excludes 0.47
honest raters per study (before 1.16), nearly all by the leave-one-out fence,
which is relative and flags the tail of any group of 8 or more raters.

For ratings, with regions of two of the five categories (a random clicker
lands in one 40 % of the time; in an instructed attention check's one
category 20 %; ``rating_gold_chance``) the gold rule is binomial: a rater
right with probability ``p`` on each of ``n`` gold trials is excluded with
probability ``P(X < 0.7 n)``, ``X ~ Bin(n, p)``.  For n = 5 (``P(X <= 3)``):
0.023 for an attentive rater at ``p = 0.95``, 0.081 at ``p = 0.9``, 0.165 at
``p = 0.85``, and 0.913 for a random clicker (``p = 0.4``); the rate is not
monotone in ``n`` and is highest at n = 6 (``P(X <= 4)``: 0.033, 0.114,
0.224); with 10 gold trials (``P(X <= 6)``) 0.001, 0.013, 0.050 and 0.945.
So the rule suits gold trials that attentive raters get right at least 95 %
of the time: the degraded copy and the instructed attention checks; a
pristine reference in the top two categories is more often missed by
attentive raters on dull or imperfect content.

A table with several dimensions (questions) is screened on one of them, the
*primary* dimension (:func:`primary_dimension`: ``overall`` when there is
one, else the first in the table): every trial answers every question, so
pooling the dimensions would count each gold trial, each trial of the speed
and straight-lining rules once per question (3 gold trials of 2 questions
passed the ">= 5 gold ratings" rule), and a rating gold region is a
statement about overall quality, not about any question (a degraded copy's
colours are not worse).  ``eyetest rank --exclude-raters auto``, the report
and the admin rater table therefore exclude the same raters.

Position (side) bias is reported (``side_bias_p``) but never a reason on its
own: it is only meaningful when the design randomises sides.  So is the
test-retest agreement of ratings (``rating_repeat_mad`` beside
``rating_repeat_mad_chance``, :func:`quality.rating_repeat_consistency`):
a few repeats per session cannot separate a careless rater from a noisy one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from eyetest.core.judgments import quality
from eyetest.core.judgments.outliers import outlier_observers


#: share of circular triads among the complete triads of a random clicker (Kendall & Babington Smith 1940)
RANDOM_CIRCULAR_RATE = 0.25


@dataclass(frozen=True)
class ScreeningRules:
    """Thresholds of :func:`screen_raters` (see module docstring)."""

    min_gold_accuracy: float = 0.70
    min_gold_trials: int = 5
    consistency_alpha: float = 0.01
    min_repeated_pairs: int = 10
    circular_alpha: float = 0.01
    min_triads: int = 10
    min_ms: float = 1200.0
    max_too_fast_rate: float = 0.20
    max_modal_rate: float = 0.90
    max_modal_expected: float = 0.75
    min_trials_modal: int = 20
    loo_fence: float = 1.5
    min_raters_fence: int = 8


@dataclass(frozen=True)
class RaterScreen:
    """``table``: one row per rater with all statistics and ``excluded``/``reasons``.

    ``dimension``: the dimension screened (None for a table without a ``dimension`` column).
    """

    table: pd.DataFrame
    dimension: str | None = None

    @property
    def excluded(self) -> list:
        return self.table.loc[self.table["excluded"], "rater"].tolist()

    def reasons(self) -> dict:
        t = self.table[self.table["excluded"]]
        return dict(zip(t["rater"], t["reasons"]))


def primary_dimension(dimensions) -> str:
    """The dimension a study is screened on: ``"overall"`` if among ``dimensions``, else the first one."""
    names = list(dict.fromkeys(str(d) for d in dimensions))
    if not names:
        raise ValueError("no dimensions")
    return "overall" if "overall" in names else names[0]


def _primary(table: pd.DataFrame | None) -> tuple[pd.DataFrame | None, str | None]:
    if table is None or "dimension" not in table.columns or table.empty:
        return table, None
    dim = primary_dimension(table["dimension"])
    return table[table["dimension"].astype(str) == dim], dim


def _merge(base: pd.DataFrame, part: pd.DataFrame) -> pd.DataFrame:
    return base.merge(part, on="rater", how="left")


def screen_raters(judgments: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None, *,
                  by: str | None = None, rules: ScreeningRules = ScreeningRules()) -> RaterScreen:
    """Run every applicable check; returns a :class:`RaterScreen`.

    Parameters
    ----------
    judgments : DataFrame, optional
        Pairwise table (gold, repeats, transitivity, speed, straight-lining,
        SPRT, leave-one-out likelihood).
    ratings : DataFrame, optional
        Rating table (gold accuracy, speed, straight-lining, BT.500; the
        agreement of repeat ratings is reported, never a reason).
    by : str, optional
        Grouping column for the leave-one-out analysis (e.g. ``"image"``).

    A table with a ``dimension`` column is screened on its primary dimension
    only (:func:`primary_dimension`, module docstring); a rater without a
    judgment of it gets no row.
    """
    judgments, dim_j = _primary(judgments)
    ratings, dim_r = _primary(ratings)
    raters = set()
    parts = []
    if judgments is not None:
        raters |= set(judgments["rater"].astype(str))
        parts += [quality.gold_accuracy(judgments), quality.repeat_consistency(judgments),
                  quality.transitivity(judgments), quality.too_fast(judgments, min_ms=rules.min_ms),
                  quality.straight_lining(judgments), quality.sprt_random_clicker(judgments),
                  outlier_observers(judgments, by=by, fence=rules.loo_fence, min_raters=rules.min_raters_fence)]
    if ratings is not None:
        raters |= set(ratings["rater"].astype(str))
        parts += [quality.too_fast(ratings, min_ms=rules.min_ms).add_prefix("rating_").rename(
                      columns={"rating_rater": "rater"}),
                  quality.straight_lining(ratings, kind="rating").add_prefix("rating_").rename(
                      columns={"rating_rater": "rater"}),
                  quality.rating_repeat_consistency(ratings).add_prefix("rating_").rename(
                      columns={"rating_rater": "rater"}),
                  quality.rating_gold_accuracy(ratings).add_prefix("rating_").rename(
                      columns={"rating_rater": "rater"}),
                  quality.bt500_screening(ratings)]
    table = pd.DataFrame({"rater": sorted(raters)})
    for part in parts:
        table = _merge(table, part)
    r = rules
    checks = [
        ("gold_accuracy", lambda t: (t["n_gold"] >= r.min_gold_trials) & (t["gold_accuracy"] < r.min_gold_accuracy),
         lambda t: f"gold accuracy {t['gold_accuracy']:.2f} < {r.min_gold_accuracy:.2f} on {t['n_gold']} gold trials"),
        ("rating_gold_accuracy", lambda t: (t["rating_n_gold"] >= r.min_gold_trials)
         & (t["rating_gold_accuracy"] < r.min_gold_accuracy),
         lambda t: f"gold accuracy {t['rating_gold_accuracy']:.2f} < {r.min_gold_accuracy:.2f} on "
                   f"{t['rating_n_gold']} gold ratings (ratings outside the known region; a random clicker gets "
                   f"{t['rating_gold_chance']:.2f})"),
        ("consistency_p", lambda t: (t["n_repeated_pairs"] >= r.min_repeated_pairs)
         & (t["consistency_p"] < r.consistency_alpha)
         & (t["consistency"] < (t["consistency_chance"] + t["consistency_expected"]) / 2),
         lambda t: f"self-consistency {t['consistency']:.2f} on {t['n_repeated_pairs']} repeated pairs, nearer to "
                   f"random clicking ({t['consistency_chance']:.2f}) than to the {t['consistency_expected']:.2f} "
                   f"expected from the consensus scale (p = {t['consistency_p']:.2g} < {r.consistency_alpha:g})"),
        ("circular_p", lambda t: (t["n_triads"] >= r.min_triads) & (t["circular_p"] < r.circular_alpha)
         & (t["circular_rate"] > (t["circular_expected"] / t["n_triads"] + RANDOM_CIRCULAR_RATE) / 2),
         lambda t: f"{t['circular_triads']} of {t['n_triads']} triads circular, nearer to random clicking "
                   f"({RANDOM_CIRCULAR_RATE * t['n_triads']:.1f}) than to the {t['circular_expected']:.1f} expected from "
                   f"the consensus scale (p = {t['circular_p']:.2g} < {r.circular_alpha:g})"),
        ("too_fast_rate", lambda t: t["too_fast_rate"] > r.max_too_fast_rate,
         lambda t: f"{100 * t['too_fast_rate']:.0f}% of trials faster than {r.min_ms:g} ms"),
        ("rating_too_fast_rate", lambda t: t["rating_too_fast_rate"] > r.max_too_fast_rate,
         lambda t: f"{100 * t['rating_too_fast_rate']:.0f}% of ratings faster than {r.min_ms:g} ms"),
        ("modal_rate", lambda t: (t["n"] >= r.min_trials_modal) & (t["modal_rate"] >= r.max_modal_rate)
         & ~(t["modal_expected"] > r.max_modal_expected),
         lambda t: f"straight-lining: answer {t['modal_answer']!r} in {100 * t['modal_rate']:.0f}% of {t['n']} trials"
                   + ("" if t["modal_expected"] != t["modal_expected"] else
                      f" (the better stimulus was on that side in {100 * t['modal_expected']:.0f}%)")),
        ("rating_modal_rate", lambda t: (t["rating_n"] >= r.min_trials_modal) & (t["rating_modal_rate"] >= r.max_modal_rate),
         lambda t: f"straight-lining: rating {t['rating_modal_answer']!r} in {100 * t['rating_modal_rate']:.0f}% of {t['rating_n']} ratings"),
        ("sprt_decision", lambda t: t["sprt_decision"] == "random",
         lambda t: f"SPRT on {t['sprt_source']} trials decided 'random clicker' after {t['sprt_n']} trials"),
        ("dist_L", lambda t: t["outlier"].fillna(False).astype(bool),
         lambda t: f"leave-one-out likelihood outlier (dist_L {t['dist_L']:.2f} > {r.loo_fence:g})"),
        ("bt500_reject", lambda t: t["bt500_reject"].fillna(False).astype(bool),
         lambda t: f"BT.500 screening: P={t['bt500_P']}, Q={t['bt500_Q']} of {t['n_ratings']} ratings"),
    ]
    reasons = {rater: [] for rater in table["rater"]}
    for column, rule, text in checks:
        if column not in table.columns:
            continue
        hit = rule(table).fillna(False).astype(bool)
        for _, row in table[hit].iterrows():
            reasons[row["rater"]].append(text(row))
    table["excluded"] = table["rater"].map(lambda x: bool(reasons[x]))
    table["reasons"] = table["rater"].map(lambda x: "; ".join(reasons[x]))
    return RaterScreen(table=table, dimension=dim_j or dim_r)
