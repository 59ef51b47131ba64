"""Request budgets (sign-ups, reset requests, mailed links): counted, and a refusal audited; and counts that decide
whether a notice goes out."""

from __future__ import annotations

from pet_auth.domain.audit import AuditLog
from pet_auth.domain.errors import RateLimited
from pet_auth.domain.ports import Check, RateLimiter


async def within_limits(
    limiter: RateLimiter,
    audit: AuditLog,
    action: str,
    *checks: Check,
    ip: str,
    email: str | None = None,
    user_id: int | None = None,
) -> None:
    """Count one request under each check; a refusal is audited as `<action>_rate_limited` and raised."""
    try:
        await limiter.hit(*checks)
    except RateLimited:
        audit.record(f"{action}_rate_limited", ip=ip, email=email, user_id=user_id)
        raise


async def counted_within(limiter: RateLimiter, *checks: Check) -> bool:
    """Count one event under each check; whether every check is still within its limit (nothing is raised)."""
    try:
        await limiter.hit(*checks)
    except RateLimited:
        return False
    return True
