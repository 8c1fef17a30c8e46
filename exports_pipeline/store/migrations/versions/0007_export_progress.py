"""The progress of a processing export: `row_count_expected` (its exact row count, known
once planned, before any row is made) and `rows_written` (rows written so far).

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("row_count_expected", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("rows_written", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("rows_written")
        batch.drop_column("row_count_expected")
