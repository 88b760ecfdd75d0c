"""Metric-versus-human statistics, scenario views, family trends and adoption analysis.

Modules
-------
logistic     5- and 4-parameter monotonic logistic fits (with fallback and status)
correlation  SRCC, KRCC (tau-b), PLCC, RMSE; :func:`alignment_stats`
bootstrap    cluster-bootstrap percentile CIs (seeded ``rng``)
compare      paired metric-vs-metric differences: bootstrap CI, p-value, Holm
pairwise     judgments -> pairs, pairwise agreement, disagreement ranking
groups       alignment / agreement tables per scenario, dimension, family
views        head-to-head counts with CIs, leaderboards, method x dimension matrix
family       family win rates and best-family means
adoption     literature metric-adoption table
"""

from eyetest.core.alignment.adoption import adoption_table, resolve_cells
from eyetest.core.alignment.bootstrap import BootstrapCI, bootstrap_ci, bootstrap_many, bootstrap_replicates
from eyetest.core.alignment.compare import bootstrap_p_value, compare_agreement, compare_metrics, holm
from eyetest.core.alignment.correlation import AlignmentStats, alignment_stats, krcc, plcc, rmse, srcc
from eyetest.core.alignment.family import family_trends, family_win_rates
from eyetest.core.alignment.groups import (
    agreement_table,
    alignment_table,
    disagreement_gallery,
    merge_scores_human,
)
from eyetest.core.alignment.logistic import LogisticFit, fit_logistic, logistic4, logistic5
from eyetest.core.alignment.pairwise import (
    aggregate_judgments,
    attach_metric,
    pair_agreement,
    pairs_from_scale,
    pairwise_agreement,
    rank_disagreements,
)
from eyetest.core.alignment.views import head_to_head, leaderboard, method_dimension_matrix, wilson_interval

__all__ = [
    "AlignmentStats", "BootstrapCI", "LogisticFit", "adoption_table", "aggregate_judgments", "agreement_table",
    "alignment_stats", "alignment_table", "attach_metric", "bootstrap_ci", "bootstrap_many", "bootstrap_p_value",
    "bootstrap_replicates", "compare_agreement", "compare_metrics", "disagreement_gallery", "family_trends",
    "family_win_rates", "fit_logistic", "head_to_head", "holm", "krcc", "leaderboard", "logistic4", "logistic5",
    "merge_scores_human", "method_dimension_matrix", "pair_agreement", "pairs_from_scale", "pairwise_agreement",
    "plcc", "rank_disagreements", "resolve_cells", "rmse", "srcc", "wilson_interval",
]
