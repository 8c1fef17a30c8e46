"""Drop the (space_id, profile_id, touch_time_utc) touchpoints index: it is a prefix of the
covering `ix_touchpoints_journey` (0002), which serves every query it served; keeping both
cost loads an index build and the store a third more disk.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_touchpoints_space_id_profile_id_touch_time_utc", table_name="touchpoints")


def downgrade() -> None:
    op.create_index(
        "ix_touchpoints_space_id_profile_id_touch_time_utc",
        "touchpoints",
        ["space_id", "profile_id", "touch_time_utc"],
        unique=False,
    )
