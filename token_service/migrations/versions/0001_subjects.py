"""Create the students and stalls tables."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _subject_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_version", sa.Integer, nullable=False),
        sa.Column("token", sa.Text, nullable=True),
        sa.Column("token_kid", sa.String(64), nullable=True),
        sa.Column("token_issued_at", sa.Integer, nullable=True),
        sa.Column("deleted_at", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.Integer, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "students",
        *_subject_columns(),
        sa.Column("registration_no", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
    )
    op.create_table(
        "stalls", *_subject_columns(), sa.Column("stall_number", sa.String(64), nullable=False)
    )


def downgrade() -> None:
    op.drop_table("stalls")
    op.drop_table("students")
