"""Judgment data model: validation, condition ids and aggregated pair counts.

Two tidy tables carry every human judgment in eyetest.

Pairwise judgments (one row per judgment)
    required ``rater, condition_a, condition_b, outcome`` with ``outcome`` in
    ``a | b | tie`` (``a``: the condition shown as A was preferred);
    optional ``trial, image, method_a, method_b, scenario, dimension,
    elapsed_ms, timestamp, both_bad, is_gold, is_repeat, is_training`` and
    ``gold_outcome`` (the known answer of a gold trial, ``a|b|tie``).

Ratings (one row per rating)
    required ``rater, condition, value, scale`` with ``scale`` in
    ``acr5 | dcr5 | continuous100``; optional ``trial, image, method,
    scenario, dimension, elapsed_ms, timestamp, is_gold, is_repeat,
    is_training``.

A condition of a restoration study is the pair (image, method); its id is
built by :func:`condition_id` (``"<image>::<method>"``).  Scaling is usually
done per condition (within image) or per method, pooling images, with
:func:`method_judgments`.

Scaling models never see the rows: they work on :class:`PairCounts`, the
sufficient statistics (wins of i over j, wins of j over i, ties) per
unordered pair, built by :func:`pair_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from eyetest.errors import JudgmentDataError

PAIRWISE_REQUIRED = ("rater", "condition_a", "condition_b", "outcome")
PAIRWISE_OPTIONAL = (
    "trial", "image", "method_a", "method_b", "scenario", "dimension", "elapsed_ms",
    "timestamp", "both_bad", "is_gold", "is_repeat", "is_training", "gold_outcome",
)
RATING_REQUIRED = ("rater", "condition", "value", "scale")
RATING_OPTIONAL = (
    "trial", "image", "method", "scenario", "dimension", "elapsed_ms", "timestamp",
    "is_gold", "is_repeat", "is_training", "gold_low", "gold_high",
)
OUTCOMES = ("a", "b", "tie")
#: rating scales and their admissible value range (inclusive)
RATING_SCALES = {"acr5": (1.0, 5.0), "dcr5": (1.0, 5.0), "continuous100": (0.0, 100.0)}
_FLAGS = ("both_bad", "is_gold", "is_repeat", "is_training")
CONDITION_SEP = "::"


def condition_id(image, method) -> str:
    """Id of the condition (image, method): ``f"{image}::{method}"``.

    Works element-wise on pandas Series / arrays as well as on scalars.
    """
    if isinstance(image, (pd.Series, pd.Index, np.ndarray, list)):
        return (pd.Series(image).astype(str) + CONDITION_SEP + pd.Series(method).astype(str)).to_numpy()
    return f"{image}{CONDITION_SEP}{method}"


def split_condition_id(condition: str) -> tuple[str, str]:
    """Inverse of :func:`condition_id`: ``"img::m"`` -> ``("img", "m")``."""
    if CONDITION_SEP not in condition:
        raise JudgmentDataError("condition", condition, f"has no {CONDITION_SEP!r} separator")
    image, method = condition.rsplit(CONDITION_SEP, 1)
    return image, method


def _bool_flags(df: pd.DataFrame) -> None:
    for flag in _FLAGS:
        if flag in df.columns:
            col = df[flag]
            if col.dtype != bool:
                mapped = col.map(
                    lambda v: v if isinstance(v, (bool, np.bool_))
                    else {"true": True, "false": False, "1": True, "0": False, "": False,
                          "nan": False, "none": False}.get(str(v).strip().lower(), None)
                )
                bad = mapped.isna()
                if bad.any():
                    raise JudgmentDataError(flag, col[bad].iloc[0], "is not a boolean flag")
                df[flag] = mapped.astype(bool)


def _require(df: pd.DataFrame, required, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise JudgmentDataError(what, type(df).__name__, "must be a pandas DataFrame")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise JudgmentDataError("columns", ",".join(missing), f"missing from the {what} table")


def _ids(col: pd.Series, name: str) -> pd.Series:
    """Ids as text without surrounding spaces; a missing or blank id raises."""
    text = col.map(lambda v: str(v).strip(), na_action="ignore")
    empty = text.isna() | (text == "")
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise JudgmentDataError(name, "NaN" if pd.isna(text.iloc[row]) else col.iloc[row], f"empty {name} in row {row}")
    return text.astype(str)


def validate_pairwise(df: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise a pairwise judgment table; returns a copy.

    Ids (rater, conditions) are text without surrounding spaces; outcomes
    are lower-cased; ``condition_a == condition_b``, empty ids,
    unknown outcomes and non-boolean flags raise :class:`JudgmentDataError`
    naming the column and the first offending value.
    """
    _require(df, PAIRWISE_REQUIRED, "pairwise judgment")
    out = df.copy()
    for col in ("rater", "condition_a", "condition_b"):
        out[col] = _ids(out[col], col)
    out["outcome"] = out["outcome"].astype(str).str.strip().str.lower()
    bad = ~out["outcome"].isin(OUTCOMES)
    if bad.any():
        raise JudgmentDataError("outcome", out["outcome"][bad].iloc[0], "must be one of a|b|tie")
    same = out["condition_a"] == out["condition_b"]
    if same.any():
        raise JudgmentDataError("condition_b", out["condition_b"][same].iloc[0],
                                "equals condition_a (a condition compared with itself)")
    if "gold_outcome" in out.columns:
        gold = out["gold_outcome"].astype(str).str.strip().str.lower()
        ok = gold.isin(OUTCOMES) | out["gold_outcome"].isna()
        if not ok.all():
            raise JudgmentDataError("gold_outcome", gold[~ok].iloc[0], "must be one of a|b|tie")
        out["gold_outcome"] = gold.where(out["gold_outcome"].notna())
    if "elapsed_ms" in out.columns:
        el = pd.to_numeric(out["elapsed_ms"], errors="coerce")
        if ((el < 0) & el.notna()).any():
            raise JudgmentDataError("elapsed_ms", el[el < 0].iloc[0], "is negative")
        out["elapsed_ms"] = el
    _bool_flags(out)
    return out.reset_index(drop=True)


def validate_ratings(df: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise a rating table; returns a copy.

    Values must be numbers inside the range of their ``scale`` (acr5/dcr5:
    1..5, continuous100: 0..100); acr5 and dcr5 are category scales (ITU-T
    P.910 ACR / DCR), so their values must also be whole numbers.  An error
    names the value and its row (0-based, as in the table given).
    """
    _require(df, RATING_REQUIRED, "rating")
    out = df.copy()
    for col in ("rater", "condition"):
        out[col] = _ids(out[col], col)
    out["scale"] = out["scale"].astype(str).str.strip().str.lower()
    unknown = ~out["scale"].isin(list(RATING_SCALES))
    if unknown.any():
        raise JudgmentDataError("scale", out["scale"][unknown].iloc[0],
                                f"must be one of {'|'.join(RATING_SCALES)}")
    raw = out["value"]
    values = pd.to_numeric(raw, errors="coerce").astype(float)

    def first(mask) -> tuple[int, object]:
        row = int(np.flatnonzero(mask.to_numpy())[0])
        value = raw.iloc[row]
        return row, value.item() if hasattr(value, "item") else value

    missing = values.isna().to_numpy()
    if missing.any():
        row, value = first(pd.Series(missing))
        empty = value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""
        raise JudgmentDataError("value", "" if empty else value,
                                f"{'is empty' if empty else 'is not a number'} (row {row})")
    out["value"] = values
    for scale, (lo, hi) in RATING_SCALES.items():
        sel = out["scale"] == scale
        bad = sel & ~((values >= lo) & (values <= hi))
        if bad.any():
            row, _ = first(bad)
            raise JudgmentDataError("value", float(values.iloc[row]),
                                    f"outside [{lo:g}, {hi:g}] of scale {scale} (row {row})")
        if scale != "continuous100":
            bad = sel & (values != np.round(values))
            if bad.any():
                row, _ = first(bad)
                raise JudgmentDataError("value", float(values.iloc[row]),
                                        f"is not a category of scale {scale} (whole numbers 1..5) (row {row})")
    _bool_flags(out)
    return out.reset_index(drop=True)


def method_judgments(df: pd.DataFrame) -> pd.DataFrame:
    """Relabel a within-image pairwise table so that conditions are methods.

    ``condition_a/condition_b`` are replaced by ``method_a/method_b`` (taken
    from the columns, or split from ``image::method`` ids).  Scaling the
    result gives one score per method, pooling all images: the usual
    restoration-study leaderboard (aggregation per method).
    """
    out = validate_pairwise(df)
    for side in ("a", "b"):
        col = f"method_{side}"
        if col not in out.columns:
            out[col] = [split_condition_id(c)[1] for c in out[f"condition_{side}"]]
        out[f"condition_{side}"] = _ids(out[col], col)
    same = out["condition_a"] == out["condition_b"]
    return out[~same].reset_index(drop=True)


@dataclass(frozen=True)
class PairCounts:
    """Sufficient statistics of pairwise judgments per unordered pair.

    Attributes
    ----------
    conditions : tuple of str
        Condition labels; index ``k`` of the arrays below refers to ``conditions[k]``.
    i, j : ndarray of int, shape (P,)
        Pair indices with ``i < j``.
    wins_i, wins_j, ties : ndarray of float, shape (P,) or (B, P)
        Judgments preferring ``i``, preferring ``j``, and ties.  A leading
        batch axis holds bootstrap replicates.
    """

    conditions: tuple
    i: np.ndarray
    j: np.ndarray
    wins_i: np.ndarray
    wins_j: np.ndarray
    ties: np.ndarray

    @property
    def n_conditions(self) -> int:
        return len(self.conditions)

    @property
    def total(self) -> np.ndarray:
        return self.wins_i + self.wins_j + self.ties

    def with_counts(self, wins_i, wins_j, ties) -> "PairCounts":
        return PairCounts(self.conditions, self.i, self.j, np.asarray(wins_i, float),
                          np.asarray(wins_j, float), np.asarray(ties, float))

    def matrix(self) -> np.ndarray:
        """Win matrix ``M[a, b]`` = judgments preferring a over b, ties as 1/2 each."""
        n = self.n_conditions
        m = np.zeros((n, n))
        np.add.at(m, (self.i, self.j), self.wins_i + 0.5 * self.ties)
        np.add.at(m, (self.j, self.i), self.wins_j + 0.5 * self.ties)
        return m

    def index(self, condition: str) -> int:
        try:
            return self.conditions.index(condition)
        except ValueError:
            raise JudgmentDataError("condition", condition, "does not occur in the judgments") from None


def pair_counts(df: pd.DataFrame, *, conditions=None) -> PairCounts:
    """Aggregate a pairwise table into :class:`PairCounts` (validated first).

    Parameters
    ----------
    df : DataFrame
        Pairwise judgment table.
    conditions : sequence of str, optional
        Label order; defaults to the sorted labels that occur.  Labels listed
        here but never compared get no pairs (they form their own component).
    """
    df = validate_pairwise(df)
    labels = sorted(set(df["condition_a"]) | set(df["condition_b"])) if conditions is None else [str(c) for c in conditions]
    pos = {c: k for k, c in enumerate(labels)}
    try:
        a = df["condition_a"].map(pos).to_numpy()
        b = df["condition_b"].map(pos).to_numpy()
    except KeyError as exc:  # pragma: no cover - map gives NaN instead
        raise JudgmentDataError("condition", str(exc), "not in conditions") from None
    if pd.isna(a).any() or pd.isna(b).any():
        missing = df["condition_a"][pd.isna(a)].tolist() + df["condition_b"][pd.isna(b)].tolist()
        raise JudgmentDataError("condition", missing[0], "is not in the given conditions")
    a = a.astype(np.int64)
    b = b.astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    outcome = df["outcome"].to_numpy()
    low_wins = ((outcome == "a") & (a == lo)) | ((outcome == "b") & (b == lo))
    tie = outcome == "tie"
    high_wins = ~low_wins & ~tie
    n = len(labels)
    key = lo * n + hi
    uniq, inv = np.unique(key, return_inverse=True)
    p = len(uniq)
    return PairCounts(
        conditions=tuple(labels),
        i=(uniq // n).astype(np.int64),
        j=(uniq % n).astype(np.int64),
        wins_i=np.bincount(inv, weights=low_wins, minlength=p).astype(float),
        wins_j=np.bincount(inv, weights=high_wins, minlength=p).astype(float),
        ties=np.bincount(inv, weights=tie, minlength=p).astype(float),
    )


def components(counts: PairCounts) -> np.ndarray:
    """Connected-component label per condition of the comparison graph (undirected)."""
    n = counts.n_conditions
    used = counts.total > 0 if counts.total.ndim == 1 else np.ones(len(counts.i), bool)
    g = coo_matrix((np.ones(int(used.sum())), (counts.i[used], counts.j[used])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def strong_components(counts: PairCounts) -> np.ndarray:
    """Strongly connected component per condition of the "beat or tied" graph (edge a->b: a beat or tied b)."""
    n = counts.n_conditions
    fwd = (counts.wins_i + counts.ties) > 0
    bwd = (counts.wins_j + counts.ties) > 0
    rows = np.concatenate([counts.i[fwd], counts.j[bwd]])
    cols = np.concatenate([counts.j[fwd], counts.i[bwd]])
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(g, directed=True, connection="strong")[1]


def mle_exists(counts: PairCounts) -> bool:
    """Whether the Bradley-Terry MLE is finite: the win graph is strongly connected.

    An edge a->b exists when a beat b at least once or they tied (Zermelo 1929;
    Ford 1957: the MLE exists iff for every split of the conditions into two
    groups some member of each group beat some member of the other).
    """
    if counts.n_conditions < 2:
        return True
    return int(strong_components(counts).max()) == 0
