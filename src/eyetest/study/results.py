"""Live results for the admin page: leaderboard with CIs and the rater-quality table.

The judgments of a study are read with :func:`eyetest.study.export.iter_records`,
turned into the tables of :mod:`eyetest.core.judgments`, and scaled with
:func:`eyetest.core.judgments.ranking.rank`:

* pairwise studies: Davidson's Bradley-Terry model with ties (plain
  Bradley-Terry when ties are off), analytic 95 % CIs; per dimension, and per
  dimension and scenario (an image tagged with several scenarios counts in
  each);
* rating studies: MOS with its CI, sliced the same way.

Training and gold/attention trials are never scaled, nor are the repeat
trials of rating studies (the MOS takes each rater's first rating of a
stimulus, as :func:`eyetest.core.judgments.ranking.rank` does); they are set
aside here, before the tables are made, so the notes count trials (one
judgment each), not the table's rows (one per trial, dimension and scenario
tag).  The notes are compact: a note the fit makes for many slices is one
line naming how many slices and which.  ``per_method`` pools the
images and ranks methods (the default of the admin page); otherwise every
``image::method`` condition is ranked.  The rater table is
:func:`eyetest.core.judgments.screening.screen_raters` with the participant id
beside each session, on the primary dimension (``overall``, else the first)
and the default rules, the spec's ``min_ms_per_trial`` when it sets one: the
raters ``eyetest rank --exclude-raters auto`` and ``eyetest report`` exclude.
The leaderboard scales every rater (the screening is a recommendation).  Results are cached for :data:`CACHE_SECONDS` per study.
"""

from __future__ import annotations

import math
import threading
import time

from eyetest.errors import JudgmentDataError
from eyetest.study.export import iter_records, pairwise_table, rating_table

CACHE_SECONDS = 5.0
#: slices named in a note made for several slices (the rest are counted)
NOTE_SLICES = 5
_cache: dict = {}
_lock = threading.Lock()


def _records(service, study_id: str):
    spec = service.study_spec(study_id)
    with service.reader.connect() as conn:
        return spec, list(iter_records(conn, study_id))


def _clean(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


def _reasons(value) -> list[str]:
    """Screening's exclusion reasons as a list: ``[]`` for none (screening joins them with ``"; "``)."""
    if isinstance(value, (list, tuple)):
        return [str(r) for r in value if r]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [r for r in str(value).split("; ") if r]


def _cached(key, compute):
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    value = compute()
    with _lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = (now, value)
    return value


def _set_aside(records: list[dict], pairwise: bool) -> tuple[list[dict], list[str]]:
    """The records that are scaled, and one note per kind of trial that is not, counting trials."""
    kinds = {"training": 0, "gold": 0, "attention-check": 0, "repeat": 0}
    kept = []
    for rec in records:
        if rec["is_training"]:
            kinds["training"] += 1
        elif rec["is_gold"]:
            kinds["gold"] += 1
        elif rec["is_attention"]:
            kinds["attention-check"] += 1
        elif rec["is_repeat"] and not pairwise:
            kinds["repeat"] += 1
        else:
            kept.append(rec)
    notes = [f"{n} {kind} trial(s) not scaled" for kind, n in kinds.items() if n and kind != "repeat"]
    if kinds["repeat"]:
        notes.append(f"{kinds['repeat']} repeat rating(s) not scaled (quality control: the MOS uses each "
                     "rater's first rating of a stimulus)")
    return kept, notes


def _compact(name: str, by: str, labels, notes: list[str]) -> list[str]:
    """``notes`` of one ranking, a note made for several slices as one line naming how many and which.

    The ranking prefixes a slice's notes with ``"{by}={label}: "``
    (:func:`eyetest.core.judgments.ranking.rank`); ``labels`` are the slices.
    """
    prefixes = sorted(((f"{by}={label}: ", str(label)) for label in labels), key=lambda p: -len(p[0]))
    where: dict[str, list[str]] = {}                 # note text -> slices it was made for, in order
    for note in notes:
        for prefix, label in prefixes:
            if note.startswith(prefix):
                where.setdefault(note[len(prefix):], []).append(label.replace("|", " / "))
                break
        else:
            where.setdefault(note, [])
    out = []
    for text, slices in where.items():
        if not slices:
            out.append(f"{name}: {text}")
        elif len(slices) == 1:
            out.append(f"{name}: {slices[0]}: {text}")
        else:
            shown = ", ".join(slices[:NOTE_SLICES]) + (f" and {len(slices) - NOTE_SLICES} more"
                                                        if len(slices) > NOTE_SLICES else "")
            out.append(f"{name}: {text} (in {len(slices)} slices: {shown})")
    return out


def _tables(spec, records):
    plan = spec["plan"]
    scenarios = spec["scenarios"]
    first_only = {img: (tags or ["untagged"])[:1] for img, tags in scenarios.items()}
    if plan["protocol"] == "pairwise":
        return pairwise_table(records, scenarios=first_only), pairwise_table(records, scenarios=scenarios)
    return (rating_table(records, scenarios=first_only, scale=plan["scale"]),
            rating_table(records, scenarios=scenarios, scale=plan["scale"]))


#: rater-bootstrap replicates of a rating study's MOS per method (pooled over images)
POOLED_N_BOOT = 400


def _board_rng(study_id: str):
    """The leaderboard's bootstrap generator: seeded by the study id, so a refresh shows the same CIs."""
    import hashlib

    import numpy as np

    return np.random.default_rng(int.from_bytes(hashlib.sha256(study_id.encode()).digest()[:8], "little"))


def leaderboard(service, study_id: str, *, per_method: bool = True) -> dict:
    """Scores with 95 % CIs per dimension (``overall``) and per dimension and scenario.

    A rating study's MOS per method (pooled over images) gets a
    rater-bootstrap percentile interval (:data:`POOLED_N_BOOT` replicates,
    seeded by the study id); per condition, and with a single rater, the
    Student-t interval.
    """
    def compute():
        from eyetest.core.judgments.ranking import rank

        spec, records = _records(service, study_id)
        plan = spec["plan"]
        pairwise = plan["protocol"] == "pairwise"
        model = ("davidson" if plan["ties"] else "bradley-terry") if pairwise else "mos"
        out = {"study": study_id, "model": model, "unit": "method" if per_method else "condition",
               "judgments": len(records), "overall": [], "by_scenario": [], "notes": []}
        if not records:
            out["notes"].append("no judgments yet")
            return out
        records, out["notes"] = _set_aside(records, pairwise)
        if not records:
            out["notes"].append("nothing to scale yet: every judgment is of a training or quality-control trial")
            return out
        flat, tagged = _tables(spec, records)
        for name, table, by in (("overall", flat, "dimension"), ("by_scenario", tagged, "slice")):
            if not pairwise and per_method:
                table = table.assign(condition=table["method"])
            table = table.assign(slice=table["dimension"] + "|" + table["scenario"])
            try:
                if not pairwise and per_method and table.groupby(by)["rater"].nunique().min() >= 2:
                    # pooled over images a rater's ratings share the rater's bias: resample raters
                    # (as the report does), a t-interval over all ratings would be far too narrow
                    scores, notes = rank(table, model=model, by=by, n_boot=POOLED_N_BOOT,
                                         rng=_board_rng(study_id))
                else:
                    scores, notes = rank(table, model=model, by=by, per_method=per_method and pairwise)
            except JudgmentDataError as exc:
                out["notes"].append(f"{name}: {exc}")
                continue
            if by == "slice":
                parts = scores["slice"].str.split("|", n=1, expand=True)
                scores = scores.drop(columns="slice").assign(dimension=parts[0], scenario=parts[1])
            out[name] = _clean(scores.to_dict("records"))
            out["notes"] += _compact(name, by, table[by].unique(), notes)
        return out

    return _cached(("board", id(service), study_id, per_method), compute)


def rater_quality(service, study_id: str) -> dict:
    """One row per session: participant, judgments, screening statistics and exclusion reasons."""
    def compute():
        from eyetest.core.judgments.screening import screen_raters

        spec, records = _records(service, study_id)
        out = {"study": study_id, "raters": []}
        if not records:
            return out
        from eyetest.core.judgments.screening import primary_dimension

        flat, _ = _tables(spec, records)
        # the dimension that rank --exclude-raters auto and the report screen too ("overall", else the first)
        flat = flat[flat["dimension"] == primary_dimension(d["name"] for d in spec["plan"]["dimensions"])]
        pairwise = spec["plan"]["protocol"] == "pairwise"
        min_ms = spec["plan"]["quality"]["min_ms_per_trial"] or 0
        from eyetest.core.judgments.screening import ScreeningRules

        # no minimum in the spec (0, the default): the screening's own (1200 ms), as rank and the report use
        rules = ScreeningRules(min_ms=float(min_ms)) if min_ms > 0 else ScreeningRules()
        try:
            screen = screen_raters(judgments=flat, rules=rules) if pairwise else screen_raters(ratings=flat, rules=rules)
        except JudgmentDataError as exc:
            out["notes"] = [str(exc)]
            return out
        who = {r["session"]: r["participant"] for r in records}
        table = screen.table.copy()
        table.insert(1, "participant", table["rater"].map(who))
        table.insert(2, "judgments", table["rater"].map(flat.groupby("rater").size()).fillna(0).astype(int))
        # finished / expired (abandoned: eyetest.study.expiry) / open: e.g. whom to approve on the platform
        table.insert(3, "session", table["rater"].map({r["session"]: r["session_status"] for r in records}))
        table["reasons"] = table["reasons"].map(_reasons)
        out["raters"] = _clean(table.to_dict("records"))
        return out

    return _cached(("raters", id(service), study_id), compute)
