"""Judgment data model, scaling models, uncertainty, rater quality and agreement statistics.

Modules (see ``docs/judgments.md``):

* ``model`` - table validation, ``condition_id``, ``pair_counts``, graph checks
* ``bradley_terry`` - Bradley-Terry, Davidson and Rao-Kupper ML fits (``fit_pairwise``)
* ``thurstone`` - Thurstone Case V in JOD; ``elo`` - online Elo; ``mos`` - (z-)MOS
* ``uncertainty`` - bootstrap; ``significance`` - Holm-adjusted tests, rank intervals
* ``quality``, ``outliers``, ``screening`` - per-rater statistics and recommended exclusions
* ``agreement`` - Krippendorff's alpha, Kendall's W, split-half, percent agreement
* ``joint`` - joint scaling across studies, and of pairwise data with ratings
* ``ranking`` - ``rank()``: one call from a table to scale tables per slice
* ``scale`` - ``ScaleFit``, the result every model returns
"""
