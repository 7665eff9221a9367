"""Add the scan ledger and who is inside now (the gate's check-in)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _subject_columns(*, primary_key: bool) -> list[sa.Column[object]]:
    """The pair that names a subject in both tables: its kind and its id (null in a scan of a
    pass that names no subject)."""
    return [
        sa.Column("kind", sa.String(16), primary_key=primary_key, nullable=not primary_key),
        sa.Column("subject_id", sa.String(64), primary_key=primary_key, nullable=not primary_key),
    ]


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_subject_columns(primary_key=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("scanned_at", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("scan_id", sa.String(64), nullable=True, unique=True),
        sa.Column("admission", sa.String(16), nullable=False),
        sa.Column("failure", sa.String(32), nullable=True),
        sa.Column("entry_at", sa.BigInteger, nullable=True),
        sa.Column("entry_gate", sa.String(64), nullable=True),
    )
    op.create_index("scans_subject", "scans", ["kind", "subject_id"])
    op.create_index("scans_scanned_at", "scans", ["scanned_at"])
    op.create_table(
        "presence",
        *_subject_columns(primary_key=True),
        sa.Column("inside", sa.Boolean, nullable=False),
        sa.Column("entered_at", sa.BigInteger, nullable=True),
        sa.Column("entered_gate", sa.String(64), nullable=True),
        sa.Column("entry_scan", sa.Integer, nullable=True),
        sa.Column("entry_scan_id", sa.String(64), nullable=True),
    )
    op.create_index("presence_inside", "presence", ["inside", "kind"])


def downgrade() -> None:
    op.drop_table("presence")
    op.drop_table("scans")
