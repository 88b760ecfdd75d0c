"""Joint scaling: several studies on one scale, and pairwise + ratings on one scale.

Studies sharing anchor conditions (:func:`joint_pairwise`)
    Judgments of all studies are pooled; a condition with the same id (e.g.
    ``img::gt`` and ``img::bicubic`` shown in every study) is assumed to have
    the same latent quality in every study, so the anchors tie the studies'
    scales together and the pooled maximum-likelihood fit puts every
    condition on one comparable scale.  Every study must contain at least one
    anchor, and the pooled comparison graph must be connected through them
    (otherwise :func:`fit_pairwise`'s disconnected-graph policy applies and
    a :class:`ComparisonGraphWarning` is issued).  Scores are anchored to the
    first anchor.

Pairwise comparisons and ratings (:func:`joint_pairwise_ratings`)
    Following Perez-Ortiz, Mikhailiuk, Zerman, Hulusic, Valenzise & Mantiuk
    (2020), "From pairwise comparisons and rating to a unified quality
    scale", IEEE TIP 29:1139-1151: latent qualities q explain the pairwise
    data through the paired-comparison model (Thurstone/JOD by default) and
    the ratings of each rating scale k through a linear observation model

        v_rc ~ Normal(a_k + b_k q_c, sigma_k^2),

    and q, a_k, b_k, sigma_k maximise the joint log-likelihood.  The shift of
    q is fixed by centring q on the pairwise conditions; standard errors come
    from the inverse of the numerically differentiated analytic gradient
    (observed information).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from scipy.optimize import minimize

from eyetest.core.judgments._pairlik import loglik_and_derivs
from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.model import pair_counts, validate_pairwise, validate_ratings
from eyetest.core.judgments.scale import ScaleFit
from eyetest.errors import JudgmentDataError


def joint_pairwise(studies: dict, *, anchors, model: str = "bradley-terry", **kwargs) -> ScaleFit:
    """Pool studies that share anchor conditions and fit one scale (module docstring).

    Parameters
    ----------
    studies : dict of str -> DataFrame
        Pairwise tables by study name.
    anchors : sequence of str
        Condition ids shared by the studies; the first gets score 0.
    """
    anchors = [str(a) for a in anchors]
    if not anchors:
        raise JudgmentDataError("anchors", anchors, "at least one anchor condition is needed")
    frames = []
    for name, table in studies.items():
        df = validate_pairwise(table)
        present = set(df["condition_a"]) | set(df["condition_b"])
        if not present & set(anchors):
            raise JudgmentDataError("study", name, f"contains none of the anchors {anchors}")
        frames.append(df.assign(study=name))
    pooled = pd.concat(frames, ignore_index=True)
    fit = fit_pairwise(pooled, model=model, anchor=anchors[0], **kwargs)
    fit.info["studies"] = list(studies)
    fit.info["anchors"] = anchors
    return fit


def _rating_stats(ratings: pd.DataFrame, index: dict):
    df = validate_ratings(ratings)
    out = []
    for scale, g in df.groupby("scale", sort=True):
        agg = g.groupby("condition")["value"].agg(["size", "sum"])
        agg["sq"] = (g["value"] ** 2).groupby(g["condition"]).sum()
        idx = np.array([index[c] for c in agg.index])
        out.append((scale, idx, agg["size"].to_numpy(float), agg["sum"].to_numpy(float), agg["sq"].to_numpy(float)))
    return out


def joint_pairwise_ratings(judgments: pd.DataFrame, ratings: pd.DataFrame, *,
                           model: str = "thurstone") -> tuple[ScaleFit, pd.DataFrame]:
    """Put pairwise judgments and ratings of the same conditions on one scale.

    Returns
    -------
    (ScaleFit, DataFrame)
        The joint scale (units of ``model``: JOD for Thurstone) and one row per
        rating scale with the fitted ``a, b, sigma`` of its observation model.
    """
    pw = validate_pairwise(judgments)
    rt = validate_ratings(ratings)
    pw_conditions = sorted(set(pw["condition_a"]) | set(pw["condition_b"]))
    labels = pw_conditions + sorted(set(rt["condition"]) - set(pw_conditions))
    index = {c: k for k, c in enumerate(labels)}
    n, n_pw = len(labels), len(pw_conditions)
    counts = pair_counts(pw, conditions=pw_conditions)
    stats = _rating_stats(rt, index)
    start = fit_pairwise(counts, model=model, disconnected="prior", warn=False)
    q0 = np.zeros(n)
    q0[:n_pw] = start.scores
    theta0 = [q0]
    for scale, idx, cnt, tot, _ in stats:
        known = idx[idx < n_pw]
        if len(known) < 2:
            raise JudgmentDataError("ratings", scale, "need ratings of at least two conditions that were also compared")
        mos = pd.Series(tot / cnt, index=idx)
        b, a = np.polyfit(q0[known], mos[known].to_numpy(), 1)
        b = b if abs(b) > 1e-6 else 1.0
        unknown = idx[idx >= n_pw]
        q0[unknown] = (mos[unknown].to_numpy() - a) / b
        resid = mos[known].to_numpy() - (a + b * q0[known])
        theta0.append([a, b, np.log(max(np.sqrt(np.mean(resid**2) + 1e-6), 1e-3))])
    theta0 = np.concatenate([np.atleast_1d(np.asarray(t, float)) for t in theta0])

    def negll(theta):
        q = theta[:n]
        ll, grad_pw, _ = loglik_and_derivs(model, counts.i, counts.j, n_pw, q[None, :n_pw], None,
                                           counts.wins_i[None], counts.wins_j[None], counts.ties[None], None)
        total = float(ll[0])
        g = np.zeros_like(theta)
        g[:n_pw] = grad_pw[0]
        for k, (_, idx, cnt, tot, sq) in enumerate(stats):
            a, b, log_sigma = theta[n + 3 * k: n + 3 * k + 3]
            s2 = np.exp(2 * log_sigma)
            mu = a + b * q[idx]
            rss = sq - 2 * mu * tot + cnt * mu**2
            total += float(-(cnt * log_sigma).sum() - rss.sum() / (2 * s2))
            dmu = (tot - cnt * mu) / s2
            np.add.at(g, idx, b * dmu)
            g[n + 3 * k] = dmu.sum()
            g[n + 3 * k + 1] = (dmu * q[idx]).sum()
            g[n + 3 * k + 2] = float(-cnt.sum() + rss.sum() / s2)
        centre = q[:n_pw].mean()
        total -= 0.5 * n_pw * centre**2  # fixes the shift; zero at the optimum's gauge
        g[:n_pw] -= centre
        return -total, -g

    res = minimize(negll, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-9})
    theta = res.x
    k = len(theta)
    h = np.zeros((k, k))
    for p in range(k):
        eps = 1e-5 * max(1.0, abs(theta[p]))
        up, dn = theta.copy(), theta.copy()
        up[p] += eps
        dn[p] -= eps
        h[p] = (negll(up)[1] - negll(dn)[1]) / (2 * eps)
    h = 0.5 * (h + h.T)
    cov = np.linalg.pinv(h)[:n, :n]
    gauge = np.eye(n)
    gauge[:, :n_pw] -= 1.0 / n_pw  # remove the (penalised) shift direction from the covariance
    cov = gauge @ cov @ gauge.T
    fit = ScaleFit(conditions=tuple(labels), scores=theta[:n], cov=cov, model=f"joint-{model}",
                   unit=start.unit, component=np.zeros(n, int),
                   info={"converged": bool(res.success), "loglik": -float(res.fun),
                         "n_judgments": int(counts.total.sum()), "n_ratings": len(rt)})
    params = pd.DataFrame([
        {"scale": scale, "a": theta[n + 3 * j], "b": theta[n + 3 * j + 1], "sigma": float(np.exp(theta[n + 3 * j + 2]))}
        for j, (scale, *_rest) in enumerate(stats)
    ])
    return fit, params
