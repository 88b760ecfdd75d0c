"""Rater simulator: synthetic pairwise judgments and ratings with known truth.

Latent truth (:func:`make_truth`)
    quality ``q[image, method, dimension] = mu_m + delta_{m,d} + gamma_{s(image), m}
    + eta_image + zeta_{image, m}``: a method effect, its per-dimension
    deviation (only with several dimensions), a scenario-by-method effect (e.g. a method that is good on
    photos but bad on cartoons), an image offset and an image-by-method
    residual, all Gaussian with the given standard deviations.  Units are
    those of :mod:`eyetest.core.design.posterior`: 1 = sd of one perceived
    difference for an average rater.

Pairwise judgment (Thurstone Case V with a tie band, Thurstone 1927)
    the rater perceives ``D = q_A - q_B + b_r + sigma_r (1 + f t) Z`` with
    ``Z ~ N(0, 1)``, ``b_r`` the rater's left-position bias, ``sigma_r`` the
    rater's noise (``noise_sd`` times a log-normal multiplier), ``f`` the
    fatigue per trial and ``t`` the trial index; the answer is a tie if
    ``|D| < tie_threshold``, else the side ``D`` favours.  So

        P(tie | Delta) = Phi((tau - Delta - b) / s) - Phi((-tau - Delta - b) / s)

    (:func:`tie_probability`).  A share of raters are *random clickers* who
    answer uniformly among the allowed answers, quickly.  A share
    ``quit_share`` leave their session early (:func:`quit_quota`; the study
    simulations of :mod:`eyetest.core.design.evaluate` and
    :mod:`eyetest.core.design.rating_plan` use it).  Gold and
    attention trials use a difference of ``gold_gap`` towards the known answer,
    which the output carries in the optional ``gold_outcome`` column.
Ratings
    the rater perceives ``q + o_r + sigma_r (1 + f t) Z`` (``o_r`` a rater
    offset) and maps it linearly from ``[min q - 2, max q + 2]`` onto the
    scale: ``acr5``/``dcr5`` categories 1..5, ``continuous100`` 0..100.

All randomness comes from the ``rng`` given to the constructor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import ndtr

from eyetest.core.judgments.model import CONDITION_SEP, condition_id, split_condition_id
from eyetest.errors import SpecError, UnknownNameError

PAIRWISE_COLUMNS = ("rater", "trial", "condition_a", "condition_b", "outcome", "image", "method_a",
                    "method_b", "scenario", "dimension", "elapsed_ms", "is_gold", "is_repeat", "gold_outcome")
RATING_COLUMNS = ("rater", "trial", "condition", "image", "method", "value", "scale", "scenario",
                  "dimension", "elapsed_ms")
SCALES = ("acr5", "dcr5", "continuous100")


@dataclass(frozen=True)
class LatentTruth:
    """Known quality of every (image, method, dimension); see module docstring."""

    images: tuple
    methods: tuple
    dimensions: tuple
    scenarios: tuple          # scenario of each image ("" if none)
    quality: np.ndarray       # shape (images, methods, dimensions)

    def conditions(self) -> list[str]:
        """Condition ids ``image::method``, image-major."""
        return [condition_id(i, m) for i in self.images for m in self.methods]

    def condition_quality(self, dimension: str = "overall") -> dict[str, float]:
        d = self._dim(dimension)
        return {condition_id(i, m): float(self.quality[a, b, d])
                for a, i in enumerate(self.images) for b, m in enumerate(self.methods)}

    def method_quality(self, dimension: str = "overall", scenario: str | None = None) -> dict[str, float]:
        """Mean quality of each method over the images (of one scenario)."""
        d = self._dim(dimension)
        rows = [k for k, s in enumerate(self.scenarios) if scenario is None or s == scenario]
        return dict(zip(self.methods, self.quality[rows, :, d].mean(axis=0).tolist()))

    def _dim(self, dimension: str) -> int:
        try:
            return self.dimensions.index(dimension)
        except ValueError:
            raise UnknownNameError("dimension", dimension, self.dimensions) from None


def make_truth(*, images, methods, rng: np.random.Generator, dimensions=("overall",), scenarios=None,
               method_quality=None, method_sd: float = 1.0, dimension_sd: float = 0.3,
               scenario_sd: float = 0.5, image_sd: float = 0.3, residual_sd: float = 0.2) -> LatentTruth:
    """Draw a :class:`LatentTruth`.

    ``scenarios`` maps image -> scenario; ``method_quality`` (method -> value)
    fixes the method effects instead of drawing them.
    """
    images, methods, dimensions = tuple(map(str, images)), tuple(map(str, methods)), tuple(map(str, dimensions))
    for what, names in (("images", images), ("methods", methods), ("dimensions", dimensions)):
        if not names or len(set(names)) != len(names):
            raise SpecError(what, "must be a non-empty list of distinct names")
    scen = tuple(str((scenarios or {}).get(i, "")) for i in images)
    n_i, n_m, n_d = len(images), len(methods), len(dimensions)
    if method_quality is None:
        mu = rng.normal(0.0, method_sd, n_m)
    else:
        missing = [m for m in methods if m not in method_quality]
        if missing:
            raise SpecError("method_quality", f"no value for method {missing[0]!r}")
        mu = np.array([float(method_quality[m]) for m in methods])
    labels = sorted(set(scen))
    gamma = rng.normal(0.0, scenario_sd, (len(labels), n_m))
    gamma[[k for k, s in enumerate(labels) if s == ""]] = 0.0   # untagged images: no scenario effect
    dim_dev = rng.normal(0.0, dimension_sd, (1, n_m, n_d)) if n_d > 1 else np.zeros((1, n_m, 1))
    q = (mu[None, :, None]
         + dim_dev
         + gamma[[labels.index(s) for s in scen]][:, :, None]
         + rng.normal(0.0, image_sd, (n_i, 1, 1))
         + rng.normal(0.0, residual_sd, (n_i, n_m, 1)))
    return LatentTruth(images, methods, dimensions, scen, q)


def truth_from_scores(scores: dict, *, image: str = "image") -> LatentTruth:
    """A one-image, one-dimension truth with the given method -> quality values."""
    methods = tuple(map(str, scores))
    q = np.array([float(scores[m]) for m in scores])[None, :, None]
    return LatentTruth((str(image),), methods, ("overall",), ("",), q)


def tie_probability(delta, *, threshold: float, noise_sd: float = 1.0, bias: float = 0.0):
    """P(tie) of a pair with quality difference ``delta`` (see module docstring).

    Even in ``delta + b``, so computed at ``|delta + b|``: both CDFs then lie
    in the lower tail and their difference does not cancel for far-apart pairs.
    """
    m = np.abs(np.asarray(delta, float) + bias)
    return ndtr((threshold - m) / noise_sd) - ndtr((-threshold - m) / noise_sd)


def calibrate_tie_threshold(deltas, share: float, *, noise_sd: float = 1.0) -> float:
    """Threshold whose mean tie probability over the differences ``deltas`` is ``share``."""
    if not 0.0 <= share < 1.0:
        raise SpecError("ties", f"tie share must be in [0, 1), got {share!r}")
    if share == 0.0:
        return 0.0
    deltas = np.asarray(deltas, float)
    f = lambda t: float(tie_probability(deltas, threshold=t, noise_sd=noise_sd).mean()) - share
    return float(brentq(f, 0.0, 50.0 * noise_sd + float(np.abs(deltas).max()), xtol=1e-10))


@dataclass(frozen=True)
class RaterModel:
    """Parameters of the simulated rater population (see module docstring)."""

    noise_sd: float = 1.0
    noise_spread: float = 0.25       # sd of log(noise multiplier) between raters
    position_bias: float = 0.0       # mean bonus of the left (A) image
    position_bias_sd: float = 0.0    # between-rater sd of that bonus
    tie_threshold: float = 0.0
    random_share: float = 0.0
    fatigue: float = 0.0             # relative noise increase per trial
    quit_share: float = 0.0          # share of raters who leave their session early (see quit_quota)
    gold_gap: float = 4.0
    rating_offset_sd: float = 0.3
    median_ms: float = 2500.0


#: the random stream of the raters' quitting points (``default_rng([seed, QUIT_STREAM])`` per study)
QUIT_STREAM = 0x9017


def quit_quota(rng: np.random.Generator, *, trials: int, quit_share: float) -> int:
    """Trials a new rater of a ``trials``-trial session answers before leaving.

    With probability ``quit_share`` the rater abandons the session after a
    uniformly random number of trials, ``0 .. trials - 1`` (on average
    ``(trials - 1) / 2``); otherwise all ``trials``.  A study server hands the
    unanswered rest to later raters once the session expires
    (``eyetest.study.expiry``), so quitting costs raters, not judgments:
    a rater answers ``trials (1 - quit_share) + quit_share (trials - 1) / 2``
    trials on average.  ``quit_share = 0`` draws nothing.
    """
    if not 0.0 <= quit_share < 1.0:
        raise SpecError("quit_share", f"must be a share in [0, 1), got {quit_share!r}")
    if quit_share == 0.0 or rng.random() >= quit_share:
        return int(trials)
    return int(rng.integers(0, trials))


def expected_trials(trials: int, quit_share: float) -> float:
    """Mean trials a rater of a ``trials``-trial session answers (:func:`quit_quota`)."""
    return float(trials) * (1.0 - quit_share) + quit_share * (float(trials) - 1.0) / 2.0


@dataclass
class _Rater:
    noise: float
    bias: float
    offset: float
    random: bool


class RaterSimulator:
    """Simulated raters answering pairwise trials and rating trials.

    Parameters
    ----------
    truth : LatentTruth
    model : RaterModel
    rng : numpy.random.Generator
    """

    def __init__(self, truth: LatentTruth, *, model: RaterModel = RaterModel(), rng: np.random.Generator):
        if not isinstance(rng, np.random.Generator):
            raise SpecError("rng", "must be a numpy.random.Generator")
        self.truth = truth
        self.model = model
        self.rng = rng
        self.raters: dict[str, _Rater] = {}
        self._q = {d: truth.condition_quality(d) for d in truth.dimensions}
        self._scenario = dict(zip(truth.images, truth.scenarios))
        q = truth.quality
        self._range = (float(q.min()) - 2.0, float(q.max()) + 2.0)

    def add_rater(self, rater: str | None = None) -> str:
        """Draw a new rater's noise, position bias, rating offset and clicker status."""
        m = self.model
        name = str(rater) if rater is not None else f"sim{len(self.raters):05d}"
        self.raters[name] = _Rater(
            noise=m.noise_sd * float(np.exp(self.rng.normal(0.0, m.noise_spread))),
            bias=m.position_bias + m.position_bias_sd * float(self.rng.normal()),
            offset=m.rating_offset_sd * float(self.rng.normal()),
            random=bool(self.rng.random() < m.random_share),
        )
        return name

    def _rater(self, name) -> _Rater:
        name = str(name)
        if name not in self.raters:
            self.add_rater(name)
        return self.raters[name]

    def _quality(self, condition: str, dimension: str) -> float:
        try:
            return self._q[dimension][condition]
        except KeyError:
            if dimension not in self._q:
                raise UnknownNameError("dimension", dimension, self._q) from None
            raise UnknownNameError("condition", condition, self._q[dimension]) from None

    def outcome_codes(self, raters, trials, delta) -> np.ndarray:
        """Answers as codes (+1: A, -1: B, 0: tie) for true differences ``delta = q_A - q_B``.

        The vectorised core of :meth:`judge_pairs`, also used by fast design simulations.
        """
        m = self.model
        info = [self._rater(r) for r in raters]
        noise = np.array([x.noise for x in info]) * (1.0 + m.fatigue * np.asarray(trials, float))
        bias = np.array([x.bias for x in info])
        d = np.asarray(delta, float) + bias + noise * self.rng.standard_normal(len(info))
        code = np.where(d >= 0, 1, -1)
        code[np.abs(d) < m.tie_threshold] = 0
        clickers = np.array([x.random for x in info], bool)
        if clickers.any():
            choices = np.array([1, -1, 0] if m.tie_threshold > 0 else [1, -1])
            code[clickers] = self.rng.choice(choices, size=int(clickers.sum()))
        return code

    def _elapsed(self, raters) -> np.ndarray:
        fast = np.array([0.35 if self._rater(r).random else 1.0 for r in raters])
        return np.round(self.model.median_ms * fast * np.exp(0.4 * self.rng.standard_normal(len(fast)))).astype(np.int64)

    def judge_pairs(self, raters, trials, condition_a, condition_b, *, dimension: str = "overall",
                    expected=None, is_repeat=None) -> pd.DataFrame:
        """Simulate pairwise judgments; one row per trial with :data:`PAIRWISE_COLUMNS`.

        ``expected`` (``"a"``, ``"b"`` or None per trial) marks gold / attention
        trials, answered as if the expected side were ``gold_gap`` better.
        The last column, ``gold_outcome``, is that expected answer (``"a"`` /
        ``"b"``) for control trials and missing (None; an empty field in CSV)
        otherwise, as :func:`eyetest.core.judgments.quality.gold_accuracy`
        reads it.
        A rater not added with :meth:`add_rater` is drawn on first use.
        """
        raters = [str(r) for r in raters]
        n = len(raters)
        expected = [None] * n if expected is None else list(expected)
        is_repeat = np.zeros(n, bool) if is_repeat is None else np.asarray(is_repeat, bool)
        if not (len(trials) == len(condition_a) == len(condition_b) == len(expected) == len(is_repeat) == n):
            raise SpecError("trials", "raters, trials, conditions and flags must have the same length")
        delta = np.empty(n)
        for k, (a, b, e) in enumerate(zip(condition_a, condition_b, expected)):
            if e is None:
                delta[k] = self._quality(a, dimension) - self._quality(b, dimension)
            elif e in ("a", "b"):
                delta[k] = self.model.gold_gap if e == "a" else -self.model.gold_gap
            else:
                raise SpecError("expected", f"{e!r} is not 'a', 'b' or None")
        code = self.outcome_codes(raters, trials, delta)
        img_a, met_a = zip(*(_split(c) for c in condition_a)) if n else ((), ())
        met_b = [_split(c)[1] for c in condition_b]
        return pd.DataFrame({
            "rater": raters, "trial": np.asarray(trials, np.int64),
            "condition_a": list(map(str, condition_a)), "condition_b": list(map(str, condition_b)),
            "outcome": np.array(["tie", "a", "b"])[code], "image": list(img_a),
            "method_a": list(met_a), "method_b": met_b,
            "scenario": [self._scenario.get(i, "") for i in img_a], "dimension": dimension,
            "elapsed_ms": self._elapsed(raters), "is_gold": [e is not None for e in expected],
            "is_repeat": is_repeat,
            "gold_outcome": pd.Series(expected, dtype=object),
        }, columns=list(PAIRWISE_COLUMNS))

    def judge_trials(self, rater, trials, *, dimension: str = "overall") -> pd.DataFrame:
        """Answer a session of :class:`~eyetest.core.design.quality.Trial` objects."""
        trials = list(trials)
        return self.judge_pairs([rater] * len(trials), [t.trial for t in trials],
                                [t.condition_a for t in trials], [t.condition_b for t in trials],
                                dimension=dimension, expected=[t.expected for t in trials],
                                is_repeat=[t.is_repeat for t in trials])

    def rate(self, raters, trials, conditions, *, scale: str, dimension: str = "overall") -> pd.DataFrame:
        """Simulate single-stimulus ratings; one row per trial with :data:`RATING_COLUMNS`."""
        if scale not in SCALES:
            raise UnknownNameError("scale", scale, SCALES)
        raters = [str(r) for r in raters]
        info = [self._rater(r) for r in raters]
        n = len(raters)
        q = np.array([self._quality(c, dimension) for c in conditions])
        noise = np.array([x.noise for x in info]) * (1.0 + self.model.fatigue * np.asarray(trials, float))
        perceived = q + np.array([x.offset for x in info]) + noise * self.rng.standard_normal(n)
        lo, hi = self._range
        u = np.clip((perceived - lo) / (hi - lo), 0.0, 1.0)
        clickers = np.array([x.random for x in info], bool)
        u[clickers] = self.rng.random(int(clickers.sum()))
        if scale == "continuous100":
            value = np.round(100.0 * u, 1)
        else:
            value = (1 + np.minimum(np.floor(5.0 * u), 4)).astype(float)
        image, method = zip(*(_split(c) for c in conditions)) if n else ((), ())
        return pd.DataFrame({
            "rater": raters, "trial": np.asarray(trials, np.int64), "condition": list(map(str, conditions)),
            "image": list(image), "method": list(method), "value": value, "scale": scale,
            "scenario": [self._scenario.get(i, "") for i in image], "dimension": dimension,
            "elapsed_ms": self._elapsed(raters),
        }, columns=list(RATING_COLUMNS))


def _split(condition: str) -> tuple[str, str]:
    condition = str(condition)
    return split_condition_id(condition) if CONDITION_SEP in condition else ("", condition)
