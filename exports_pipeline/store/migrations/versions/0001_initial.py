"""Initial store: the events store tables of SPEC 3 and the service's own tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ad_accounts",
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("account_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("space_id", "account_id", name=op.f("pk_ad_accounts")),
    )
    op.create_table(
        "ads",
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("ad_id", sa.Text(), nullable=False),
        sa.Column("adset_id", sa.Text(), nullable=False),
        sa.Column("ad_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("space_id", "ad_id", name=op.f("pk_ads")),
    )
    op.create_table(
        "adsets",
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("adset_id", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("adset_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("space_id", "adset_id", name=op.f("pk_adsets")),
    )
    op.create_table(
        "api_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("key_prefix", sa.Text(), nullable=False),
        sa.Column("can_export", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "campaigns",
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("campaign_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("space_id", "campaign_id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    op.create_table(
        "event_configs",
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("configured_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("space_id", "event_name", name=op.f("pk_event_configs")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("company_id", sa.Text(), nullable=True),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("is_upsell", sa.Boolean(), nullable=False),
        sa.Column("event_time_utc", sa.DateTime(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column("order_name", sa.Text(), nullable=True),
        sa.Column("event_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_space_id_event_time_utc"),
        "events",
        ["space_id", "event_time_utc"],
        unique=False,
    )
    op.create_table(
        "export_subscriptions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_subscriptions")),
    )
    op.create_table(
        "exports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("storage_key", sa.Text(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("file_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        sa.UniqueConstraint(
            "subscription_id", "date", name=op.f("uq_exports_subscription_id_date")
        ),
    )
    op.create_index(op.f("ix_exports_space_id_id"), "exports", ["space_id", "id"], unique=False)
    op.create_index(op.f("ix_exports_status_id"), "exports", ["status", "id"], unique=False)
    op.create_table(
        "profiles",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("company_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
    )
    op.create_index(
        op.f("ix_profiles_space_id_company_id"),
        "profiles",
        ["space_id", "company_id"],
        unique=False,
    )
    op.create_table(
        "rate_limit_counters",
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "space_id", "bucket", "window_start", name=op.f("pk_rate_limit_counters")
        ),
    )
    op.create_table(
        "spaces",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("subscription_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
    )
    op.create_table(
        "touchpoints",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("touch_time_utc", sa.DateTime(), nullable=False),
        sa.Column("ad_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touchpoints")),
    )
    op.create_index(
        op.f("ix_touchpoints_space_id_profile_id_touch_time_utc"),
        "touchpoints",
        ["space_id", "profile_id", "touch_time_utc"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_touchpoints_space_id_profile_id_touch_time_utc"), table_name="touchpoints"
    )
    op.drop_table("touchpoints")
    op.drop_table("spaces")
    op.drop_table("rate_limit_counters")
    op.drop_index(op.f("ix_profiles_space_id_company_id"), table_name="profiles")
    op.drop_table("profiles")
    op.drop_index(op.f("ix_exports_status_id"), table_name="exports")
    op.drop_index(op.f("ix_exports_space_id_id"), table_name="exports")
    op.drop_table("exports")
    op.drop_table("export_subscriptions")
    op.drop_index(op.f("ix_events_space_id_event_time_utc"), table_name="events")
    op.drop_table("events")
    op.drop_table("event_configs")
    op.drop_table("companies")
    op.drop_table("campaigns")
    op.drop_table("api_keys")
    op.drop_table("adsets")
    op.drop_table("ads")
    op.drop_table("ad_accounts")
