"""Webhook endpoints' signing secrets sealed at rest (`exports_pipeline.sealing`): each
plain `whsec_…` secret becomes its Fernet token under the store's secrets key, which the
caller of the migration passes (`exports-pipeline db upgrade` does); downgrading opens
them again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exports_pipeline.store.migrate import secret_box_of_migration

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

endpoints = sa.table("webhook_endpoints", sa.column("id"), sa.column("secret"))
PLAIN = "whsec_%"


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(endpoints).where(endpoints.c.secret.like(PLAIN))).all()
    if not rows:
        return
    box = secret_box_of_migration(f"seals {len(rows)} plain webhook secrets")
    for row in rows:
        conn.execute(
            sa.update(endpoints).where(endpoints.c.id == row.id).values(secret=box.seal(row.secret))
        )


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(endpoints).where(sa.not_(endpoints.c.secret.like(PLAIN)))).all()
    if not rows:
        return
    box = secret_box_of_migration(f"opens {len(rows)} sealed webhook secrets")
    for row in rows:
        conn.execute(
            sa.update(endpoints).where(endpoints.c.id == row.id).values(secret=box.open(row.secret))
        )
