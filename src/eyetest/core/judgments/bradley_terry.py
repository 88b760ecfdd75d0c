"""Bradley-Terry maximum likelihood, with ties (Davidson, Rao-Kupper).

Models (``d = s_i - s_j``, scores on the natural-log "logit" scale)

* Bradley-Terry (Bradley & Terry 1952, Biometrika 39:324-345):
  ``P(i > j) = e^{s_i} / (e^{s_i} + e^{s_j}) = 1 / (1 + e^{-d})``; a tie
  counts as half a win for each side.
* Davidson (1970, JASA 65:317-328):
  ``P(i > j) = pi_i / (pi_i + pi_j + nu sqrt(pi_i pi_j))``,
  ``P(tie) = nu sqrt(pi_i pi_j) / (pi_i + pi_j + nu sqrt(pi_i pi_j))``, ``nu >= 0``.
* Rao-Kupper (1967, JASA 62:194-204):
  ``P(i > j) = pi_i / (pi_i + theta pi_j)``,
  ``P(tie) = (theta^2 - 1) pi_i pi_j / ((pi_i + theta pi_j)(theta pi_i + pi_j))``, ``theta >= 1``.

The log-likelihood is maximised on aggregated counts (wins/ties per pair)
by damped Newton on all scores and the tie parameter jointly; the
covariance is the inverse observed information (pseudo-inverse in the
shift-invariant direction).  An optional Gaussian prior ``s ~ N(0,
prior_sd^2)`` gives the MAP estimate instead.

Comparison graphs: the MLE exists only if the graph in which "a beat or
tied b" is an edge a->b is strongly connected (Ford 1957).  If it is not
(including a disconnected design) a :class:`ComparisonGraphWarning` is
issued and, per ``disconnected``:

* ``"prior"`` (default): a weak N(0, ``fallback_prior_sd``^2) prior on the
  affected fit, which keeps the estimate finite and centres each
  component on 0;
* ``"component"``: every connected component is scaled on its own (scores
  of different components are not comparable; ``component`` says which is
  which), with the fallback prior only in components without a finite MLE;
* ``"error"``: raise :class:`JudgmentDataError`.

Only ties: when a block's judgments are all ties (no wins at all), the
scores are equal (``d = 0`` maximises the likelihood for any tie
parameter) but the tie parameter's MLE is infinite (``nu -> inf``,
``theta -> inf``), and with it the scores' standard errors.  Then a
:class:`ComparisonGraphWarning` is issued and the same weak prior
N(0, ``fallback_prior_sd``^2) is put on ``tau`` (``log nu`` for Davidson,
``log theta`` for Rao-Kupper), which keeps both finite; ``tie["note"]``
says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from eyetest.core.judgments._pairlik import MODELS, TIE_MODELS, newton
from eyetest.core.judgments.model import PairCounts, components, mle_exists, pair_counts
from eyetest.core.judgments.scale import ScaleFit, gauge_matrix
from eyetest.errors import ComparisonGraphWarning, JudgmentDataError, UnknownNameError

_UNIT = {"bradley-terry": "logit", "davidson": "logit", "rao-kupper": "logit", "thurstone": "JOD"}
_TIE_NAME = {"davidson": "nu", "rao-kupper": "theta"}
_NO_TIE_TAU = {"davidson": -40.0, "rao-kupper": 1e-9}


def subset_counts(counts: PairCounts, members) -> PairCounts:
    """Pair counts restricted to the conditions ``members`` (re-indexed)."""
    members = np.asarray(members)
    local = np.full(counts.n_conditions, -1)
    local[members] = np.arange(len(members))
    keep = (local[counts.i] >= 0) & (local[counts.j] >= 0)
    return PairCounts(
        tuple(counts.conditions[k] for k in members), local[counts.i[keep]], local[counts.j[keep]],
        counts.wins_i[..., keep], counts.wins_j[..., keep], counts.ties[..., keep],
    )


def _initial_tau(model, counts: PairCounts):
    tot = counts.total.sum()
    frac = float(np.clip(counts.ties.sum() / max(tot, 1.0), 1e-3, 0.9))
    if model == "davidson":
        return np.log(2 * frac / (1 - frac))
    return np.log((1 + frac) / (1 - frac))


def fit_block(model, counts: PairCounts, *, prior_sd, s0=None, tau0=None, fit_tau=True,
              max_iter=100, tol=1e-10, tau_prior_sd=None):
    """Newton fit of one block on (possibly batched) counts; returns newton()'s tuple."""
    w, l, t = (np.atleast_2d(x) for x in (counts.wins_i, counts.wins_j, counts.ties))
    b = w.shape[0]
    n = counts.n_conditions
    s0 = np.zeros((b, n)) if s0 is None else np.broadcast_to(s0, (b, n))
    if model in TIE_MODELS and tau0 is None:
        tau0 = _initial_tau(model, counts) if fit_tau else _NO_TIE_TAU[model]
    return newton(model, counts.i, counts.j, n, w, l, t, s0=s0, tau0=tau0, prior_sd=prior_sd,
                  fit_tau=fit_tau, max_iter=max_iter, tol=tol, tau_prior_sd=tau_prior_sd)


def _covariance(neg_h, n, prior_sd):
    k = neg_h.shape[0]
    g = np.zeros((k, k))
    if prior_sd is None:
        g[:n, :n] = 1.0 / n
    try:
        c = np.linalg.inv(neg_h + g)
    except np.linalg.LinAlgError:
        c = np.linalg.pinv(neg_h + g)
    return c - g


def fit_pairwise(judgments, *, model: str = "bradley-terry", prior_sd: float | None = None,
                 anchor: str | None = None, disconnected: str = "prior",
                 fallback_prior_sd: float = 3.0, max_iter: int = 100, tol: float = 1e-10,
                 warn: bool = True) -> ScaleFit:
    """Fit a paired-comparison model (see module docstring) to judgments.

    Parameters
    ----------
    judgments : DataFrame or PairCounts
        Pairwise judgment table or its aggregated counts.
    model : {"bradley-terry", "davidson", "rao-kupper", "thurstone"}
    prior_sd : float, optional
        Standard deviation of a Gaussian prior on the scores (MAP fit).
    anchor : str, optional
        Condition whose score is fixed at 0; default: centre each component.
    disconnected : {"prior", "component", "error"}
        What to do when the MLE does not exist (module docstring).
    warn : bool
        Issue a :class:`ComparisonGraphWarning` when a fallback prior is used
        (the message is in ``info["warnings"]`` either way).  Internal fits
        pass ``False`` instead of silencing the warning with
        ``warnings.catch_warnings``, which is not thread-safe (a server
        thread's filter could be undone by another thread's).

    Returns
    -------
    ScaleFit
        With ``tie`` set for Davidson (``nu``) and Rao-Kupper (``theta``).
    """
    if model not in MODELS:
        raise UnknownNameError("scaling model", model, MODELS)
    if disconnected not in ("prior", "component", "error"):
        raise UnknownNameError("disconnected policy", disconnected, ("prior", "component", "error"))
    counts = pair_counts(judgments) if isinstance(judgments, pd.DataFrame) else judgments
    n = counts.n_conditions
    if n < 2 or counts.total.sum() == 0:
        raise JudgmentDataError("judgments", n, "need at least two compared conditions")
    comp = components(counts)
    anchor_index = counts.index(anchor) if anchor is not None else None
    n_comp = int(comp.max()) + 1
    ok = n_comp == 1 and mle_exists(counts)
    info = {"loglik": 0.0, "iterations": 0, "converged": True, "n_judgments": int(counts.total.sum()),
            "n_components": n_comp, "prior_sd": prior_sd, "warnings": []}
    if prior_sd is None and not ok:
        msg = (f"comparison graph has {n_comp} component(s)" if n_comp > 1 else
               "some conditions never lose (or never win): the maximum-likelihood scale is not finite")
        if disconnected == "error":
            raise JudgmentDataError("judgments", f"{n_comp} component(s)", msg)
        action = (f"using a N(0, {fallback_prior_sd}^2) prior" if disconnected == "prior"
                  else "scaling each component separately")
        if warn:
            warnings.warn(f"{msg}; {action}", ComparisonGraphWarning, stacklevel=2)
        info["warnings"].append(f"{msg}; {action}")
    if prior_sd is None and not ok and disconnected == "component":
        blocks = []
        for c in range(n_comp):
            members = np.flatnonzero(comp == c)
            sub = subset_counts(counts, members)
            blocks.append((members, None if (len(members) < 2 or mle_exists(sub)) else fallback_prior_sd))
    else:
        eff = prior_sd if (prior_sd is not None or ok) else fallback_prior_sd
        blocks = [(np.arange(n), eff)]
    fit_tau = model in TIE_MODELS and counts.ties.sum() > 0
    scores = np.zeros(n)
    cov = np.zeros((n, n))
    taus = []
    tie_priors = []
    for members, psd in blocks:
        sub = subset_counts(counts, members)
        only_ties = fit_tau and sub.ties.sum() > 0 and sub.wins_i.sum() + sub.wins_j.sum() == 0
        tie_priors.append(fallback_prior_sd if only_ties else None)
        if only_ties:
            name = _TIE_NAME[model]
            msg = (f"only ties among {len(members)} condition(s): the maximum-likelihood tie parameter {name} "
                   f"is infinite; using a N(0, {fallback_prior_sd}^2) prior on log {name}")
            if warn:
                warnings.warn(msg, ComparisonGraphWarning, stacklevel=2)
            info["warnings"].append(msg)
        if len(members) < 2:
            continue
        s, tau, ll, neg_h, conv, it = fit_block(model, sub, prior_sd=psd, fit_tau=fit_tau,
                                                max_iter=max_iter, tol=tol, tau_prior_sd=tie_priors[-1])
        c = _covariance(neg_h[0], len(members), psd)
        scores[members] = s[0]
        cov[np.ix_(members, members)] = c[: len(members), : len(members)]
        info["loglik"] += float(ll[0])
        info["iterations"] = max(info["iterations"], it)
        info["converged"] &= bool(conv[0])
        if model in TIE_MODELS:
            taus.append((float(tau[0]), float(np.sqrt(max(c[-1, -1], 0.0))) if fit_tau else 0.0, sub.total.sum()))
    info["blocks"] = [(m.tolist(), p) for m, p in blocks]
    info["tie_prior_sd"] = tie_priors
    info["fit_tau"] = fit_tau
    info["fallback_prior_sd"] = fallback_prior_sd
    a = gauge_matrix(n, comp if len(blocks) > 1 else np.zeros(n, int), anchor_index)
    scores = a @ scores
    cov = a @ cov @ a.T
    tie = None
    if model in TIE_MODELS:
        tie = _tie_summary(model, taus, fit_tau)
        if any(p is not None for p in tie_priors):
            tie["note"] = (f"only ties in (part of) the data: {tie['name']} has no finite maximum-likelihood value; "
                           f"estimated with a N(0, {fallback_prior_sd}^2) prior on its log")
    return ScaleFit(conditions=counts.conditions, scores=scores, cov=cov, model=model,
                    unit=_UNIT[model], anchor=anchor, tie=tie, component=comp, info=info)


def _tie_summary(model, taus, fitted):
    name = _TIE_NAME[model]
    if not fitted or not taus:
        value = 0.0 if model == "davidson" else 1.0
        return {"name": name, "value": value, "se": 0.0, "ci_low": value, "ci_high": value,
                "note": "no ties in the data: the model reduces to Bradley-Terry"}
    weights = np.array([w for _, _, w in taus])
    tau = float(np.average([t for t, _, _ in taus], weights=weights))
    se_tau = float(np.sqrt(np.average(np.square([s for _, s, _ in taus]), weights=weights)))
    with np.errstate(over="ignore"):  # a barely identified tie parameter: the CI reaches infinity
        if model == "davidson":  # tau = log nu
            value = np.exp(tau)
            lo, hi = np.exp(tau - 1.96 * se_tau), np.exp(tau + 1.96 * se_tau)
            se = value * se_tau
        else:  # tau = eta = log theta
            value = np.exp(tau)
            lo, hi = np.exp(max(tau - 1.96 * se_tau, 0.0)), np.exp(tau + 1.96 * se_tau)
            se = value * se_tau
    return {"name": name, "value": float(value), "se": float(se), "ci_low": float(lo), "ci_high": float(hi)}


def fit_bradley_terry(judgments, **kwargs) -> ScaleFit:
    """Bradley-Terry fit (ties as half wins); see :func:`fit_pairwise`."""
    return fit_pairwise(judgments, model="bradley-terry", **kwargs)


def fit_davidson(judgments, **kwargs) -> ScaleFit:
    """Davidson (1970) ties model; the tie parameter ``nu`` is in ``.tie``."""
    return fit_pairwise(judgments, model="davidson", **kwargs)


def fit_rao_kupper(judgments, **kwargs) -> ScaleFit:
    """Rao-Kupper (1967) ties model; the tie parameter ``theta`` is in ``.tie``."""
    return fit_pairwise(judgments, model="rao-kupper", **kwargs)
