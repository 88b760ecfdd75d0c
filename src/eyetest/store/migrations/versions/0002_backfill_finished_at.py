"""Backfill ``sessions.finished_at`` of sessions whose every trial is answered.

On PostgreSQL, eyetest versions before the judgment store locked the
"is another trial unanswered?" read (``eyetest.study.hotpath``, ``left_``)
could leave ``finished_at`` NULL: the last two answers of a session, stored
concurrently, each saw the other's trial still open.  Such a session is
finished (``session_info`` already says so), but the admin progress counted
it as unfinished.  This sets ``finished_at`` to the time of the session's
latest judgment (when the last answer was stored, which is when a
finishing answer sets it) for every session with judgments and no unanswered
trial that has none.  Data only: the schema does not change.

Downgrade does nothing: a backfilled time cannot be told apart from one set
when the last answer was stored, and it is correct either way.

Revision ID: 0002_backfill_finished_at
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_backfill_finished_at"
down_revision = "0001"
branch_labels = None
depends_on = None

# the tables as revision 0001 made them (only the columns used here), not eyetest.store.schema,
# which describes the newest schema
_sessions = sa.table("sessions", sa.column("token", sa.String), sa.column("finished_at", sa.DateTime(timezone=True)))
_trials = sa.table("trials", sa.column("session_token", sa.String), sa.column("answered", sa.Boolean))
_judgments = sa.table("judgments", sa.column("session_token", sa.String),
                      sa.column("created_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    s, t, j = _sessions.c, _trials.c, _judgments.c
    mine = j.session_token == s.token
    op.execute(
        sa.update(_sessions)
        .where(s.finished_at.is_(None),
               sa.exists().where(mine),
               ~sa.exists().where(t.session_token == s.token, t.answered.is_(False)))
        .values(finished_at=sa.select(sa.func.max(j.created_at)).where(mine).scalar_subquery())
    )


def downgrade() -> None:
    pass
