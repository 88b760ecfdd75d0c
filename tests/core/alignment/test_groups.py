"""Alignment and agreement tables per group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eyetest.core.alignment.correlation import alignment_stats
from eyetest.core.alignment.groups import agreement_table, alignment_table, disagreement_gallery
from eyetest.core.alignment.pairwise import attach_metric, pairs_from_scale, pairwise_agreement
from eyetest.errors import MetricInputError

QUALITY = {"bicubic": 0.0, "hat": 1.0, "esrgan": 1.5, "supir": 2.0}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    scores, human = [], []
    for i in range(18):
        image, scenario = f"img{i}", ("text", "cartoon", "face")[i % 3]
        for method, q in QUALITY.items():
            mos = q + rng.normal(0, 0.5)
            human.append({"image": image, "method": method, "score": mos})
            scores.append({"image": image, "method": method, "metric": "good", "value": mos + rng.normal(0, 0.3),
                           "scenario": scenario})
            scores.append({"image": image, "method": method, "metric": "niqe-like",
                           "value": -mos + rng.normal(0, 0.3), "scenario": scenario})
    return pd.DataFrame(scores), pd.DataFrame(human)


def test_overall_rows_equal_direct_statistics(data):
    scores, human = data
    table = alignment_table(scores, human, metrics={"good": True, "niqe-like": False},
                            rng=np.random.default_rng(1), n_boot=50)
    assert set(table["statistic"]) == {"srcc", "krcc", "plcc", "rmse"}
    for metric, higher in (("good", True), ("niqe-like", False)):
        m = scores[scores["metric"] == metric].merge(human, on=["image", "method"])
        direct = alignment_stats(m["value"], m["score"], higher_is_better=higher)
        rows = table[table["metric"] == metric].set_index("statistic")
        for s in ("srcc", "krcc", "plcc", "rmse"):
            assert rows.loc[s, "value"] == pytest.approx(getattr(direct, s), abs=1e-9)
        sign = 1 if higher else -1
        assert rows.loc["srcc", "value"] == pytest.approx(sign * stats.spearmanr(m["value"], m["score"]).statistic)
        assert (rows["ci_low"] <= rows["value"] + 1e-12).all() and (rows["value"] <= rows["ci_high"] + 1e-12).all()
        assert rows.loc["srcc", "value"] > 0.8  # both agree once direction is applied


def test_per_scenario_groups_and_reproducibility(data):
    scores, human = data
    kwargs = dict(metrics={"good": True}, by=("scenario",), n_boot=60)
    a = alignment_table(scores, human, rng=np.random.default_rng(5), **kwargs)
    b = alignment_table(scores, human, rng=np.random.default_rng(5), **kwargs)
    pd.testing.assert_frame_equal(a, b)
    assert sorted(a["scenario"].unique()) == ["cartoon", "face", "text"]
    assert (a["n"] == 24).all()  # 6 images x 4 methods per scenario
    text = scores[(scores["metric"] == "good") & (scores["scenario"] == "text")].merge(human, on=["image", "method"])
    row = a[(a["scenario"] == "text") & (a["statistic"] == "krcc")].iloc[0]
    assert row["value"] == pytest.approx(stats.kendalltau(text["value"], text["score"]).statistic)


def test_refit_bootstrap_runs_and_brackets(data):
    scores, human = data
    t = alignment_table(scores, human, metrics={"good": True}, rng=np.random.default_rng(2), n_boot=30, refit=True)
    assert (t["ci_low"] <= t["value"] + 1e-9).all() and (t["value"] <= t["ci_high"] + 1e-9).all()


def test_several_dimensions_need_grouping(data):
    scores, human = data
    two = pd.concat([human.assign(dimension="overall"), human.assign(dimension="sharpness", score=human["score"] * 2)])
    with pytest.raises(MetricInputError, match="dimension"):
        alignment_table(scores, two, metrics={"good": True}, rng=np.random.default_rng(0), n_boot=10)
    t = alignment_table(scores, two, metrics={"good": True}, by=("dimension",), rng=np.random.default_rng(0),
                        n_boot=10)
    srcc = t[t["statistic"] == "srcc"].set_index("dimension")["value"]
    assert srcc["overall"] == pytest.approx(srcc["sharpness"])  # rank statistics ignore the scaling


def test_unknown_metric_named(data):
    scores, human = data
    with pytest.raises(MetricInputError, match="'psnr'"):
        alignment_table(scores, human, metrics={"psnr": True}, rng=np.random.default_rng(0), n_boot=10)


def test_missing_bootstrap_unit_is_named():
    # a pairwise scale per condition has no image column: the error names the
    # unit column instead of a bare KeyError, and unit=None resamples conditions
    rng = np.random.default_rng(0)
    cond = [f"c{i}" for i in range(10)]
    scores = pd.DataFrame({"condition": cond, "metric": "m", "value": rng.normal(size=10)})
    human = pd.DataFrame({"condition": cond, "score": rng.normal(size=10)})
    with pytest.raises(MetricInputError, match="unit column 'image'"):
        alignment_table(scores, human, metrics={"m": True}, keys=("condition",), rng=rng, n_boot=10)
    t = alignment_table(scores, human, metrics={"m": True}, keys=("condition",), unit=None, rng=rng, n_boot=10)
    srcc = t.loc[t["statistic"] == "srcc", "value"].item()
    assert srcc == pytest.approx(stats.spearmanr(scores["value"], human["score"]).statistic)


def test_agreement_table_matches_direct(data):
    scores, human = data
    pairs = pairs_from_scale(human)
    pairs = pairs.merge(scores[["image", "scenario"]].drop_duplicates(), on="image")
    table = agreement_table(pairs, scores, metrics={"good": True, "niqe-like": False}, by=("scenario",),
                            rng=np.random.default_rng(3), n_boot=80)
    assert len(table) == 6
    for _, row in table.iterrows():
        sub = attach_metric(pairs[pairs["scenario"] == row["scenario"]], scores, metric=row["metric"])
        direct = pairwise_agreement(sub, higher_is_better=row["metric"] == "good")
        assert row["agreement"] == pytest.approx(direct["agreement"])
        assert row["ci_low"] <= row["agreement"] <= row["ci_high"]
        assert row["n_pairs"] == 36  # 6 images x 6 method pairs


def test_per_family_groups(data):
    scores, human = data
    fam = {"bicubic": "psnr-oriented", "hat": "psnr-oriented", "esrgan": "gan", "supir": "diffusion"}
    with_family = scores.assign(family=scores["method"].map(fam))
    t = alignment_table(with_family, human, metrics={"good": True}, by=("family",), rng=np.random.default_rng(0),
                        n_boot=20)
    assert sorted(t["family"].unique()) == ["diffusion", "gan", "psnr-oriented"]
    assert t.set_index(["family", "statistic"]).loc[("psnr-oriented", "srcc"), "n"] == 36


def test_disagreement_gallery_keeps_identifiers(data):
    scores, human = data
    pairs = pairs_from_scale(human)
    gallery = disagreement_gallery(pairs, scores, metrics={"good": True, "niqe-like": False}, k=3)
    assert set(gallery["metric"]) == {"good", "niqe-like"}
    assert {"image", "method_a", "method_b", "metric_a", "metric_b", "disagreement", "rank"} <= set(gallery.columns)
    for _, part in gallery.groupby("metric"):
        assert part["rank"].tolist() == list(range(1, len(part) + 1))
        assert part["disagreement"].is_monotonic_decreasing
        # every listed pair really is ordered differently by the metric and by people
        sign = np.where(part["metric"] == "good", 1, -1)
        assert (np.sign(part["human_margin"]) != np.sign(sign * (part["metric_a"] - part["metric_b"]))).all()
