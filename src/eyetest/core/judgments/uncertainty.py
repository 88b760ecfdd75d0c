"""Bootstrap uncertainty of paired-comparison scales (vectorised, warm-started).

Two resampling units (Efron & Tibshirani 1993, "An Introduction to the
Bootstrap", ch. 6):

* ``"judgment"``: the N judgments are resampled with replacement.  On
  aggregated counts this is exactly one multinomial draw of N over the 3P
  cells (i wins, j wins, tie for each of the P pairs) with probabilities
  ``count / N`` per replicate, so no row is ever touched;
* ``"rater"``: raters are resampled with replacement (the usual choice when
  raters differ, since judgments of one rater are not independent); a
  replicate's counts are ``m_b @ C`` with ``m_b ~ Multinomial(R, 1/R)`` the
  number of copies of each rater and ``C`` the (R, 3P) per-rater counts.

All replicates are then solved together, starting from the point estimate
(warm start), by chord iterations with the point fit's Hessian factorised
once (each iteration is a gradient plus one matrix product for all
replicates); the rare replicate that does not converge to 1e-8 is re-solved
by the damped Newton solver.  Replicates are processed in chunks to bound
memory.
Replicates get the same gauge (anchor / centring) as the point fit.
Analytic (Hessian) CIs need no resampling: see :class:`ScaleFit`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from math import comb

import numpy as np
import pandas as pd

from eyetest.core.judgments._pairlik import chord, loglik_and_derivs
from eyetest.core.judgments.bradley_terry import fit_block, subset_counts
from eyetest.core.judgments.model import (
    PairCounts, components, mle_exists, pair_counts, strong_components, validate_pairwise,
)
from eyetest.core.judgments.scale import ScaleFit, gauge_matrix
from eyetest.errors import JudgmentDataError, UnknownNameError

UNITS = ("judgment", "rater")
#: below this many raters a rater bootstrap gets a note (few distinct resamples)
FEW_RATERS = 10


def rater_cell_counts(judgments: pd.DataFrame, counts: PairCounts):
    """Per-rater counts aligned with ``counts``: ``(raters, C)`` with C of shape (R, 3, P)."""
    df = validate_pairwise(judgments)
    pos = {c: k for k, c in enumerate(counts.conditions)}
    a = df["condition_a"].map(pos)
    b = df["condition_b"].map(pos)
    if a.isna().any() or b.isna().any():
        raise JudgmentDataError("condition", "?", "judgments contain conditions absent from the fit")
    a, b = a.to_numpy(int), b.to_numpy(int)
    n = counts.n_conditions
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = counts.i * n + counts.j
    order = np.argsort(keys, kind="stable")
    row_keys = lo * n + hi
    found = np.clip(np.searchsorted(keys[order], row_keys), 0, len(keys) - 1)
    if not np.array_equal(keys[order][found], row_keys):
        raise JudgmentDataError("condition pair", "?", "judgments contain a pair absent from the counts")
    pair = order[found]
    out = df["outcome"].to_numpy()
    cell = np.where(out == "tie", 2, np.where(((out == "a") & (a == lo)) | ((out == "b") & (b == lo)), 0, 1))
    raters, r_idx = np.unique(df["rater"].to_numpy(), return_inverse=True)
    p = len(counts.i)
    flat = np.bincount((r_idx * 3 + cell) * p + pair, minlength=len(raters) * 3 * p)
    return raters, flat.reshape(len(raters), 3, p).astype(float)


def resample_counts(counts: PairCounts, *, n_boot: int, rng: np.random.Generator,
                    rater_cells: np.ndarray | None = None, scheme: str = "multinomial") -> PairCounts:
    """Bootstrap replicates of the counts: arrays of shape (n_boot, P).

    ``scheme="multinomial"`` is the exact judgment bootstrap; ``"poisson"``
    draws every cell independently from Poisson(count), the Poisson
    bootstrap (Hanley & MacGibbon 2006, Comput. Methods Programs Biomed.
    83:57-62), whose total varies like sqrt(N) but which is about twice as
    fast to draw.
    """
    p = len(counts.i)
    if rater_cells is None:
        cells = np.concatenate([counts.wins_i, counts.wins_j, counts.ties])
        if scheme == "poisson":
            draws = rng.poisson(cells, size=(n_boot, len(cells))).astype(float)
        elif scheme == "multinomial":
            total = int(round(cells.sum()))
            draws = rng.multinomial(total, cells / cells.sum(), size=n_boot).astype(float)
        else:
            raise UnknownNameError("bootstrap scheme", scheme, ("multinomial", "poisson"))
    else:
        r = rater_cells.shape[0]
        copies = rng.multinomial(r, np.full(r, 1.0 / r), size=n_boot).astype(float)
        draws = copies @ rater_cells.reshape(r, 3 * p)
    return counts.with_counts(draws[:, :p], draws[:, p:2 * p], draws[:, 2 * p:])


def _prior_driven(counts: PairCounts, members) -> list:
    """Conditions of ``members`` whose scores the data leave infinite (outside the largest
    strongly connected part of their connected component)."""
    sub = subset_counts(counts, members)
    weak, strong = components(sub), strong_components(sub)
    out = []
    for c in np.unique(weak):
        idx = np.flatnonzero(weak == c)
        sizes = np.bincount(strong[idx])
        if np.count_nonzero(sizes) < 2:
            continue
        biggest = np.flatnonzero(sizes == sizes.max())
        keep = biggest[0] if len(biggest) == 1 else -1
        out += [sub.conditions[k] for k in idx if strong[k] != keep]
    return out


def _listing(names, most: int = 8) -> str:
    return ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _lost_mle(sub: PairCounts, data: PairCounts) -> np.ndarray:
    """Per replicate of ``sub`` (B, P): True where the MLE is not finite (data's MLE assumed finite).

    Resampling never adds a "beat or tied" edge, so only replicates that lost
    one of the data's edges need the graph check.
    """
    fwd0 = (data.wins_i + data.ties) > 0
    bwd0 = (data.wins_j + data.ties) > 0
    lost = (fwd0 & ~((sub.wins_i + sub.ties) > 0)).any(axis=1) | (bwd0 & ~((sub.wins_j + sub.ties) > 0)).any(axis=1)
    for r in np.flatnonzero(lost):
        lost[r] = not mle_exists(sub.with_counts(sub.wins_i[r], sub.wins_j[r], sub.ties[r]))
    return lost


def bootstrap(judgments, fit: ScaleFit, *, n_boot: int = 1000, rng: np.random.Generator,
              unit: str = "judgment", scheme: str = "multinomial", chunk: int = 125,
              max_iter: int = 50, workers: int | None = None) -> ScaleFit:
    """Attach ``n_boot`` bootstrap replicates to a paired-comparison fit.

    Every replicate is fitted as the point fit was: where a replicate has
    no finite maximum-likelihood scale (Ford 1957; e.g. a condition that
    lost in the data but not in the replicate) it gets the same
    N(0, ``fallback_prior_sd``^2) prior the point fit would have used, and
    a replicate with only ties gets the same prior on the tie parameter.
    ``info["notes"]`` says how many replicates needed this, how many did not
    converge, when the CIs of some conditions rest on the fallback prior of
    the point fit (their MLE is infinite in the data, so every replicate
    keeps that pattern and the interval measures the prior, not the data),
    and when the rater bootstrap has few raters (R raters give at most
    ``C(2R - 1, R)`` distinct resamples).

    Parameters
    ----------
    judgments : DataFrame or PairCounts
        The data ``fit`` was made from (a DataFrame is required for ``unit="rater"``).
    fit : ScaleFit
        Result of :func:`fit_pairwise` (any of its models).
    rng : numpy.random.Generator
    unit : {"judgment", "rater"}
        ``"rater"`` needs at least 2 raters.
    scheme : {"multinomial", "poisson"}
        Resampling of judgments (ignored for ``unit="rater"``).
    chunk, workers : int
        Replicates per chunk, and threads solving chunks (default: CPU count).
        Chunk k draws from ``rng.spawn(...)[k]``, so the result does not
        depend on ``workers``.

    Returns
    -------
    ScaleFit
        ``fit`` with ``replicates`` (n_boot, n) in the same gauge; ``info``
        gains ``bootstrap_unit``, ``n_boot``, ``n_unconverged``,
        ``n_fallback_prior`` (replicates without a finite MLE),
        ``n_tie_prior``, ``prior_driven`` (conditions whose CIs rest on the
        point fit's fallback prior), ``notes`` and, for tie models,
        ``tie_replicates``.
    """
    if unit not in UNITS:
        raise UnknownNameError("bootstrap unit", unit, UNITS)
    if fit.model not in ("bradley-terry", "davidson", "rao-kupper", "thurstone"):
        raise UnknownNameError("pairwise model", fit.model, ("bradley-terry", "davidson", "rao-kupper", "thurstone"))
    if isinstance(judgments, pd.DataFrame):
        counts = pair_counts(judgments, conditions=fit.conditions)
    else:
        counts = judgments
        if unit == "rater":
            raise JudgmentDataError("judgments", "PairCounts", "a judgment table is needed to resample raters")
    notes = []
    cells = None
    if unit == "rater":
        raters, cells = rater_cell_counts(judgments, counts)
        r = len(raters)
        if r < 2:
            raise JudgmentDataError("raters", r, "the rater bootstrap needs at least 2 raters (with one, every "
                                    "replicate is the data itself and the CIs have zero width); "
                                    "resample judgments instead")
        if r < FEW_RATERS:
            notes.append(f"rater bootstrap over only {r} raters: at most {comb(2 * r - 1, r)} distinct resamples, "
                         "so the CIs and rank ranges are coarse")
    n = counts.n_conditions
    fit_tau = fit.tie is not None and bool(fit.info.get("fit_tau", False))
    tau0 = float(np.log(fit.tie["value"])) if fit_tau else None
    fallback = fit.info.get("fallback_prior_sd", 3.0)
    out = np.zeros((n_boot, n))
    taus = np.full(n_boot, np.nan)
    blocks = fit.info.get("blocks", [(list(range(n)), fit.info.get("prior_sd"))])
    tie_priors = fit.info.get("tie_prior_sd", [None] * len(blocks))
    prepared = []
    prior_driven = []
    only_tie_conditions = []
    for (members, psd), tpsd in zip(blocks, tie_priors):
        members = np.asarray(members)
        if len(members) < 2:
            continue
        sub = subset_counts(counts, members)
        if psd is not None and fit.info.get("prior_sd") is None:
            prior_driven += _prior_driven(counts, members)
        if tpsd is not None:
            only_tie_conditions += [counts.conditions[k] for k in members]
        s0 = fit.scores[members] - fit.scores[members].mean()
        t0 = None
        if fit.model in ("davidson", "rao-kupper"):
            t0 = np.full((1, 1), tau0 if fit_tau else (-40.0 if fit.model == "davidson" else 1e-9))
        neg_h0 = loglik_and_derivs(fit.model, sub.i, sub.j, len(members), s0[None, :], t0,
                                   sub.wins_i[None, :], sub.wins_j[None, :], sub.ties[None, :], psd,
                                   tau_prior_sd=tpsd)[2][0]
        prepared.append((members, psd, tpsd, sub, s0, t0, neg_h0))
    n_all = counts.n_conditions

    def solve_chunk(start, b, child):
        rep = resample_counts(counts, n_boot=b, rng=child, rater_cells=cells, scheme=scheme)
        bad_total = n_prior = n_tie_prior = 0
        for members, psd, tpsd, data, s0, t0, neg_h0 in prepared:
            sub = rep if len(members) == n_all else subset_counts(rep, members)
            tau_start = None if t0 is None else float(t0[0, 0])
            # replicates the point fit's rules would fit with a prior: no finite MLE / only ties
            no_mle = _lost_mle(sub, data) if psd is None else np.zeros(b, bool)
            wins = (sub.wins_i + sub.wins_j).sum(axis=1)
            only_ties = (fit_tau & (tpsd is None)) & (wins == 0) & (sub.ties.sum(axis=1) > 0)
            n_prior += int(no_mle.sum())
            n_tie_prior += int(only_ties.sum())
            special = no_mle | only_ties
            s = np.zeros((b, len(members)))
            tau = np.full(b, np.nan)
            easy = np.flatnonzero(~special)
            if len(easy):
                part = sub.with_counts(sub.wins_i[easy], sub.wins_j[easy], sub.ties[easy])
                s[easy], tau[easy], conv = chord(fit.model, part.i, part.j, len(members), part.wins_i, part.wins_j,
                                                 part.ties, s0=s0, tau0=tau_start, neg_h0=neg_h0, prior_sd=psd,
                                                 fit_tau=fit_tau, tau_prior_sd=tpsd)
                # stragglers of the chord iteration (far from the data): full Newton, same model
                redo = [(easy[~conv], psd, tpsd)]
            else:
                redo = []
            redo += [(np.flatnonzero(special & (no_mle == p) & (only_ties == t)),
                      fallback if p else psd, fallback if t else tpsd) for p in (False, True) for t in (False, True)]
            for rows, prior, tie_prior in redo:
                if not len(rows):
                    continue
                s_b, tau_b, _, _, conv_b, _ = fit_block(
                    fit.model, sub.with_counts(sub.wins_i[rows], sub.wins_j[rows], sub.ties[rows]),
                    prior_sd=prior, s0=s0, tau0=tau_start, fit_tau=fit_tau, max_iter=max_iter,
                    tau_prior_sd=tie_prior)
                s[rows], tau[rows] = s_b, tau_b
                bad_total += int((~conv_b).sum())
            out[start:start + b, members] = s
            taus[start:start + b] = tau
        return bad_total, n_prior, n_tie_prior

    starts = list(range(0, n_boot, chunk))
    children = rng.spawn(len(starts))
    jobs = [(start, min(chunk, n_boot - start), child) for start, child in zip(starts, children)]
    n_workers = max(1, min(workers if workers else (os.cpu_count() or 1), len(jobs)))
    if n_workers == 1:
        results = [solve_chunk(*job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            results = list(pool.map(lambda job: solve_chunk(*job), jobs))
    unconverged, n_prior, n_tie_prior = (int(sum(x)) for x in zip(*results)) if results else (0, 0, 0)
    if n_prior:
        notes.append(f"{n_prior} of {n_boot} bootstrap replicates have no finite maximum-likelihood scale "
                     f"(a condition never loses or never wins in them); they are fitted with the "
                     f"N(0, {fallback}^2) fallback prior")
    if n_tie_prior:
        notes.append(f"{n_tie_prior} of {n_boot} bootstrap replicates have only ties; their tie parameter is "
                     f"fitted with the N(0, {fallback}^2) fallback prior on its log")
    if unconverged:
        notes.append(f"{unconverged} of {n_boot} bootstrap replicates did not converge")
    if prior_driven:
        notes.append(f"bootstrap CIs of {_listing(prior_driven)} rest on the N(0, {fallback}^2) fallback prior, "
                     "not on the data: their maximum-likelihood scores are infinite (they never lose or never win against the "
                     "rest) and every replicate keeps that pattern; the analytic CIs (no bootstrap) show the "
                     "prior's width")
    if only_tie_conditions:
        notes.append(f"bootstrap CIs of {_listing(only_tie_conditions)} have no width: their judgments are all ties, "
                     "so every replicate scores them equal; the analytic CIs (no bootstrap) show the uncertainty")
    comp = fit.component if len(blocks) > 1 else np.zeros(n, int)
    anchor_index = fit.conditions.index(fit.anchor) if fit.anchor is not None else None
    out = out @ gauge_matrix(n, comp, anchor_index).T
    result = fit.with_replicates(out)
    info = dict(fit.info, bootstrap_unit=unit, n_boot=n_boot, n_unconverged=unconverged,
                n_fallback_prior=n_prior, n_tie_prior=n_tie_prior, prior_driven=prior_driven,
                notes=list(fit.info.get("notes", [])) + notes)
    if fit_tau:
        info["tie_replicates"] = np.exp(taus)
    return ScaleFit(**{**result.__dict__, "info": info})
