"""Redis storage of sessions: each user's sessions together in one hash.

One key per user, `<ns>:{<user id>}` (the braces make the user id the key's Redis Cluster hash tag), a hash of
  u          the user's own fields that a session serves (`Profile`), kept once for all their sessions
  p          the version of those fields: an older copy never replaces a newer one
  v          the user's credential version: no session is stored for an earlier one
  <handle>   one session (`SessionRecord`), per session handle
`u` and the sessions are msgpack arrays (the field names are not stored), `p` and `v` integers. That hash is also
the per-user index of sessions: listing them or ending them all is one key's work, and no index entry can
outlive its session. Redis's per-key overhead is paid once per user, not once per session plus once per index;
and small values keep the hash in Redis's compact listpack encoding.

Redis 7.0 has no expiry per hash field, so each session carries its last use (`seen`) and every read checks both
timeouts; the key expires an idle timeout after its most recent use. A read records its use at most once per
`touch_interval` (1% of the idle timeout, at most a minute), with a compare-and-set: an unchanged session is not
rewritten on every request, and a session ended meanwhile stays ended. A session may so end up to one
`touch_interval` before its exact idle deadline, never after it. Sessions past a deadline are deleted when read,
when listed, and by a sign-in that finds the user at their limit of sessions (`most_per_user`; past it, the least
recently used session ends too).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from redis.commands.core import AsyncScript
from redis.exceptions import AskError, ConnectionError, MovedError, ResponseError, TryAgainError

from pet_auth.domain import models
from pet_auth.domain.errors import CredentialsChanged, ProfileChanged, SessionEnded
from pet_auth.domain.models import Client, SessionInfo, SessionRef, User
from pet_auth.domain.tokens import new_token, short_keyed_digest
from pet_auth.redis_store.batch import ReadBatcher
from pet_auth.redis_store.client import TIMEOUT_SECONDS, AnyRedis, connection_for

logger = logging.getLogger("pet_auth.sessions")  # the name docs/operations.md documents, not the module's

PROFILE = "u"
PROFILE_VERSION = "p"
CREDENTIAL_VERSION = "v"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Profile(msgspec.Struct, array_like=True, frozen=True):
    """How the user's profile (domain/models.py `Profile`, the fields a session serves: `GET /me` needs no SQL) is
    stored, once per user; `of` and `to_domain` convert.

    Stored as a msgpack array, without field names. A field added later goes last, with a default: records written
    before it still decode, and a newer release's extra fields are ignored (a rolling upgrade, a rollback)."""

    email: str
    created_at_us: int  # microseconds since the epoch: compact and exact
    email_verified: bool = False  # added after the first release
    mfa_enabled: bool = False  # likewise

    @classmethod
    def of(cls, profile: models.Profile) -> Profile:
        created_at_us = (profile.created_at - _EPOCH) // _MICROSECOND
        return cls(profile.email, created_at_us, profile.email_verified, profile.mfa_enabled)

    def to_domain(self) -> models.Profile:
        return models.Profile(
            email=self.email,
            created_at=_EPOCH + timedelta(microseconds=self.created_at_us),
            email_verified=self.email_verified,
            mfa_enabled=self.mfa_enabled,
        )


class SessionRecord(msgspec.Struct, array_like=True, frozen=True):
    """One signed-in session, stored as a msgpack array (the same rules for new fields as `Profile`)."""

    issued_at: int  # seconds since the epoch
    last_seen_ms: int  # recorded at most once per touch interval
    device: str  # a short description, `Firefox 133 on Windows`, never the raw User-Agent
    ip: str
    # When the session last proved a factor (seconds since the epoch; 0: never, as for sessions stored before it
    # was recorded): sign-in and re-authentication set it, sudo mode reads it.
    proved_at: int = 0


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session as a request finds it: its user and record, both checked live."""

    user_id: int
    handle: str
    profile: models.Profile
    record: SessionRecord


# Where the Lua scripts find a session's times: positions in the stored array, from the declaration.
_ISSUED_AT = SessionRecord.__struct_fields__.index("issued_at") + 1
_LAST_SEEN = SessionRecord.__struct_fields__.index("last_seen_ms") + 1

_encoder = msgspec.msgpack.Encoder()
_profile_decoder = msgspec.msgpack.Decoder(Profile)
_record_decoder = msgspec.msgpack.Decoder(SessionRecord)
# A session read again after a concurrent change, at most this many times in all.
_READ_ATTEMPTS = 3

# How long a user's credential version outlives their last session: longer than any sign-in can be in flight, so
# that one verified before a credential change cannot be stored after it.
CREDENTIAL_VERSION_GRACE_SECONDS = 600

# Lua shared by the scripts below: keep a user's key alive for an idle timeout after a use (never shortening it);
# delete sessions of a user, and the user's fields with their last session (the versions then stay for the grace
# period).
_HELPERS = """
local function keep_alive(key, idle_seconds)
  if redis.call('TTL', key) < tonumber(idle_seconds) then redis.call('EXPIRE', key, idle_seconds) end
end
local function delete_sessions(key, handles)
  local ended = 0
  for _, handle in ipairs(handles) do ended = ended + redis.call('HDEL', key, handle) end
  local remaining = redis.call('HLEN', key) - redis.call('HEXISTS', key, 'u') - redis.call('HEXISTS', key, 'v')
    - redis.call('HEXISTS', key, 'p')
  if remaining == 0 then
    redis.call('HDEL', key, 'u')
    redis.call('EXPIRE', key, GRACE_SECONDS)
  end
  return ended
end
local function session_fields(key)
  local handles = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if field ~= 'u' and field ~= 'v' and field ~= 'p' then handles[#handles + 1] = field end
  end
  return handles
end
""".replace("GRACE_SECONDS", str(CREDENTIAL_VERSION_GRACE_SECONDS))

# Sets one session to ARGV[3] if it still holds ARGV[2]; keeps the user's key alive for an idle timeout (ARGV[4]).
_COMPARE_AND_SET = (
    _HELPERS
    + """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
keep_alive(KEYS[1], ARGV[4])
return 1
"""
)

# Adds a session (handle ARGV[2], ARGV[3]) and the user's fields (ARGV[1], version ARGV[11]) to KEYS[1], verified
# against credential version ARGV[9]: returns -1 and stores nothing if the user's credentials are already past it,
# unless ARGV[10] is '1' (the caller confirmed the version with PostgreSQL). Newer fields already stored stay;
# with no fields stored but a newer version known, returns -2 and stores nothing (the caller reads the user again).
# Ends the session it replaces (ARGV[8], if not '': one of the same user's); keeps the key alive for an idle timeout
# (ARGV[4] s). Past ARGV[7] sessions, ends those past a deadline (used last at or before ARGV[5] ms, or issued at or
# before ARGV[6] ms: `SessionStore._cutoffs`), then the least recently used, so that no user collects sessions
# without bound. One script, not a MULTI: redis-py checks a pipeline's scripts with SCRIPT EXISTS first, a round
# trip more.
_ADD = (
    _HELPERS
    + """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if tonumber(ARGV[9]) < current and ARGV[10] ~= '1' then return -1 end
local fresh = tonumber(ARGV[11]) >= tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
if not fresh and redis.call('HEXISTS', KEYS[1], 'u') == 0 then return -2 end
if ARGV[8] ~= '' then redis.call('HDEL', KEYS[1], ARGV[8]) end
if fresh then redis.call('HSET', KEYS[1], 'u', ARGV[1], 'p', ARGV[11]) end
redis.call('HSET', KEYS[1], 'v', ARGV[9], ARGV[2], ARGV[3])
keep_alive(KEYS[1], ARGV[4])
local most = tonumber(ARGV[7])
if redis.call('HLEN', KEYS[1]) <= most + 3 then return 0 end
local seen_cutoff, issued_cutoff = tonumber(ARGV[5]), tonumber(ARGV[6])
local live, ended = {}, {}
for _, handle in ipairs(session_fields(KEYS[1])) do
  local session = cmsgpack.unpack(redis.call('HGET', KEYS[1], handle))
  local seen = session[LAST_SEEN]
  if seen <= seen_cutoff or session[ISSUED_AT] * 1000 <= issued_cutoff then
    ended[#ended + 1] = handle
  else
    live[#live + 1] = {seen, handle}
  end
end
table.sort(live, function(a, b) return a[1] < b[1] end)
for i = 1, #live - most do ended[#ended + 1] = live[i][2] end
return delete_sessions(KEYS[1], ended)
""".replace("LAST_SEEN", str(_LAST_SEEN)).replace("ISSUED_AT", str(_ISSUED_AT))
)

# Stores the user's fields ARGV[1] at version ARGV[2] for every session of the user, unless a newer version is
# known; the version is kept (for the grace period, without sessions) so that an older copy cannot follow.
_PROFILE_CHANGED = (
    _HELPERS
    + """
if tonumber(ARGV[2]) <= tonumber(redis.call('HGET', KEYS[1], 'p') or '0') then return 0 end
redis.call('HSET', KEYS[1], 'p', ARGV[2])
if redis.call('HEXISTS', KEYS[1], 'u') == 1 then redis.call('HSET', KEYS[1], 'u', ARGV[1]) end
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], GRACE_SECONDS) end
return 1
""".replace("GRACE_SECONDS", str(CREDENTIAL_VERSION_GRACE_SECONDS))
)

# Raises the user's credential version to ARGV[1] and ends every session of the user; returns 1. With ARGV[2] not
# '' (the handle of the session the change came from), only while that session exists: else returns 0.
_CREDENTIALS_CHANGED = (
    _HELPERS
    + """
if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'v') or '0') then
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
end
delete_sessions(KEYS[1], session_fields(KEYS[1]))
return 1
"""
)

# Ends the sessions ARGV[2..] of a user, or with ARGV[1] == 'all-but', all of them but ARGV[2] (may be '').
# Returns how many ended.
_END = (
    _HELPERS
    + """
local handles = {}
if ARGV[1] == 'all-but' then
  for _, handle in ipairs(session_fields(KEYS[1])) do
    if handle ~= ARGV[2] then handles[#handles + 1] = handle end
  end
else
  for i = 2, #ARGV do handles[#handles + 1] = ARGV[i] end
end
return delete_sessions(KEYS[1], handles)
"""
)


def session_handle(secret: bytes, token: str) -> str:
    """The name a session is stored under: HMAC-SHA256 of its token, truncated to 128 bits (22 characters): no
    way back to the token, no collision in practice, and 21 bytes less in Redis for every session."""
    return short_keyed_digest(secret, token)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SessionStore:
    """The sessions of every user, under `<namespace>:`. Not a Litestar `Store` (a key/value API it would not
    honour): the session middleware gets it from its configuration (http/session_cookie.py)."""

    def __init__(
        self,
        redis: AnyRedis,
        namespace: str,
        idle_timeout: int,
        absolute_lifetime: int,
        most_per_user: int,
        read_timeout: float,
        secret: bytes,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        self._redis = redis
        self._key_prefix = f"{namespace}:"
        self._secret = secret
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self.idle_timeout = idle_timeout
        self.absolute_lifetime = absolute_lifetime
        self.most_per_user = most_per_user
        self.touch_interval_ms = min(60_000, idle_timeout * 10)  # 1% of the idle timeout
        self._reads = ReadBatcher(redis, timeout=read_timeout)
        self._add = redis.register_script(_ADD)
        self._compare_and_set = redis.register_script(_COMPARE_AND_SET)
        self._end = redis.register_script(_END)
        self._credentials_changed = redis.register_script(_CREDENTIALS_CHANGED)
        self._profile_changed = redis.register_script(_PROFILE_CHANGED)

    def _user_key(self, user_id: int) -> str:
        return f"{self._key_prefix}{{{user_id}}}"

    def _cutoffs(self, now_ms: int) -> tuple[int, int]:
        """The deadline rule, written once: a session last used at or before the first (ms), or issued at or
        before the second (ms), has ended. The Lua eviction gets them as arguments and only compares."""
        return now_ms - self.idle_timeout * 1000, now_ms - self.absolute_lifetime * 1000

    def _is_live(self, record: SessionRecord, now_ms: int) -> bool:
        seen_cutoff, issued_cutoff = self._cutoffs(now_ms)
        return record.last_seen_ms > seen_cutoff and record.issued_at * 1000 > issued_cutoff

    async def load(self, user_id: int, handle: str) -> LiveSession | None:
        """A live session with its user's fields, its use recorded; None (and the session gone) once either
        timeout has passed. One HMGET, batched with the other requests' reads; a write only when the last
        recorded use is older than the touch interval."""
        for _ in range(_READ_ATTEMPTS):
            raw_profile, raw = await self._reads.read("HMGET", self._user_key(user_id), PROFILE, handle)
            if raw_profile is None or raw is None:
                return None
            record, now_ms = _record_decoder.decode(raw), _now_ms()
            if not self._is_live(record, now_ms):
                await self.remove(user_id, handle)
                return None
            live = LiveSession(user_id, handle, _profile_decoder.decode(raw_profile).to_domain(), record)
            if now_ms - record.last_seen_ms < self.touch_interval_ms:
                return live
            touched = msgspec.structs.replace(record, last_seen_ms=now_ms)
            if await self._set_if_unchanged(user_id, handle, raw, touched):
                return LiveSession(user_id, handle, live.profile, touched)
            # It changed or ended meanwhile (a concurrent request recorded its use, a logout): read it again.
        return live  # live when last read; the concurrent requests have recorded its use

    async def start(
        self,
        user: User,
        credential_version: int,
        client: Client,
        replaces: SessionRef | None,
        *,
        force: bool = False,
        proved: bool = True,
    ) -> str:
        """Store a new session among its user's, ending the session it replaces (in the same step if it is the
        same user's, else right after: a script touches one user's key, one hash slot); return its token,
        `<user id>.<256 random bits>`. Raises `CredentialsChanged` if the user's credentials were changed past
        `credential_version` (unless `force`). With `proved`, the session starts with a proof of a factor."""
        token = f"{user.id}.{new_token()}"
        now_ms = _now_ms()
        record = SessionRecord(
            issued_at=now_ms // 1000,
            last_seen_ms=now_ms,
            device=client.device,
            ip=client.ip,
            proved_at=now_ms // 1000 if proved else 0,
        )
        seen_cutoff, issued_cutoff = self._cutoffs(now_ms)
        args: list[str | bytes | int] = [
            _encoder.encode(Profile.of(user.profile)),
            session_handle(self._secret, token),
            _encoder.encode(record),
            self.idle_timeout,
            seen_cutoff,
            issued_cutoff,
            self.most_per_user,
            "" if replaces is None or replaces.user_id != user.id else replaces.handle,
            credential_version,
            "1" if force else "0",
            user.profile_version,
        ]
        outcome = await self._add(keys=[self._user_key(user.id)], args=args)
        if outcome == -1:
            raise CredentialsChanged
        if outcome == -2:
            raise ProfileChanged
        if replaces is not None and replaces.user_id != user.id:
            # Another user's session, signed in over: the new one is stored first, so that a failure here leaves
            # the client its old session (as before the request), never none.
            await self.remove(replaces.user_id, replaces.handle)
        return token

    async def record_proof(self, user_id: int, handle: str) -> None:
        """Record that the session has just proved a factor of its user (re-authentication, a sudo action);
        `SessionEnded` if it no longer exists."""
        key = self._user_key(user_id)
        for _ in range(_READ_ATTEMPTS):
            raw = cast("bytes | None", await self._redis.hget(key, handle))
            if raw is None or handle in (PROFILE, PROFILE_VERSION, CREDENTIAL_VERSION):
                raise SessionEnded
            record = _record_decoder.decode(raw)
            proved = msgspec.structs.replace(record, proved_at=_now_ms() // 1000)
            if await self._set_if_unchanged(user_id, handle, raw, proved):
                return
            # A concurrent request recorded its use meanwhile: read it again.
        raise SessionEnded

    async def profile_changed(self, user: User) -> None:
        args: list[bytes | int] = [_encoder.encode(Profile.of(user.profile)), user.profile_version]
        await self._profile_changed(keys=[self._user_key(user.id)], args=args)

    async def credentials_changed(self, user_id: int, credential_version: int, caller: str | None = None) -> None:
        if not await self._revoke(user_id, self._credentials_changed, credential_version, caller or ""):
            raise SessionEnded

    async def _revoke(self, user_id: int, script: AsyncScript, *args: str | int) -> Any:
        """Run a script that ends sessions; with replicas to wait for, confirm it only once they acknowledged
        it (WAIT), so that a failover to a replica cannot bring the sessions back. WAIT counts the writes of its
        own connection: the script and the WAIT go together on one connection, in one round trip."""
        key = self._user_key(user_id)
        if not self._wait_replicas:
            return await script(keys=[key], args=list(args))
        wait = ("WAIT", self._wait_replicas, self._wait_timeout_ms)
        async with connection_for(self._redis, key) as connection:
            commands = [("EVAL", script.script, 1, key, *args), wait]
            await connection.send_packed_command(connection.pack_commands(commands))
            timeout = TIMEOUT_SECONDS + self._wait_timeout_ms / 1000
            try:
                result = await connection.read_response(timeout=timeout)
            except (MovedError, AskError) as exc:
                # A cluster moving the user's slot right now; redis-py's own commands learn the new map.
                raise TryAgainError("the key's slot is moving") from exc
            try:
                acknowledged = int(await connection.read_response(timeout=timeout))
            except ResponseError as exc:
                # UNBLOCKED, or WAIT refused by a replica: this server was a master when it ended the sessions
                # and is not now. A replica's writes are discarded when it follows the new master.
                raise ConnectionError("the master stepped down before its replicas acknowledged") from exc
        if acknowledged < self._wait_replicas:
            # Revoked on the master, which keeps answering: a replica outage must not stop sign-outs. Until a
            # replica catches up, a failover could lose this revocation.
            logger.warning(
                "a revocation was acknowledged by %d of %d replicas within %d ms",
                acknowledged,
                self._wait_replicas,
                self._wait_timeout_ms,
            )
        return result

    async def _set_if_unchanged(self, user_id: int, handle: str, expected: bytes, new: SessionRecord) -> bool:
        args: list[str | bytes | int] = [handle, expected, _encoder.encode(new), self.idle_timeout]
        return bool(await self._compare_and_set(keys=[self._user_key(user_id)], args=args))

    async def remove(self, user_id: int, *handles: str) -> int:
        return int(await self._end(keys=[self._user_key(user_id)], args=["these", *handles]))

    async def _live_sessions(self, user_id: int) -> list[tuple[str, SessionRecord]]:
        """The user's live sessions (handle, record); those that have timed out are ended, never listed."""
        stored = cast("dict[bytes, bytes]", await self._redis.hgetall(self._user_key(user_id)))
        for field in (PROFILE, PROFILE_VERSION, CREDENTIAL_VERSION):
            stored.pop(field.encode(), None)
        now_ms = _now_ms()
        live, ended = [], []
        for handle, raw in stored.items():
            record = _record_decoder.decode(raw)
            if self._is_live(record, now_ms):
                live.append((handle.decode(), record))
            else:
                ended.append(handle.decode())
        if ended:
            await self.remove(user_id, *ended)
        return live

    async def end_all_sessions(self, user_id: int, keep: str | None = None) -> int:
        return int(await self._revoke(user_id, self._end, "all-but", keep or ""))

    async def end_one_session(self, user_id: int, handle: str) -> bool:
        """End one of the user's sessions (sign-out, or revoked from the list); False when the handle is not
        one of theirs."""
        if handle in (PROFILE, PROFILE_VERSION, CREDENTIAL_VERSION):
            return False
        return int(await self._revoke(user_id, self._end, "these", handle)) == 1

    async def list_sessions(self, user_id: int) -> list[SessionInfo]:
        return [_describe(handle, record) for handle, record in await self._live_sessions(user_id)]


def _describe(handle: str, record: SessionRecord) -> SessionInfo:
    return SessionInfo(
        handle=handle,
        created_at=datetime.fromtimestamp(record.issued_at, UTC),
        last_seen_at=datetime.fromtimestamp(max(record.last_seen_ms / 1000, record.issued_at), UTC),
        user_agent=record.device,
        ip=record.ip,
    )
