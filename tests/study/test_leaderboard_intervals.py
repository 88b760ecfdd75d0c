"""The admin leaderboard's MOS per method of a rating study: pooled over images, raters resampled."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from scipy import stats

from eyetest.core.judgments.ranking import rank
from eyetest.store import schema
from eyetest.store.migrate import open_store
from eyetest.study import results
from eyetest.study.sample import create_sample_study
from eyetest.study.service import StudyService

ORDER = {"alpha": 0, "beta": 1, "gamma": 2}


@pytest.fixture(autouse=True)
def _no_result_cache(monkeypatch):
    monkeypatch.setattr(results, "_cache", {})


def test_pooled_mos_interval_resamples_raters(tmp_path):
    url = str(tmp_path / "s.sqlite")
    study = create_sample_study(url, tmp_path, dataset_kwargs={"mixed_formats": False}, protocol="rating",
                                context="gt", dimensions=("overall",),
                                study='scale = "acr5"\njudgments_per_session = 6')
    engine = open_store(url)
    service = StudyService(engine)
    t = schema.trials.c
    try:
        for p in range(8):      # rater p is harsher by p % 4 categories: a strong personal bias
            token = service.start_session(study, f"p{p}")[0]["session"]
            with engine.connect() as conn:
                conds = {r.id: r.condition_a for r in conn.execute(
                    sa.select(t.id, t.condition_a).where(t.session_token == token))}
            while (trial := service.next_trial(token)) is not None:
                method = conds[trial["trial"]].split("::")[1]
                value = int(np.clip(5 - ORDER.get(method, 0) - p % 4, 1, 5))
                service.record_judgment(token, trial=trial["trial"], answers={"overall": value},
                                        client_id=uuid.uuid4().hex)
        board = results.leaderboard(service, study)
        spec, records = results._records(service, study)
    finally:
        engine.dispose()
    records, _ = results._set_aside(records, False)
    flat, _ = results._tables(spec, records)
    table = flat.assign(condition=flat["method"])
    expected, _ = rank(table, model="mos", by="dimension", n_boot=results.POOLED_N_BOOT,
                       rng=results._board_rng(study))
    got = {r["condition"]: r for r in board["overall"]}
    assert set(got) == set(expected["condition"])
    for row in expected.itertuples():
        assert got[row.condition]["ci_low"] == pytest.approx(row.ci_low)
        assert got[row.condition]["ci_high"] == pytest.approx(row.ci_high)
        values = table.loc[table["condition"] == row.condition, "value"]
        naive = 2 * stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)   # as if 1 rating per rater
        assert row.ci_high - row.ci_low > naive
