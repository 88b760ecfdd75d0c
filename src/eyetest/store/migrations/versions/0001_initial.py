"""Initial schema: studies, images, stimuli, sessions, trials, judgments.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
    )
    op.create_table(
        "images",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_images"),
    )
    op.create_table(
        "stimuli",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("study_id", sa.String(32), nullable=False),
        sa.Column("image", sa.String(300), nullable=False),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stimuli"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_stimuli_study_id_studies", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sha256"], ["images.sha256"], name="fk_stimuli_sha256_images"),
        sa.UniqueConstraint("token", name="uq_stimuli_token"),
        sa.UniqueConstraint("study_id", "image", "method", "role", name="uq_stimuli_condition"),
    )
    op.create_table(
        "sessions",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("study_id", sa.String(32), nullable=False),
        sa.Column("participant", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("trial_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token", name="pk_sessions"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_sessions_study_id_studies", ondelete="CASCADE"),
    )
    op.create_index("ix_sessions_study_participant", "sessions", ["study_id", "participant"], unique=True)
    op.create_table(
        "trials",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("study_id", sa.String(32), nullable=False),
        sa.Column("session_token", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("condition_a", sa.String(600), nullable=True),
        sa.Column("condition_b", sa.String(600), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("is_gold", sa.Boolean, nullable=False),
        sa.Column("is_repeat", sa.Boolean, nullable=False),
        sa.Column("is_attention", sa.Boolean, nullable=False),
        sa.Column("is_training", sa.Boolean, nullable=False),
        sa.Column("answered", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trials"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_trials_study_id_studies", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_token"], ["sessions.token"], name="fk_trials_session_token_sessions", ondelete="CASCADE"),
        sa.UniqueConstraint("session_token", "position", name="uq_trials_session_position"),
    )
    op.create_table(
        "judgments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("trial_id", _ID, nullable=False),
        sa.Column("session_token", sa.String(64), nullable=False),
        sa.Column("study_id", sa.String(32), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("elapsed_ms", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judgments"),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], name="fk_judgments_trial_id_trials", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_token"], ["sessions.token"], name="fk_judgments_session_token_sessions", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name="fk_judgments_study_id_studies", ondelete="CASCADE"),
        sa.UniqueConstraint("client_id", name="uq_judgments_client_id"),
        sa.UniqueConstraint("trial_id", name="uq_judgments_trial_id"),
    )
    op.create_index("ix_judgments_study", "judgments", ["study_id"])


def downgrade() -> None:
    for table in ("judgments", "trials", "sessions", "stimuli", "images", "studies"):
        op.drop_table(table)
