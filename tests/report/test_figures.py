"""Report figures: built without error, right number of bars, readable labels, PNG written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from PIL import Image

from eyetest.core.alignment.adoption import adoption_table
from eyetest.core.alignment.family import family_trends
from eyetest.core.alignment.groups import agreement_table, alignment_table
from eyetest.core.alignment.pairwise import pairs_from_scale
from eyetest.core.alignment.views import head_to_head, leaderboard, method_dimension_matrix
from eyetest.errors import MetricInputError
from eyetest.report.figures import (
    adoption_figure,
    alignment_figure,
    dimension_heatmap,
    family_win_rate_figure,
    head_to_head_figure,
    leaderboard_figure,
    png_bytes,
    save_figure,
)

SCENARIOS = ("hand-drawn", "cartoon/comic", "medium face")
METHODS = {"bicubic": "psnr-oriented", "hat": "psnr-oriented", "esrgan": "gan", "supir": "diffusion"}
QUALITY = {"bicubic": 0.0, "hat": 1.0, "esrgan": 1.2, "supir": 2.0}


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(0)
    human, scores, judgments = [], [], []
    for i in range(12):
        image, scenario = f"img{i}", SCENARIOS[i % 3]
        for method, family in METHODS.items():
            mos = QUALITY[method] + rng.normal(0, 0.4)
            human.append({"image": image, "method": method, "family": family, "scenario": scenario, "score": mos})
            for metric, sign in (("psnr", -1.0), ("musiq", 1.0)):
                scores.append({"image": image, "method": method, "metric": metric, "family": family,
                               "scenario": scenario, "value": sign * mos + rng.normal(0, 0.5)})
        for rater in range(6):
            first = rng.random() < 0.5
            a, b = ("supir", "hat") if first else ("hat", "supir")
            p_supir = 0.25 if scenario == "hand-drawn" else 0.8
            u = rng.random()
            winner = "tie" if u < 0.1 else ("supir" if rng.random() < p_supir else "hat")
            outcome = "tie" if winner == "tie" else ("a" if winner == a else "b")
            judgments.append({"rater": f"r{rater}", "image": image, "scenario": scenario, "method_a": a,
                              "method_b": b, "outcome": outcome})
    return pd.DataFrame(human), pd.DataFrame(scores), pd.DataFrame(judgments)


def _bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def _labels(ax):
    return [t.get_text() for t in ax.get_yticklabels()] + [t.get_text() for t in ax.get_xticklabels()]


def test_head_to_head_figure(study, tmp_path):
    _, _, judgments = study
    table = head_to_head(judgments, method_a="supir", method_b="hat")
    fig = head_to_head_figure(table)
    ax = fig.axes[0]
    assert len(_bars(ax)) == 3 * len(table)  # A better / same / B better per scenario (+ all)
    labels = " ".join(_labels(ax))
    for scenario in SCENARIOS + ("all",):
        assert scenario in labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["supir better", "same", "hat better"]
    # bar widths are the shares: each stacked row sums to 1
    widths = np.array([p.get_width() for p in _bars(ax)]).reshape(3, -1)
    np.testing.assert_allclose(widths.sum(axis=0), 1.0)
    path = save_figure(fig, tmp_path / "supir_vs_hat.png")
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.size[0] >= 600


def test_leaderboard_figure_one_panel_per_scenario(study):
    human, _, _ = study
    board = leaderboard(human, value="score")
    fig = leaderboard_figure(board, value_label="MOS")
    assert len(fig.axes) == len(SCENARIOS) + 1
    assert sorted(ax.get_title() for ax in fig.axes) == sorted(SCENARIOS + ("all",))
    for ax in fig.axes:
        assert len(_bars(ax)) == len(METHODS)
        assert _labels(ax)[len(METHODS) - 1] == "supir"  # best on top (last y tick)


def test_dimension_heatmap(study):
    human, _, _ = study
    scale = pd.concat([human.assign(dimension=d, score=human["score"] * k)
                       for d, k in (("overall", 1.0), ("sharpness", 0.5), ("naturalness", 0.8))])
    matrix = method_dimension_matrix(scale)
    fig = dimension_heatmap(matrix)
    ax = fig.axes[0]
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (4, 3)
    assert {t.get_text() for t in ax.get_xticklabels()} == {"overall", "sharpness", "naturalness"}
    assert len(ax.texts) == 12
    assert png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_alignment_figures(study):
    human, scores, _ = study
    table = alignment_table(scores, human, metrics={"psnr": True, "musiq": True}, by=("scenario",),
                            rng=np.random.default_rng(0), n_boot=30)
    fig = alignment_figure(table, statistic="srcc", by="scenario")
    ax = fig.axes[0]
    assert len(_bars(ax)) == 2 * len(SCENARIOS)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == sorted(SCENARIOS)
    assert "SRCC" in ax.get_ylabel()
    pairs = pairs_from_scale(human)
    agreement = agreement_table(pairs, scores, metrics={"psnr": True, "musiq": True}, rng=np.random.default_rng(1),
                                n_boot=30)
    fig2 = alignment_figure(agreement)
    assert len(_bars(fig2.axes[0])) == 2 and "agreement" in fig2.axes[0].get_ylabel()


def test_family_and_adoption_figures(study, tmp_path):
    human, scores, _ = study
    trends = family_trends(scores, metrics={"psnr": True, "musiq": True}, human=human)
    fig = family_win_rate_figure(trends)
    ax = fig.axes[0]
    assert len(_bars(ax)) == 3 * 3  # 3 sources x 3 families
    assert {t.get_text() for t in ax.get_yticklabels()} == {"psnr", "musiq", "human"}
    papers = pd.DataFrame({"paper": ["a", "b", "c"], "year": [2015, 2019, 2022], "PSNR": ["yes"] * 3,
                           "LPIPS": ["n-a", "no", "yes"]}, dtype=object)
    fig2 = adoption_figure(adoption_table(papers, metrics=["PSNR", "LPIPS"]))
    assert len(_bars(fig2.axes[0])) == 2
    texts = [t.get_text() for t in fig2.axes[0].texts]
    assert "100% (3/3)" in texts and "50% (1/2)" in texts
    path = save_figure(fig2, tmp_path / "adoption.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_figures_reject_bad_tables(tmp_path):
    with pytest.raises(MetricInputError, match="share_a_better"):
        head_to_head_figure(pd.DataFrame({"scenario": ["x"]}))
    with pytest.raises(MetricInputError, match="empty"):
        adoption_figure(pd.DataFrame(columns=["metric", "reporting", "eligible", "adoption_rate"]))
    fig = adoption_figure(pd.DataFrame({"metric": ["m"], "reporting": [1], "eligible": [2], "adoption_rate": [0.5]}))
    with pytest.raises(MetricInputError, match="png"):
        save_figure(fig, tmp_path / "figure.xyz")
