"""Add the change log: one row per subject change, read by every replica's in-memory index."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_changes",
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subject_changes")
