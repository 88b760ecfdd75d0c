"""The study database schema (SQLAlchemy Core).

All study state lives here, so several server processes can share one
PostgreSQL database.  Tables:

``studies``    one row per study: name, the validated spec (JSON), status
               (``open`` | ``paused`` | ``closed``), creation time.
``images``     content-addressed image store: SHA256 -> bytes, media type.
``stimuli``    an image of a study in a role (``method`` output, ``gt``,
               ``lq``, ``gold`` degraded version), with the opaque token its
               URL uses; raters never see method names or paths.
``sessions``   a rater's session: unguessable token, participant id, crowd
               platform fields, consent/finish times.
``trials``     the screens handed out to a session, in order; the left/right
               assignment and every flag (gold, repeat, attention, training)
               are recorded server-side (``condition_a`` is shown on the left,
               ``condition_b`` on the right; rating trials use ``condition_a``).
``judgments``  a rater's answers to one trial; ``client_id`` is unique so a
               resubmission stores nothing new.

Any change to these tables needs a new migration in ``store/migrations``;
``tests/store`` checks that the migrations produce exactly this metadata.
"""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

studies = Table(
    "studies",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # when the study last went from paused to open: idle time before it does not expire sessions (0003)
    Column("resumed_at", DateTime(timezone=True), nullable=True),
)

images = Table(
    "images",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

stimuli = Table(
    "stimuli",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", String(32), ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    Column("image", String(300), nullable=False),
    Column("method", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("sha256", String(64), ForeignKey("images.sha256"), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    UniqueConstraint("study_id", "image", "method", "role", name="uq_stimuli_condition"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("study_id", String(32), ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    Column("participant", String(200), nullable=False),
    Column("platform", String(16), nullable=False, default="link"),
    Column("meta", JSON, nullable=False, default=dict),
    Column("trial_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # set when the session went unanswered for the study's crowd.session_timeout_min (0003)
    Column("expired_at", DateTime(timezone=True), nullable=True),
    Index("ix_sessions_study_participant", "study_id", "participant", unique=True),
    # the open sessions of a study, oldest first: what session expiry looks at (0003); partial, so small
    Index("ix_sessions_open", "study_id", "created_at",
          sqlite_where=text("finished_at IS NULL AND expired_at IS NULL"),
          postgresql_where=text("finished_at IS NULL AND expired_at IS NULL")),
)

trials = Table(
    "trials",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("study_id", String(32), ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    Column("session_token", String(64), ForeignKey("sessions.token", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("condition_a", String(600), nullable=True),
    Column("condition_b", String(600), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("is_gold", Boolean, nullable=False, default=False),
    Column("is_repeat", Boolean, nullable=False, default=False),
    Column("is_attention", Boolean, nullable=False, default=False),
    Column("is_training", Boolean, nullable=False, default=False),
    Column("answered", Boolean, nullable=False, default=False),
    # an unanswered trial of an expired session: the study's largest trial id when it was released (0003)
    Column("released_after", BigInteger().with_variant(Integer, "sqlite"), nullable=True),
    UniqueConstraint("session_token", "position", name="uq_trials_session_position"),
    # the released trials of a study (0003); partial: only trials of expired sessions are in it
    Index("ix_trials_released", "study_id", "released_after",
          sqlite_where=text("released_after IS NOT NULL"), postgresql_where=text("released_after IS NOT NULL")),
)

judgments = Table(
    "judgments",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("trial_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("session_token", String(64), ForeignKey("sessions.token", ondelete="CASCADE"), nullable=False),
    Column("study_id", String(32), ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    Column("answers", JSON, nullable=False),
    Column("elapsed_ms", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_judgments_study", "study_id"),
)


def regular_trials(query):
    """``query`` restricted to regular trials: those the scheduler planned (no gold, attention,
    repeat or training trial)."""
    t = trials.c
    return query.where(t.is_gold.is_(False), t.is_attention.is_(False), t.is_training.is_(False),
                       t.is_repeat.is_(False))


def as_utc(value):
    """A stored time as an aware UTC datetime (SQLite gives naive UTC, PostgreSQL aware); None stays None."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)
