"""Session expiry: ``sessions.expired_at``, ``trials.released_after``, ``studies.resumed_at``.

A session that goes unanswered for the study's ``crowd.session_timeout_min``
is marked expired when the next session of its study starts; its unanswered
trials are released to other raters and record the study's largest trial id
at that moment, so a scheduler rebuilt from the database releases them after
the same bookings as the process that expired them (``eyetest.study.planning``).
``studies.resumed_at``: the time a paused study was last opened again; raters
cannot answer while it is paused, so idle time before it does not count.

Two small partial indexes serve expiry: the open sessions of a study and its
released trials.  All three columns are nullable and start empty: existing sessions are not
expired, no trial is released, and no study counts as resumed.

Revision ID: 0003_session_expiry
Revises: 0002_backfill_finished_at
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_session_expiry"
down_revision = "0002_backfill_finished_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("trials", sa.Column("released_after", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                      nullable=True))
    op.add_column("studies", sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True))
    # partial indexes: the open sessions (what expiry reads at each session start) and the released trials
    open_only = sa.text("finished_at IS NULL AND expired_at IS NULL")
    op.create_index("ix_sessions_open", "sessions", ["study_id", "created_at"],
                    sqlite_where=open_only, postgresql_where=open_only)
    released = sa.text("released_after IS NOT NULL")
    op.create_index("ix_trials_released", "trials", ["study_id", "released_after"],
                    sqlite_where=released, postgresql_where=released)


def downgrade() -> None:
    op.drop_index("ix_trials_released", table_name="trials")
    op.drop_index("ix_sessions_open", table_name="sessions")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("resumed_at")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("released_after")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("expired_at")
