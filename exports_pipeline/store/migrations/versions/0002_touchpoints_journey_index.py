"""A covering index for reading journeys: touchpoints by profile and time, with every column
the engine reads, so SQLite answers from the index alone (no table lookup per touchpoint).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_touchpoints_journey",
        "touchpoints",
        ["space_id", "profile_id", "touch_time_utc", "id", "source", "ad_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_touchpoints_journey", table_name="touchpoints")
