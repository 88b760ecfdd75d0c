"""Export every judgment of a study (CSV or JSON Lines) and build analysis tables.

One record per judgment: its ``client_id``, the session (token and
participant), the trial (id, position, kind, quality flags, expected answer,
``repeat_of``: the id of the trial it repeats, in the same key space as
``trial``), the stimuli (image, conditions and methods in the order
shown: ``a`` left, ``b`` right; their opaque tokens), the answers per
dimension and the timings (``elapsed_ms`` measured by the client,
``created_at`` the commit time on the server).

:func:`pairwise_table` / :func:`rating_table` turn the same records into the
tables of :mod:`eyetest.core.judgments` (one row per judgment and dimension);
:func:`from_export` does it for an export file read back, which is how
``eyetest rank`` and ``eyetest report`` read an export
(:func:`eyetest.io.judgments.read_judgments`).  Rating records carry their
``scale`` (None for pairwise trials).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator

import orjson
import sqlalchemy as sa

from eyetest.core.judgments.model import split_condition_id
from eyetest.store import schema

BATCH = 2000
FIELDS = (
    "client_id", "study", "session", "participant", "platform", "trial", "position", "kind", "scale",
    "is_gold", "is_repeat", "is_attention", "is_training", "expected", "repeat_of", "image",
    "condition_a", "condition_b", "method_a", "method_b", "token_a", "token_b",
    "elapsed_ms", "created_at", "session_status", "min_ms_per_trial",
)


def _method(condition):
    return None if condition is None else split_condition_id(condition)[1]


def iter_records(conn, study_id: str) -> Iterator[dict]:
    """Judgment records of a study in commit (id) order, read in batches.

    ``session_status``: ``finished``, ``expired`` (no answer for the study's
    ``crowd.session_timeout_min``; :mod:`eyetest.study.expiry`) or ``open``
    at export time.  ``min_ms_per_trial``: the study's speed rule for rater
    screening (its ``quality.min_ms_per_trial``; 0: none set), the same in
    every record, so ``eyetest rank`` / ``eyetest report`` on the export
    screen with it.
    """
    j, t, s = schema.judgments.c, schema.trials.c, schema.sessions.c
    spec = conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == study_id)).scalar()
    min_ms = (((spec or {}).get("plan") or {}).get("quality") or {}).get("min_ms_per_trial") or 0
    # a trial's payload names the trial it repeats by its position in the session: export its id
    original = schema.trials.alias("original")
    last = 0
    while True:
        rows = conn.execute(
            sa.select(j.id, j.client_id, j.answers, j.elapsed_ms, j.created_at, j.session_token,
                      s.participant, s.platform, s.finished_at, s.expired_at, t.id.label("trial"), t.position, t.kind, t.is_gold,
                      t.is_repeat, t.is_attention, t.is_training, t.condition_a, t.condition_b, t.payload,
                      original.c.id.label("repeat_of"))
            .join(schema.trials, t.id == j.trial_id).join(schema.sessions, s.token == j.session_token)
            .outerjoin(original, sa.and_(original.c.session_token == t.session_token, t.is_repeat.is_(True),
                                         original.c.position == t.payload["repeat_of"].as_integer()))
            .where(j.study_id == study_id, j.id > last).order_by(j.id).limit(BATCH)).all()
        if not rows:
            return
        for r in rows:
            urls = [x["url"].rsplit("/", 1)[-1] for x in r.payload["public"]["stimuli"]]
            created = r.created_at
            yield {
                "client_id": r.client_id, "study": study_id, "session": r.session_token,
                "participant": r.participant, "platform": r.platform, "trial": r.trial,
                "position": r.position, "kind": r.kind, "scale": _scale(r.payload),
                "is_gold": bool(r.is_gold),
                "is_repeat": bool(r.is_repeat), "is_attention": bool(r.is_attention),
                "is_training": bool(r.is_training), "expected": r.payload.get("expected"),
                "repeat_of": r.repeat_of,
                "image": split_condition_id(r.condition_a)[0],
                "condition_a": r.condition_a, "condition_b": r.condition_b,
                "method_a": _method(r.condition_a), "method_b": _method(r.condition_b),
                "token_a": urls[0], "token_b": urls[1] if len(urls) > 1 else None,
                "answers": r.answers, "elapsed_ms": r.elapsed_ms,
                "created_at": _iso(created),
                "session_status": ("finished" if r.finished_at is not None else
                                   "expired" if r.expired_at is not None else "open"),
                "min_ms_per_trial": min_ms,
            }
        last = rows[-1].id


def _scale(payload) -> str | None:
    """The rating scale a trial asked for (``acr5``, ``dcr5``, ``continuous100``); None for pairwise trials."""
    questions = payload.get("public", {}).get("questions") or []
    return next((q["scale"] for q in questions if q.get("scale")), None)


def _iso(value) -> str | None:
    if value is None:
        return None
    return schema.as_utc(value).isoformat()


def to_jsonl(records) -> Iterator[bytes]:
    for rec in records:
        yield orjson.dumps(rec) + b"\n"


def to_csv(records, dimensions) -> Iterator[str]:
    """CSV text chunks; answers become one ``answer_<dimension>`` column each.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading ``'`` so that a spreadsheet shows it rather than
    running it as a formula (the participant id comes from the rater's URL).
    JSON Lines keep every value verbatim.
    """
    header = list(FIELDS) + [f"answer_{d}" for d in dimensions]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for n, rec in enumerate(records, 1):
        answers = rec["answers"]
        writer.writerow([_cell(rec[k]) for k in FIELDS] + [_cell(answers.get(d)) for d in dimensions])
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


#: first characters that make a spreadsheet read a cell as a formula (CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_OUTCOME = {"A": "a", "B": "b", "tie": "tie", "both_bad": "tie"}


def pairwise_table(records, *, scenarios: dict):
    """Long table (one row per judgment, dimension and scenario tag) for ``core.judgments``.

    Columns: ``rater, condition_a, condition_b, outcome, dimension, scenario,
    image, method_a, method_b, trial, elapsed_ms, both_bad, is_gold, is_repeat,
    is_training, gold_outcome, session_status``; attention checks are kept as
    gold trials; ``session_status`` (finished / expired / open; None in an
    export made before it existed) is the rater's session's.
    """
    import pandas as pd

    rows = []
    for rec in records:
        if rec["kind"] != "pairwise":
            continue
        tags = scenarios.get(rec["image"]) or ["untagged"]
        gold = (rec["expected"] or "").lower() or None
        for dim, answer in rec["answers"].items():
            for tag in tags:
                rows.append((rec["session"], rec["condition_a"], rec["condition_b"], _OUTCOME[answer], dim, tag,
                             rec["image"], rec["method_a"], rec["method_b"], rec["trial"], rec["elapsed_ms"],
                             answer == "both_bad", rec["is_gold"] or rec["is_attention"], rec["is_repeat"],
                             rec["is_training"], gold, rec.get("session_status")))
    cols = ["rater", "condition_a", "condition_b", "outcome", "dimension", "scenario", "image", "method_a",
            "method_b", "trial", "elapsed_ms", "both_bad", "is_gold", "is_repeat", "is_training", "gold_outcome",
            "session_status"]
    return pd.DataFrame(rows, columns=cols)


def rating_table(records, *, scenarios: dict, scale: str):
    """Long rating table (one row per judgment, dimension and scenario tag) for ``core.judgments``.

    Columns: ``rater, condition, value, scale, dimension, scenario, image,
    method, trial, elapsed_ms, is_gold, is_repeat, is_training, gold_low,
    gold_high, session_status`` (as in :func:`pairwise_table`).  Attention checks are kept as gold trials (``is_gold``), as
    in :func:`pairwise_table`; ``gold_low``/``gold_high`` are the region a
    gold or attention rating must fall in (the record's ``expected``, e.g.
    ``"4-5"``; NaN for other trials), which
    :func:`eyetest.core.judgments.quality.rating_gold_accuracy` checks.  The
    MOS leaves gold rows out (:func:`eyetest.core.judgments.ranking.rank`).
    """
    import pandas as pd

    from eyetest.core.design.quality import parse_region
    from eyetest.errors import JudgmentDataError

    rows = []
    for rec in records:
        if rec["kind"] != "rating":
            continue
        gold = bool(rec["is_gold"] or rec.get("is_attention"))
        low = high = math.nan
        if gold and not _missing(rec.get("expected")):
            try:
                low, high = parse_region(rec["expected"])
            except ValueError as exc:
                raise JudgmentDataError("expected", rec["expected"], f"of trial {rec.get('trial')}: {exc}") from None
        for dim, value in rec["answers"].items():
            for tag in scenarios.get(rec["image"]) or ["untagged"]:
                rows.append((rec["session"], rec["condition_a"], float(value), scale, dim, tag, rec["image"],
                             rec["method_a"], rec["trial"], rec["elapsed_ms"], gold, rec["is_repeat"],
                             rec["is_training"], low, high, rec.get("session_status")))
    cols = ["rater", "condition", "value", "scale", "dimension", "scenario", "image", "method", "trial",
            "elapsed_ms", "is_gold", "is_repeat", "is_training", "gold_low", "gold_high", "session_status"]
    return pd.DataFrame(rows, columns=cols)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


def _flag(value) -> bool:
    return (not _missing(value)) and str(value).strip().lower() in ("true", "1", "1.0")


def _number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _uncell(value):
    """Inverse of :func:`_cell` for a CSV text cell: the leading ``'`` before a formula character goes."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def from_export(raw, *, source: str = "table"):
    """A study export read back (CSV or JSON Lines, as a DataFrame) -> the table of :mod:`eyetest.core.judgments`.

    Pairwise studies give :func:`pairwise_table`, rating studies
    :func:`rating_table` (the scale from the export's ``scale`` column),
    without the placeholder ``scenario`` column (the export does not carry
    scenario tags; slice by them with the dataset's ``scenarios.csv``).
    Answers come from the ``answers`` objects (JSON Lines, kept verbatim) or
    the ``answer_<dimension>`` columns (CSV, whose formula-guard quote,
    :func:`_cell`, is removed again).  An export of both kinds of trial, or
    of ratings without a ``scale`` column, is a
    :class:`~eyetest.errors.JudgmentDataError` naming ``source``.
    """
    from eyetest.errors import JudgmentDataError
    from eyetest.io.judgments import STUDY_EXPORT_COLUMNS

    missing = [c for c in STUDY_EXPORT_COLUMNS if c not in raw.columns]
    if missing:
        raise JudgmentDataError("columns", ",".join(missing), f"missing from the study export {source}")
    csv_cells = "answers" not in raw.columns
    dims = [c for c in raw.columns if str(c).startswith("answer_")]
    if csv_cells and not dims:
        raise JudgmentDataError("columns", "answers", f"the study export {source} has neither 'answers' nor "
                                                      "'answer_<dimension>' columns")
    kinds = sorted({str(k) for k in raw["kind"] if not _missing(k)})
    unknown = [k for k in kinds if k not in ("pairwise", "rating")]
    if unknown or len(kinds) != 1:
        raise JudgmentDataError("kind", ",".join(unknown or kinds) or "(none)",
                                f"the study export {source} must hold the trials of one study, all 'pairwise' or "
                                "all 'rating'")
    records = []
    for rec in raw.to_dict("records"):
        if csv_cells:
            rec = {k: _uncell(v) for k, v in rec.items()}
            answers = {c[len("answer_"):]: rec[c] for c in dims if not _missing(rec[c])}
        else:
            answers = rec["answers"] if isinstance(rec["answers"], dict) else {}
        for dim, value in answers.items():
            if kinds == ["pairwise"] and value not in _OUTCOME:
                raise JudgmentDataError(f"answer_{dim}", value, f"in the study export {source} (trial "
                                        f"{rec.get('trial')}) must be one of {', '.join(_OUTCOME)}")
            if kinds == ["rating"] and (isinstance(value, bool) or not _number(value)):
                raise JudgmentDataError(f"answer_{dim}", value, f"in the study export {source} (trial "
                                        f"{rec.get('trial')}) is not a number")
        records.append({
            "kind": rec["kind"], "session": rec["session"], "image": rec.get("image"),
            "condition_a": rec["condition_a"], "condition_b": None if _missing(rec.get("condition_b")) else
            rec["condition_b"], "method_a": rec.get("method_a"), "method_b": rec.get("method_b"),
            "trial": rec.get("trial"), "elapsed_ms": None if _missing(rec.get("elapsed_ms")) else rec["elapsed_ms"],
            "is_gold": _flag(rec.get("is_gold")), "is_attention": _flag(rec.get("is_attention")),
            "is_repeat": _flag(rec["is_repeat"]), "is_training": _flag(rec.get("is_training")),
            "expected": None if _missing(rec.get("expected")) else str(rec["expected"]), "answers": answers,
            "session_status": None if _missing(rec.get("session_status")) else str(rec["session_status"]),
        })
    if kinds == ["pairwise"]:
        table = pairwise_table(records, scenarios={})
    else:
        scales = sorted({str(v) for v in raw.get("scale", []) if not _missing(v)})
        if len(scales) != 1:
            raise JudgmentDataError("scale", ",".join(scales) or "(none)",
                                    f"the rating export {source} needs one scale in its 'scale' column; export "
                                    "the study again with this eyetest (eyetest study export)")
        table = rating_table(records, scenarios={}, scale=scales[0])
    table = table.drop(columns="scenario")
    speed = export_min_ms(raw, source=source)
    if speed is not None:
        table.attrs["min_ms_per_trial"] = speed
    return table


def export_min_ms(raw, *, source: str = "table") -> float | None:
    """The study's speed rule from an export's ``min_ms_per_trial`` column; None if absent or 0.

    Exports made before the column existed have none: screening then uses
    its default (:class:`eyetest.core.judgments.screening.ScreeningRules`).
    """
    from eyetest.errors import JudgmentDataError

    if "min_ms_per_trial" not in raw.columns:
        return None
    values = {float(_uncell(v)) for v in raw["min_ms_per_trial"] if not _missing(v) and _number(_uncell(v))}
    if len(values) > 1:
        raise JudgmentDataError("min_ms_per_trial", ",".join(f"{v:g}" for v in sorted(values)),
                                f"the study export {source} holds several speed rules; export one study")
    value = values.pop() if values else 0.0
    return value if value > 0 else None


def json_dumps(value) -> bytes:
    return orjson.dumps(value)
