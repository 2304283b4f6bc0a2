"""Who is present on a channel, across every realtime process.

A process calls `join` when a user's first connection on it subscribes to a presence
channel and `leave` when the last one goes; the answer says whether the user just
arrived in (or left) the channel as a whole, so exactly one process announces it.
Without Redis there is one realtime process and the count lives in memory. With Redis:

- `baas:presence:<channel>`: the users present (the `members` list);
- `baas:presence:<channel>:<user>`: the processes that hold a connection of the user;
- `baas:rt:proc:<process>`: a heartbeat key with a TTL of 3 heartbeats, and
  `baas:rt:held:<process>`: what that process holds. When a process dies without
  saying goodbye its heartbeat expires and another process removes what it held,
  announcing the leaves (`reap`).
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)

PREFIX = "baas:presence:"
PROCS = "baas:rt:procs"


class LocalPresence:
    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {}

    async def join(self, channel: str, user: str) -> bool:
        users = self.members.setdefault(channel, set())
        first = user not in users
        users.add(user)
        return first

    async def leave(self, channel: str, user: str) -> bool:
        users = self.members.get(channel, set())
        if user not in users:
            return False
        users.discard(user)
        if not users:
            self.members.pop(channel, None)
        return True

    async def list(self, channel: str) -> list[str]:
        return sorted(self.members.get(channel, ()))

    async def heartbeat(self) -> None:
        pass

    async def reap(self) -> list[tuple[str, str]]:
        return []

    async def close(self) -> None:
        pass


class RedisPresence:
    def __init__(self, proc: str) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        self.proc = proc
        self.ttl = 3 * settings.BAAS_REALTIME_HEARTBEAT

    async def join(self, channel: str, user: str) -> bool:
        holders = f"{PREFIX}{channel}:{user}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(holders, self.proc)
            pipe.scard(holders)
            pipe.sadd(f"baas:rt:held:{self.proc}", f"{channel}\0{user}")
            _, count, _ = await pipe.execute()
        if count == 1:
            await self.redis.sadd(PREFIX + channel, user)
            return True
        return False

    async def leave(self, channel: str, user: str, proc: str | None = None) -> bool:
        proc = proc or self.proc
        holders = f"{PREFIX}{channel}:{user}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(holders, proc)
            pipe.scard(holders)
            pipe.srem(f"baas:rt:held:{proc}", f"{channel}\0{user}")
            removed, count, _ = await pipe.execute()
        if removed and count == 0:
            await self.redis.srem(PREFIX + channel, user)
            return True
        return False

    async def list(self, channel: str) -> list[str]:
        return sorted(await self.redis.smembers(PREFIX + channel))

    async def heartbeat(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"baas:rt:proc:{self.proc}", "1", ex=self.ttl)
            pipe.sadd(PROCS, self.proc)
            await pipe.execute()

    async def reap(self) -> list[tuple[str, str]]:
        """Remove what dead processes held; the (channel, user) pairs that left."""
        left: list[tuple[str, str]] = []
        for proc in await self.redis.smembers(PROCS):
            if proc == self.proc or await self.redis.exists(f"baas:rt:proc:{proc}"):
                continue
            if not await self.redis.set(f"baas:rt:reap:{proc}", "1", nx=True, ex=60):
                continue  # another process is on it
            for item in await self.redis.smembers(f"baas:rt:held:{proc}"):
                channel, _, user = item.partition("\0")
                if await self.leave(channel, user, proc):
                    left.append((channel, user))
            await self.redis.delete(f"baas:rt:held:{proc}")
            await self.redis.srem(PROCS, proc)
        return left

    async def close(self) -> None:
        try:
            await self.redis.delete(f"baas:rt:proc:{self.proc}")
        finally:
            await self.redis.aclose()


def backend(proc: str):
    return RedisPresence(proc) if settings.REDIS_URL else LocalPresence()
