"""A session holds `judgments_per_session` trials: control fractions the study cannot serve do not shorten it."""

from __future__ import annotations

import sqlalchemy as sa

from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.importer import create_study
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import StudyService
from eyetest.study.spec import load_spec


def _study(tmp_path, protocol: str):
    engine = make_engine(str(tmp_path / f"{protocol}.sqlite"))
    upgrade(engine)
    methods = ("alpha", "beta", "gamma", "delta", "eps")
    ds = write_sample_dataset(tmp_path / f"ds-{protocol}", images=4, methods=methods)
    study_keys = 'design = "random"\njudgments_per_session = 20' if protocol == "pairwise" else \
        'scale = "acr5"\njudgments_per_session = 20'
    spec = write_sample_spec(tmp_path / f"{protocol}.toml", ds, protocol=protocol, methods=methods,
                             study=study_keys, quality="gold_fraction = 0.2\nattention_fraction = 0.1",
                             context="lq" if protocol == "pairwise" else "none")
    study = create_study(engine, load_spec(spec))
    return engine, study


def _without_controls(engine, study):
    """The study as one stored without gold or attention items (e.g. every image too flat for gold)."""
    st = schema.studies.c
    with engine.begin() as conn:
        spec = dict(conn.execute(sa.select(st.spec).where(st.id == study)).scalar())
        spec.update(gold_images=[], attention_images=[], rating_controls={"gold": [], "attention": []})
        conn.execute(sa.update(schema.studies).where(st.id == study).values(spec=spec))


def test_sessions_without_control_items_are_not_shortened(tmp_path):
    for protocol in ("pairwise", "rating"):
        engine, study = _study(tmp_path, protocol)
        try:
            _without_controls(engine, study)
            svc = StudyService(engine)
            info = svc.start_session(study, "p1")[0]
            t = schema.trials.c
            with engine.connect() as conn:
                kinds = conn.execute(sa.select(t.is_gold, t.is_attention, t.is_training)
                                     .where(t.session_token == info["session"])).all()
        finally:
            engine.dispose()
        regular = [k for k in kinds if not any(k)]
        # no gold or attention item exists, so the 30 % of the session they would take are regular trials
        assert len(kinds) == len(regular) == 20, (protocol, len(kinds), len(regular))
