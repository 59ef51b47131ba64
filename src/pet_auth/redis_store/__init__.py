"""Everything the service keeps in Redis: the adapters that implement the domain's Redis-backed ports.

  client.py     the Redis client for the topology the settings name (one server, Sentinel or Cluster), and a
                connection to the server that holds a key
  sessions.py   the session store: a hash per user (`Profile` and `SessionRecord`, the one declaration of what
                is stored); implements the session registry
  pending.py    pending two-factor sign-ins
  batch.py      batched reads: concurrent session reads go to Redis as one pipeline
  ratelimit.py  rate limits shared by all workers (request budgets; sign-in attempts with places in flight)

Storage only, like `db/` for PostgreSQL: it imports the domain, never `pet_auth.http` (the session cookie stays in
`http/session_cookie.py`).

Why this name: not `sessions/`, since the package also holds rate limits, which are not sessions; and not `redis/`,
whose modules say `import redis` / `from redis.asyncio import ...` and mean redis-py. With absolute imports that
would still work, but `pet_auth.redis` next to `redis` invites a reader (and any tool run with `src/pet_auth` on
its path) to confuse the two. `redis_store` says what it is: the Redis side of storage, as `db/` is PostgreSQL's.

The session store's logger keeps its name, `pet_auth.sessions`: docs/operations.md documents it and operators may filter
on it.
"""
