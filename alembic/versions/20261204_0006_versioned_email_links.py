"""email_tokens.credential_version: a mailed link carries the credentials it was issued under

A verification or address-change link is refused once the account's credential version has moved past the one it
was issued under (a reset, a password change, two-factor sign-in turned on or off). Links already mailed take
their account's current version, so they keep working until its next credential change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("email_tokens", sa.Column("credential_version", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE email_tokens SET credential_version = users.credential_version FROM users "
        "WHERE users.id = email_tokens.user_id"
    )
    op.alter_column("email_tokens", "credential_version", nullable=False)


def downgrade() -> None:
    op.drop_column("email_tokens", "credential_version")
