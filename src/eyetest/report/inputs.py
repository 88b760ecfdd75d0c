"""Read and check the report's inputs: a results folder, or explicit files.

:func:`collect` finds the inputs and returns a :class:`ReportInputs`;
:func:`read_about` checks ``about.json``; :func:`read_study` /
:func:`study_judgments` read a study's judgments from its database.  Every
table is checked for the columns the report needs (errors name the file and
column).  :mod:`eyetest.report.build` turns the inputs into the report.

Results-folder conventions (all optional; see ``docs/report.md``)::

    results.csv|.parquet|.json  + results.csv.manifest.json     (eyetest score)
    audit.csv + audit.summary.csv, audit.gameability.csv,
              audit.context-flags.csv, audit.manifest.json      (eyetest audit)
    judgments.csv|.jsonl|.parquet   pairwise judgments (a ``source`` column
                                    with "simulated" marks simulator output)
    scale.csv                       a human scale, when there are no judgments
    adoption.csv                    ``eyetest adoption`` output (metric adoption in papers)
    about.json                      title, regime, method descriptions, compare pair
    dataset/ (or the manifest's dataset folder)  images for thumbnails,
                                    scenarios.csv, methods.csv
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eyetest.errors import DatasetError, TableError

SCORE_NAMES = ("results", "scores")
TABLE_EXTS = (".csv", ".parquet", ".json")
JUDGMENT_EXTS = (".csv", ".jsonl", ".parquet")

#: columns each table must have, and which of them must hold numbers
SCORE_COLUMNS = (("image", "method", "metric", "value"), ("value",))
AUDIT_COLUMNS = (("image", "metric", "manipulation", "strength", "value", "baseline"),
                 ("strength", "value", "baseline"))
GAMEABILITY_COLUMNS = (("metric", "manipulation", "kind", "max_share_improved", "at_strength", "mean_delta_at",
                        "ci_low_at", "ci_high_at", "gameable"),
                       ("max_share_improved", "at_strength", "mean_delta_at", "ci_low_at", "ci_high_at"))
CONTEXT_FLAG_COLUMNS = (("metric", "max_share_improved"), ("max_share_improved",))
#: about.json keys whose value must be a string
ABOUT_TEXT_KEYS = ("title", "regime_note", "degradation")


@dataclass
class ReportInputs:
    """Everything the report can use; any part may be missing."""

    scores: pd.DataFrame | None = None
    score_manifest: dict | None = None
    audit: pd.DataFrame | None = None
    audit_summary: pd.DataFrame | None = None
    audit_gameability: pd.DataFrame | None = None
    audit_context_flags: pd.DataFrame | None = None
    audit_manifest: dict | None = None
    judgments: pd.DataFrame | None = None
    scale: pd.DataFrame | None = None
    adoption: pd.DataFrame | None = None
    families: dict = field(default_factory=dict)
    scenarios: dict = field(default_factory=dict)
    dataset: Path | None = None
    dataset_recorded: str | None = None          # the score manifest's dataset path, as written
    about: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)   # role -> Path (hashed into the card)
    #: a study database's quality.min_ms_per_trial (the screening's speed rule), None: the default 1200 ms
    min_ms_per_trial: float | None = None


def _first(folder: Path, stems, exts) -> Path | None:
    for stem in stems:
        for ext in exts:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def _need_file(path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{what} file {str(p)!r} does not exist")
    return p


def _side_table(explicit, dataset: Path | None, name: str, what: str) -> Path | None:
    """A side table given explicitly (must exist), else the dataset's ``name`` (may be missing)."""
    if explicit is not None:
        return _need_file(explicit, what)
    return dataset / name if dataset is not None else None


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read JSON: {exc}") from exc


def _json_object(path: Path) -> dict:
    doc = _json(path)
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


def read_about(path) -> dict:
    """``about.json``, checked: an object; ``title``, ``regime_note``, ``degradation`` strings;
    ``regime`` one of ``fidelity-first``, ``perception-first``; ``methods`` an object of
    method -> description; ``compare`` two method names (``["A", "B"]`` or ``"A,B"``, returned
    as a list).  A bad value is a :class:`~eyetest.errors.DatasetError` naming the file and key."""
    from eyetest.report.context import REGIMES

    path = Path(path)
    about = _json_object(path)

    def bad(key, message):
        raise DatasetError(f"{path}: key {key!r}: {message}, got {about[key]!r}")

    for key in ABOUT_TEXT_KEYS:
        if about.get(key) is not None and not isinstance(about[key], str):
            bad(key, "expected a string")
    if about.get("regime") is not None and about["regime"] not in REGIMES:
        bad("regime", f"expected one of {', '.join(REGIMES)}")
    methods = about.get("methods")
    if methods is not None and not (isinstance(methods, dict) and all(isinstance(v, str) for v in methods.values())):
        bad("methods", "expected an object of method name -> description")
    pair = about.get("compare")
    if pair is not None:
        if isinstance(pair, str):
            pair = [p.strip() for p in pair.split(",") if p.strip()]
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(m, str) and m for m in pair)):
            bad("compare", 'expected two method names, ["A", "B"] or "A,B"')
        about = {**about, "compare": list(pair)}
    return about


def _checked_table(path: Path, what: str, spec) -> pd.DataFrame:
    """Read a table and check its columns and numeric columns (errors name the file and column)."""
    from eyetest.io.tables import read_table

    columns, numeric = spec
    t = read_table(path)
    missing = [c for c in columns if c not in t.columns]
    if missing:
        raise TableError(f"{what} table lacks column(s) {', '.join(missing)} (it has: "
                         f"{', '.join(map(str, t.columns)) or 'none'})", path=path)
    for c in numeric:
        if pd.api.types.is_bool_dtype(t[c]):
            raise TableError("expected numbers, found true/false values", path=path, column=c)
        values = pd.to_numeric(t[c], errors="coerce")
        bad = values.isna() & t[c].notna()
        if bad.any():
            k = int(bad.to_numpy().argmax())
            raise TableError(f"value {t[c].iloc[k]!r} in data row {k + 1} is not a number", path=path,
                             column=c, value=t[c].iloc[k])
        t[c] = values.astype(float)
    return t


def _audit_siblings(path: Path) -> dict:
    stem = path.with_suffix("")
    return {k: Path(f"{stem}.{k}{suffix}") for k, suffix in
            (("summary", ".csv"), ("gameability", ".csv"), ("context-flags", ".csv"), ("manifest", ".json"))}


def _load_audit(inputs: ReportInputs, path: Path) -> None:
    """The audit table and the summary files beside it (the report summarises the table itself
    when they are missing: :meth:`eyetest.report.context.Context._audit`)."""
    from eyetest.io.tables import read_table

    inputs.audit = _checked_table(path, "audit", AUDIT_COLUMNS)
    inputs.files["audit"] = path
    sib = _audit_siblings(path)
    if sib["manifest"].is_file():
        inputs.audit_manifest = _json_object(sib["manifest"])
        inputs.files["audit.manifest"] = sib["manifest"]
    checks = {"gameability": GAMEABILITY_COLUMNS, "context-flags": CONTEXT_FLAG_COLUMNS}
    for key, attr in (("summary", "audit_summary"), ("gameability", "audit_gameability"),
                      ("context-flags", "audit_context_flags")):
        if sib[key].is_file():
            t = (_checked_table(sib[key], f"audit {key}", checks[key]) if key in checks
                 else read_table(sib[key]))
            setattr(inputs, attr, t)
            inputs.files[f"audit.{key}"] = sib[key]


def _sqlite_file(db) -> Path | None:
    """The file of a SQLite database given as a path or ``sqlite:///`` URL (None for other URLs)."""
    text = os.fspath(db)
    if "://" not in text:
        return Path(text).expanduser()
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):].split("?", 1)[0])
    return None


def study_judgments(db, study: str) -> pd.DataFrame:
    """The judgments of ``study`` in database ``db``, one row per judgment and dimension.

    See :func:`read_study`, which also returns the study's spec.
    """
    return read_study(db, study)[0]


def read_study(db, study: str) -> tuple[pd.DataFrame, dict]:
    """The judgments of ``study`` in database ``db`` (one row per judgment and dimension) and its spec.

    Pairwise studies give the pairwise table, rating studies the rating
    table (with the study's scale).

    A SQLite database must exist and is opened read-only (nothing is created
    or migrated); its schema must be the one this eyetest writes, and the
    study must be in it (the error lists the studies that are).  Read with
    the study export (:func:`eyetest.study.export.iter_records` and
    :func:`~eyetest.study.export.pairwise_table` / ``rating_table``); the export's placeholder
    scenario column is dropped (the report tags images from scenarios.csv).
    """
    import sqlalchemy as sa

    from eyetest.store import schema
    from eyetest.store.migrate import current_revision, head_revision
    from eyetest.study.export import iter_records, pairwise_table, rating_table

    path = _sqlite_file(db)
    if path is not None:
        if not path.is_file():
            raise DatasetError(f"study database file {str(path)!r} does not exist")
        engine = sa.create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    else:
        from eyetest.store.engine import make_engine

        engine = make_engine(str(db))
    try:
        try:
            rev = current_revision(engine)
            if rev is None:
                raise DatasetError(f"{db} is not an eyetest study database (no schema version)")
            if rev != head_revision():
                raise DatasetError(f"study database {db} has schema revision {rev!r}; this eyetest reads "
                                   f"{head_revision()!r} (open it once with this version's eyetest serve)")
            with engine.connect() as conn:
                ids = [r[0] for r in conn.execute(sa.select(schema.studies.c.id).order_by(schema.studies.c.id))]
                if study not in ids:
                    raise DatasetError(f"no study {study!r} in {db}; studies: {', '.join(ids) or 'none'}")
                records = list(iter_records(conn, study))
                spec = conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == study)).scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise DatasetError(f"cannot read study database {db}: {exc.orig if hasattr(exc, 'orig') else exc}") from exc
    finally:
        engine.dispose()
    if not records:
        raise DatasetError(f"study {study!r} in {db} has no judgments yet")
    if any(r["kind"] == "rating" for r in records):
        scales = sorted({r["scale"] for r in records if r.get("scale")})
        if len(scales) != 1:
            raise DatasetError(f"study {study!r} in {db}: its ratings name {len(scales)} scales "
                               f"({', '.join(scales) or 'none'}); expected one")
        table = rating_table(records, scenarios={}, scale=scales[0])
    else:
        table = pairwise_table(records, scenarios={})
    return table.drop(columns=[c for c in ("scenario",) if c in table.columns]), dict(spec or {})


def _judgment_scenarios(j: pd.DataFrame) -> dict:
    """image -> scenario tags from a judgment table's own ``scenario`` column (tags split on ';')."""
    from eyetest.core.judgments.model import split_condition_id

    if "scenario" not in j.columns or not len(j):
        return {}
    images = (j["image"].astype(str) if "image" in j.columns else
              j["condition_a" if "condition_a" in j.columns else "condition"].map(lambda c: split_condition_id(c)[0]))
    out: dict = {}
    for img, tag in zip(images, j["scenario"]):
        if tag is None or tag != tag or str(tag) == "untagged":   # the study export's placeholder
            continue
        tags = out.setdefault(str(img), [])
        tags += [t.strip() for t in str(tag).split(";") if t.strip() and t.strip() not in tags]
    return {i: tuple(t) for i, t in out.items() if t}


def collect(results_dir=None, *, scores=None, audit=None, judgments=None, scale=None, methods=None,
            scenarios=None, dataset=None, about=None, study=None, adoption=None) -> ReportInputs:
    """Gather the report inputs from ``results_dir`` and/or explicit files.

    Explicit files win over the folder's; an explicit file that does not
    exist is a :class:`~eyetest.errors.DatasetError` naming it, and so is a
    score or audit table without the columns the report needs, or with a
    non-number where a number belongs.  ``study`` = ``(db, study_id)`` reads
    the judgments of a study from its database instead of a judgments file
    (about.json's ``simulated`` is then ignored).

    Scenario tags come from ``--scenarios`` / the dataset's ``scenarios.csv``,
    else the scores' ``scenario`` column, else the judgments' own.  The
    dataset folder is ``--dataset``, else the score manifest's (as written,
    then relative to the manifest, then its ``dataset_from_manifest``), else
    ``RESULTS_DIR/dataset``.
    """
    from eyetest.io.dataset import read_families, read_scenarios
    from eyetest.io.judgments import read_judgments
    from eyetest.io.tables import read_table
    from eyetest.run.score import manifest_path

    inputs = ReportInputs()
    folder = Path(results_dir) if results_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise DatasetError(f"results folder {str(folder)!r} does not exist")

    def pick(explicit, what, stems, exts):
        if explicit is not None:
            return _need_file(explicit, what)
        return _first(folder, stems, exts) if folder is not None else None

    p = pick(scores, "scores", SCORE_NAMES, TABLE_EXTS)
    score_manifest = None
    if p is not None:
        inputs.scores = _checked_table(p, "score", SCORE_COLUMNS)
        inputs.files["scores"] = p
        m = manifest_path(p)
        if m.is_file():
            inputs.score_manifest = _json_object(m)
            inputs.files["scores.manifest"] = score_manifest = m
    p = pick(audit, "audit", ("audit",), TABLE_EXTS)
    if p is not None:
        _load_audit(inputs, p)
    if study is not None:
        db, study_id = study
        inputs.judgments, spec = read_study(db, study_id)
        # the speed rule of rater screening: the study's own minimum time per trial, when it sets one
        min_ms = ((spec.get("plan") or {}).get("quality") or {}).get("min_ms_per_trial") or 0
        inputs.min_ms_per_trial = float(min_ms) if min_ms > 0 else None
        if _sqlite_file(db) is not None:
            inputs.files["study database"] = _sqlite_file(db)
    else:
        p = pick(judgments, "judgments", ("judgments",), JUDGMENT_EXTS)
        if p is not None:
            inputs.judgments = read_judgments(p)
            inputs.files["judgments"] = p
            # a study export carries its study's speed rule (eyetest.study.export.export_min_ms)
            inputs.min_ms_per_trial = inputs.judgments.attrs.get("min_ms_per_trial")
    p = pick(scale, "scale", ("scale",), (".csv", ".parquet"))
    if p is not None:
        inputs.scale = read_table(p)
        inputs.files["scale"] = p
    p = pick(adoption, "adoption", ("adoption",), TABLE_EXTS)
    if p is not None:
        inputs.adoption = read_table(p)
        inputs.files["adoption"] = p
    p = pick(about, "about", ("about",), (".json",))
    if p is not None:
        inputs.about = read_about(p)
        inputs.files["about"] = p

    if dataset is not None:
        inputs.dataset = Path(dataset)
        if not inputs.dataset.is_dir():
            raise DatasetError(f"dataset folder {str(dataset)!r} does not exist")
    else:
        cands = []
        if inputs.score_manifest and inputs.score_manifest.get("dataset"):
            inputs.dataset_recorded = str(inputs.score_manifest["dataset"])
            recorded = Path(inputs.dataset_recorded)
            cands.append(recorded)
            if not recorded.is_absolute():
                cands.append(score_manifest.parent / recorded)
            if inputs.score_manifest.get("dataset_from_manifest"):
                cands.append(score_manifest.parent / inputs.score_manifest["dataset_from_manifest"])
        if folder is not None:
            cands.append(folder / "dataset")
        inputs.dataset = next((c for c in cands if c.is_dir()), None)

    m = _side_table(methods, inputs.dataset, "methods.csv", "methods")
    if m is not None and m.is_file():
        inputs.families = read_families(m)
        inputs.files["methods"] = m
    elif inputs.scores is not None and "family" in inputs.scores.columns:
        fam = inputs.scores.dropna(subset=["family"])
        fam = fam[fam["family"].astype(str) != ""]
        inputs.families = dict(zip(fam["method"].astype(str), fam["family"].astype(str)))
    s = _side_table(scenarios, inputs.dataset, "scenarios.csv", "scenarios")
    if s is not None and s.is_file():
        inputs.scenarios = read_scenarios(s)
        inputs.files["scenarios"] = s
    elif inputs.scores is not None and "scenario" in inputs.scores.columns:
        sc = inputs.scores.drop_duplicates("image")
        inputs.scenarios = {str(i): tuple(t for t in str(v).split(";") if t and t != "nan")
                            for i, v in zip(sc["image"], sc["scenario"])}
    if not any(inputs.scenarios.values()) and inputs.judgments is not None:
        inputs.scenarios = _judgment_scenarios(inputs.judgments)
    if study is not None:
        inputs.about = {k: v for k, v in inputs.about.items() if k not in ("simulated", "compare")}
    if all(getattr(inputs, a) is None for a in ("scores", "audit", "judgments", "scale", "adoption")):
        where = str(folder) if folder is not None else "the given files"
        raise DatasetError(f"nothing to report in {where}: no scores, audit, judgments, scale or adoption table")
    return inputs


__all__ = ["ABOUT_TEXT_KEYS", "AUDIT_COLUMNS", "CONTEXT_FLAG_COLUMNS", "GAMEABILITY_COLUMNS", "JUDGMENT_EXTS",
           "SCORE_COLUMNS", "SCORE_NAMES", "TABLE_EXTS", "ReportInputs", "collect", "read_about",
           "read_study", "study_judgments"]
