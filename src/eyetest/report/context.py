"""Report context: the inputs plus the derived tables several sections share.

:class:`Context` scales the judgments once (Bradley-Terry per condition and
per method, per dimension and scenario, after the rater screening), holds the
metric directions and the regime, and collects one-line key results.
:func:`rank_correlations` is the cheap per-group SRCC used for the
dimension and family views.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eyetest.core.judgments.ranking import is_rating_table
from eyetest.core.judgments.screening import primary_dimension
from eyetest.errors import DatasetError, EyetestError, UnknownNameError

REGIMES = ("fidelity-first", "perception-first")
REGIME_TEXT = {
    "fidelity-first": ("Fidelity-first regime: outputs must stay faithful to the scene (medical, remote "
                       "sensing, forensics). Read the full-reference metrics (PSNR, SSIM) first; human "
                       "preference and no-reference scores are secondary, and invented detail is an error "
                       "even when people like it."),
    "perception-first": ("Perception-first regime: outputs are judged by how they look to people. The human "
                         "scales lead; metrics are reported with their measured agreement with people and "
                         "their audit flags, and a better metric score alone is no evidence of a better "
                         "method."),
}
#: scenario names whose images belong to fidelity-first domains whatever the declared regime
FIDELITY_SCENARIOS = ("medical", "remote sensing", "astronomy", "microscopy", "aerial view", "satellite",
                      "forensics")


#: bootstrap resamples when the report summarises an audit table itself (no summary files beside it)
AUDIT_N_BOOT = 500


def _direction(metric: str, known: bool | None, given: dict, where: str) -> bool | None:
    """Higher-is-better of ``metric``: ``known`` (from ``where``), else the registry's, else ``given``'s.

    A ``given`` direction that contradicts the known one is an error naming the metric.
    """
    from eyetest.core.metrics.registry import get_metric

    if known is None:
        try:
            known, where = get_metric(metric).higher_is_better, "the metric registry"
        except UnknownNameError:
            known = None
    if known is not None and metric in given and bool(given[metric]) != known:
        say = "higher" if known else "lower"
        raise DatasetError(f"metric {metric!r}: {where} says {say} is better, which contradicts "
                           f"--{'lower' if known else 'higher'}-is-better")
    return known if known is not None else (bool(given[metric]) if metric in given else None)


def scenario_tags(scenarios: dict) -> pd.DataFrame:
    rows = [(i, t) for i, tags in scenarios.items() for t in tags]
    return pd.DataFrame(rows, columns=["image", "scenario"])


def explode_scenarios(frame: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario tag of the row's image (rows of untagged images dropped)."""
    return frame.drop(columns=[c for c in ("scenario",) if c in frame.columns]).merge(tags, on="image")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Context:
    """Inputs plus the derived tables shared by several sections."""

    inputs: object
    seed: int
    n_boot: int
    regime: str
    compare: tuple | None
    exclude_mode: str
    directions: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    methods: list = field(default_factory=list)
    descriptions: dict = field(default_factory=dict)
    simulated: bool = False
    judgments: pd.DataFrame | None = None      # non-gold, after exclusion
    screen: object = None
    excluded: list = field(default_factory=list)
    findings: list = field(default_factory=list)   # one-line results, filled by the sections
    human_error: str = ""                           # why judgments could not be scaled
    ratings: bool = False                           # the judgments are single-stimulus ratings
    scale_notes: list = field(default_factory=list)
    cond_scale: pd.DataFrame | None = None      # image, method, dimension, score, ci
    method_scale: pd.DataFrame | None = None    # per dimension
    scenario_scale: pd.DataFrame | None = None  # primary dimension, per scenario
    #: interval of the rating MOS pooled over images (method_scale, scenario_scale of a rating study)
    pooled_interval: str = "rater-bootstrap percentile interval"
    primary: str = "overall"
    undirected: list = field(default_factory=list)  # scored metrics without a known direction
    audit_gameability: pd.DataFrame | None = None
    audit_context_flags: pd.DataFrame | None = None
    audit_images: int = 0                            # images of the standard audit
    audit_error: str = ""                            # why the audit could not be summarised

    def rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

    @classmethod
    def from_inputs(cls, inputs, *, seed, compare, regime, n_boot, exclude_raters, directions=None):
        """``directions``: metric -> higher is better, for metrics that are neither registered
        nor in a manifest (contradicting the registry or a manifest is an error)."""
        about = inputs.about or {}
        regime = regime or about.get("regime") or "undeclared"
        compare = tuple(compare) if compare else (tuple(about["compare"]) if about.get("compare") else None)
        ctx = cls(inputs, seed, n_boot, regime, compare, exclude_raters)
        ctx.descriptions = dict(about.get("methods") or {})
        given = dict(directions or {})
        if inputs.scores is not None:
            man = (inputs.score_manifest or {}).get("metrics", {})
            for m in dict.fromkeys(inputs.scores["metric"].astype(str)):
                known = bool(man[m]["higher_is_better"]) if m in man else None
                d = _direction(m, known, given, "the score manifest")
                if d is None:
                    ctx.undirected.append(m)
                else:
                    ctx.directions[m] = d
            ctx.metrics = list(ctx.directions)
            ctx.methods = sorted(map(str, inputs.scores["method"].unique()))
        ctx._audit(given)
        try:
            ctx._human()
        except EyetestError as exc:   # the human sections then say why they are missing
            ctx.human_error = str(exc)
            ctx.judgments = ctx.cond_scale = ctx.method_scale = ctx.scenario_scale = ctx.screen = None
        if not ctx.methods and ctx.method_scale is not None:
            ctx.methods = sorted(map(str, ctx.method_scale["condition"].unique()))
        return ctx

    def direction_note(self) -> str:
        """Why some scored metrics are left out (no known direction), or ''."""
        if not self.undirected:
            return ""
        names = ", ".join(repr(m) for m in self.undirected)
        return (f"metric(s) {names} left out: no known direction (not registered and not in a score "
                "manifest); pass --higher-is-better NAME or --lower-is-better NAME")

    # -- audit --------------------------------------------------------------------
    def _audit(self, given: dict) -> None:
        """The audit's flags: read from its summary files, else summarised here (seeded by ``seed``)."""
        inp = self.inputs
        if inp.audit is None:
            return
        t = inp.audit
        std = t[t["context"] == "standard"] if "context" in t.columns else t
        self.audit_images = int(std["image"].nunique()) if "image" in std.columns else 0
        if inp.audit_gameability is not None:
            self.audit_gameability, self.audit_context_flags = inp.audit_gameability, inp.audit_context_flags
            return
        if not len(t):
            return
        from eyetest.run.audit import summarise_table

        am = inp.audit_manifest or {}
        hib, missing = {}, []
        for m in dict.fromkeys(t["metric"].astype(str)):
            known = am.get("metrics", {}).get(m, {}).get("higher_is_better")
            d = _direction(m, None if known is None else bool(known), given, "the audit manifest")
            if d is None:
                missing.append(m)
            hib[m] = d
        if missing:
            self.audit_error = (f"metric(s) {', '.join(map(repr, missing))} of the audit table have no known "
                                "direction (not registered, no audit manifest beside it); pass "
                                "--higher-is-better NAME or --lower-is-better NAME")
            return
        from eyetest.core.manipulate import list_manipulations

        kinds = {m.name: m.kind for m in list_manipulations()}
        kinds.update(am.get("kinds") or {})
        try:
            tables = summarise_table(t, higher_is_better=hib, rng=self.rng(21), n_boot=AUDIT_N_BOOT, kinds=kinds)
        except EyetestError as exc:   # e.g. a manipulation of unknown kind: the section says so
            self.audit_error = f"the audit table could not be summarised: {exc}"
            return
        self.audit_gameability = tables["gameability"]
        if len(tables["context_flags"]):
            self.audit_context_flags = tables["context_flags"]

    # -- human data ---------------------------------------------------------------
    def _human(self):
        from eyetest.core.judgments.model import split_condition_id
        from eyetest.core.judgments.ranking import rank
        from eyetest.core.judgments.screening import screen_raters

        inp = self.inputs
        if inp.judgments is not None:
            j = inp.judgments.copy()
            if "source" in j.columns:
                self.simulated = bool(j["source"].astype(str).str.contains("simulat").any())
            self.simulated = self.simulated or bool((inp.about or {}).get("simulated"))
            if "dimension" not in j.columns:
                j["dimension"] = "overall"
            self.primary = primary_dimension(j["dimension"])   # the one rater screening uses too
            if is_rating_table(j):
                self._ratings(j)
                return
            self.screen = screen_raters(j, rules=self._screening_rules())   # on the primary dimension
            self.excluded = list(self.screen.excluded) if self.exclude_mode == "auto" else []
            cond, notes = rank(j, model="bradley-terry", by="dimension", exclude=self.excluded)
            self.scale_notes = notes
            meth, _ = rank(j, model="bradley-terry", by="dimension", exclude=self.excluded, per_method=True)
            keep = ~j["rater"].astype(str).isin(self.excluded)
            if "is_gold" in j.columns:
                keep &= ~j["is_gold"].astype(bool)
            if "is_training" in j.columns:
                keep &= ~j["is_training"].astype(bool)
            self.judgments = j[keep].reset_index(drop=True)
            cond = cond[~cond["condition"].str.endswith(("::gt", "::gold-blur"))]
            parts = [split_condition_id(c) for c in cond["condition"]]
            cond = cond.assign(image=[p[0] for p in parts], method=[p[1] for p in parts])
            self.cond_scale = cond
            self.method_scale = meth
            if inp.scenarios:
                jp = explode_scenarios(self.judgments[self.judgments["dimension"] == self.primary], scenario_tags(inp.scenarios))
                if len(jp):
                    self.scenario_scale, _ = rank(jp, model="bradley-terry", by="scenario", per_method=True)
        elif inp.scale is not None:
            s = inp.scale.copy()
            if "condition" in s.columns and "image" not in s.columns:
                parts = [split_condition_id(c) for c in s["condition"]]
                s = s.assign(image=[p[0] for p in parts], method=[p[1] for p in parts])
            if "dimension" not in s.columns:
                s["dimension"] = "overall"
            self.primary = primary_dimension(s["dimension"])
            self.cond_scale = s
            self.simulated = bool((inp.about or {}).get("simulated"))

    def _ratings(self, j: pd.DataFrame) -> None:
        """Single-stimulus ratings: MOS per condition and per method (Student-t CIs), BT.500 screening."""
        from eyetest.core.judgments.model import split_condition_id
        from eyetest.core.judgments.ranking import rank
        from eyetest.core.judgments.screening import screen_raters

        self.ratings = True
        self.screen = screen_raters(ratings=j, rules=self._screening_rules())   # on the primary dimension
        self.excluded = list(self.screen.excluded) if self.exclude_mode == "auto" else []
        cond, self.scale_notes = rank(j, model="mos", by="dimension", exclude=self.excluded)
        parts = [split_condition_id(c) for c in cond["condition"]]
        self.cond_scale = cond.assign(image=[p[0] for p in parts], method=[p[1] for p in parts])
        keep = ~j["rater"].astype(str).isin(self.excluded)
        for flag in ("is_gold", "is_repeat", "is_training"):     # as rank() leaves them out of the MOS
            if flag in j.columns:
                keep &= ~j[flag].astype(bool)
        self.judgments = j[keep].reset_index(drop=True)
        ids = [split_condition_id(c) for c in self.judgments["condition"]]
        per_method = self.judgments.assign(image=[i for i, _ in ids], condition=[m for _, m in ids])
        self.method_scale = self._pooled_mos(per_method, "dimension", salt=31)
        if self.inputs.scenarios:
            rx = explode_scenarios(per_method[per_method["dimension"] == self.primary],
                                   scenario_tags(self.inputs.scenarios))
            if len(rx):
                self.scenario_scale = self._pooled_mos(rx, "scenario", salt=32)

    def _screening_rules(self):
        """The default screening rules, with the study's own minimum time per trial when it has one."""
        from eyetest.core.judgments.screening import ScreeningRules

        ms = self.inputs.min_ms_per_trial
        return ScreeningRules(min_ms=ms) if ms else ScreeningRules()

    def _pooled_mos(self, ratings: pd.DataFrame, by: str, *, salt: int) -> pd.DataFrame:
        """MOS per method pooled over images, with rater-bootstrap intervals.

        A rater rates a method once per image, and a rater's ratings share the
        rater's bias, so the pooled ratings of a method are not independent:
        a Student-t interval over all of them is too narrow (by about
        ``sqrt(images)`` when the rater effect dominates).  Resampling raters
        (:func:`eyetest.core.judgments.mos.bootstrap_mos`, percentile
        interval; the images are held fixed) keeps each rater's ratings
        together.  With fewer than 2 raters in a slice the t-interval stays,
        with a note.
        """
        from eyetest.core.judgments.ranking import rank

        if ratings.groupby(by)["rater"].nunique().min() >= 2:
            scale, _ = rank(ratings, model="mos", by=by, n_boot=max(self.n_boot, 200), rng=self.rng(salt))
        else:
            scale, _ = rank(ratings, model="mos", by=by)
            self.pooled_interval = "t-interval; a slice has one rater, so raters cannot be resampled"
        return scale

    def human_primary(self) -> pd.DataFrame | None:
        if self.cond_scale is None:
            return None
        h = self.cond_scale[self.cond_scale["dimension"] == self.primary]
        return h[["image", "method", "score"]].reset_index(drop=True)

    def pairs(self) -> pd.DataFrame | None:
        from eyetest.core.alignment import aggregate_judgments

        if self.judgments is None or self.judgments.empty or self.ratings:
            return None
        return aggregate_judgments(self.judgments)

    # -- texts --------------------------------------------------------------------
    def sim_label(self) -> str:
        return "SIMULATED raters (eyetest rater simulator), not people" if self.simulated else "human raters"

    def regime_text(self) -> str:
        base = REGIME_TEXT.get(self.regime, "No regime declared (fidelity-first or perception-first; "
                                            "pass --regime). Read metrics and human scales side by side.")
        crit = sorted({t for tags in self.inputs.scenarios.values() for t in tags
                       if any(k in t.lower() for k in FIDELITY_SCENARIOS)})
        extra = self.inputs.about.get("regime_note", "") if self.inputs.about else ""
        if crit and self.regime != "fidelity-first" and not extra:
            extra = (extra + " " if extra else "") + (
                f"Scenarios from fidelity-first domains ({', '.join(crit)}) should be read by fidelity.")
        return base + (" " + extra if extra else "")

    def _rating_kinds_left_out(self) -> str:
        """``"gold/repeat ratings"``: the kinds of quality-control and training ratings in the input."""
        j = self.inputs.judgments
        kinds = [name for flag, name in (("is_gold", "gold"), ("is_repeat", "repeat"), ("is_training", "training"))
                 if flag in j.columns and j[flag].astype(bool).any()]
        return f"{'/'.join(kinds) or 'quality-control'} ratings"

    def subtitle(self) -> str:
        parts = []
        if self.inputs.scores is not None:
            parts.append(f"{self.inputs.scores['image'].nunique()} images x {len(self.methods)} methods x "
                         f"{len(self.metrics)} metrics")
        if self.judgments is not None:
            what = "ratings" if self.ratings else "pairwise judgments"
            read, used = len(self.inputs.judgments), len(self.judgments)
            text = f"{used} {what}"
            if used != read:
                left = ["gold/training trials"] if not self.ratings else [self._rating_kinds_left_out()]
                if self.excluded:
                    left.append(f"{len(self.excluded)} excluded rater(s)")
                text += f" used of {read} read ({' and '.join(left) or 'some'} left out)"
            parts.append(text + (" (SIMULATED)" if self.simulated else ""))
        return "; ".join(parts) or "eyetest report"

    def facts(self) -> list:
        f = [("regime", self.regime)]
        sm = self.inputs.score_manifest or {}
        if sm.get("preset"):
            f.append(("metric preset", sm["preset"]))
        if sm.get("versions"):
            f.append(("eyetest", sm["versions"].get("eyetest", "")))
        if self.judgments is not None:
            used, read = self.judgments["rater"].nunique(), self.inputs.judgments["rater"].nunique()
            count = f"{used}" if used == read else f"{used} of {read} ({read - used} excluded)"
            f.append(("raters", f"{count} ({self.sim_label()})"))
        if self.inputs.about.get("degradation"):
            f.append(("degradation", self.inputs.about["degradation"]))
        return f

    def file_hashes(self) -> dict:
        return {role: {"path": str(p), "sha256": _sha256(p)} for role, p in self.inputs.files.items()}

    def human_study_info(self) -> dict | None:
        if self.inputs.judgments is None and self.inputs.scale is None:
            return None
        info = {"simulated": self.simulated, "source": "judgments" if self.inputs.judgments is not None else "scale",
                "scaling_model": ("given" if self.inputs.judgments is None else
                                  "mos" if self.ratings else "bradley-terry"),
                "protocol": None if self.inputs.judgments is None else ("rating" if self.ratings else "pairwise"),
                "primary_dimension": self.primary}
        if self.inputs.judgments is not None:
            j = self.inputs.judgments
            used = self.judgments if self.judgments is not None else j.iloc[:0]
            info.update({"judgments": int(len(j)), "raters": int(j["rater"].nunique()),
                         "judgments_used": int(len(used)), "raters_used": int(used["rater"].nunique()),
                         "dimensions": sorted(map(str, j.get("dimension", pd.Series(["overall"])).unique())),
                         "exclusion": self.exclude_mode, "excluded_raters": list(map(str, self.excluded)),
                         "notes": self.scale_notes[:20]})
            if self.simulated and self.inputs.about.get("simulated"):
                info["simulator"] = self.inputs.about["simulated"]
        return info


def rank_correlations(scores: pd.DataFrame, human: pd.DataFrame, *, metrics: dict, by: str,
                      rng: np.random.Generator, n_boot: int) -> pd.DataFrame:
    """SRCC per group (no logistic fit, so it is cheap), with image-bootstrap CIs.

    ``srcc = pearson(rank(s x), rank(y))`` with ``s = -1`` for lower-is-better
    metrics (Spearman 1904, mid-ranks for ties; :func:`eyetest.core.alignment.srcc`),
    so a positive value means "orders conditions like people".  The interval is
    the percentile cluster bootstrap over images (Davison & Hinkley 1997,
    :func:`eyetest.core.alignment.bootstrap_ci`).  Same conventions and output
    columns as :func:`eyetest.core.alignment.alignment_table`, statistic ``srcc`` only;
    groups with fewer than 3 conditions are skipped.
    """
    from eyetest.core.alignment import bootstrap_ci, merge_scores_human, srcc

    rows = []
    for metric, higher in metrics.items():
        merged = merge_scores_human(scores, human, metric=metric)
        for key, part in merged.groupby(by, sort=True):
            part = part.drop_duplicates(["image", "method"]).reset_index(drop=True)
            if len(part) < 3:
                continue
            x = part["value"].to_numpy(float) * (1.0 if higher else -1.0)
            y = part["human"].to_numpy(float)

            def stat(idx, x=x, y=y):
                if np.unique(x[idx]).size < 2 or np.unique(y[idx]).size < 2:
                    return np.nan
                return srcc(x[idx], y[idx])

            ci = bootstrap_ci(stat, part["image"].to_numpy(), rng=rng, n_boot=n_boot)
            rows.append({"metric": metric, by: key, "statistic": "srcc", "value": stat(np.arange(len(part))),
                         "ci_low": ci.ci_low, "ci_high": ci.ci_high, "n": len(part)})
    return pd.DataFrame(rows, columns=["metric", by, "statistic", "value", "ci_low", "ci_high", "n"])
