"""canonical email addresses: one mailbox, one account

Rewrites every stored address to the canonical form of `pet_auth.domain.emails.normalize_email` (the very function
every request uses, on purpose: stored and looked-up forms must agree), then replaces the unique index on
lower(email) by a unique constraint on email: lookups compare the canonical form directly.

When two rows would get one address, or a stored address is not a valid one, it stops with a message naming the
rows and changes nothing: which account is the mailbox owner's is for an operator to decide.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pet_auth.domain.emails import normalize_email
from pet_auth.domain.errors import InvalidInput

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class EmailCanonicalizationError(Exception):
    """Stored addresses that cannot all be brought to their canonical form; the message names the rows."""


def _canonical_addresses(rows: Sequence[sa.Row[tuple[int, str]]]) -> dict[int, str]:
    canonical: dict[int, str] = {}
    by_address: defaultdict[str, list[int]] = defaultdict(list)
    problems = []
    for user_id, email in rows:
        try:
            canonical[user_id] = normalize_email(email)
        except InvalidInput as exc:
            problems.append(f"user {user_id} {email!r}: {exc.errors[0].message}")
            continue
        by_address[canonical[user_id]].append(user_id)
    for address, user_ids in by_address.items():
        if len(user_ids) > 1:
            problems.append(f"users {', '.join(map(str, user_ids))} would all become {address!r}")
    if problems:
        raise EmailCanonicalizationError(
            "cannot bring users.email to its canonical form; nothing was changed. Merge or delete these rows "
            "(or correct their addresses), then migrate again:\n  " + "\n  ".join(problems)
        )
    return canonical


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, email FROM users ORDER BY id")).all()
    canonical = _canonical_addresses(rows)
    changed = [{"id": user_id, "email": canonical[user_id]} for user_id, email in rows if canonical[user_id] != email]
    op.drop_index("uq_users_lower_email", table_name="users")
    if changed:
        connection.execute(sa.text("UPDATE users SET email = :email WHERE id = :id"), changed)
    op.create_unique_constraint(op.f("uq_users_email"), "users", ["email"])


def downgrade() -> None:
    # The addresses stay canonical: that form is still a valid (lower-cased) address for the revisions before.
    op.drop_constraint(op.f("uq_users_email"), "users", type_="unique")
    op.create_index("uq_users_lower_email", "users", [sa.text("lower(email)")], unique=True)
