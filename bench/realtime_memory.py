#!/usr/bin/env python3
"""Memory per idle realtime subscriber, for any peer of ../shared/peers.

    (cd ../shared/peers && .venv/bin/python $ROOT/bench/realtime_memory.py -a adapters/baas.py -n 1000 -o out.json)

Opens N subscriptions through the peer's adapter (the same `subscribe` as W5, each its own
connection), waits until all are acknowledged and the server has settled, and reports the
growth of the resident memory of every server process (the adapter's `server_pids`:
for this project the supervisor, REST workers, realtime process, haproxy and embedded
worker) divided by N. Run from the peers folder (it imports the harness).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())
from harness.adapter_base import load_adapter, new_session  # noqa: E402
from harness.procmon import snapshot  # noqa: E402


def _rss_kb(ad) -> tuple[int, dict]:
    groups = snapshot(ad.server_pids())["groups"]
    return sum(g["rss_kb"] for g in groups.values()), {
        name: g["rss_kb"] for name, g in groups.items()
    }


async def run(args) -> dict:
    ad = load_adapter(args.adapter, args.base)
    await asyncio.sleep(1.0)
    before, before_groups = _rss_kb(ad)
    readies = [asyncio.Event() for _ in range(args.subs)]
    gate = asyncio.Semaphore(50)
    tasks = []
    async with new_session(limit=0) as http:

        async def one(i):
            async with gate:
                task = asyncio.ensure_future(
                    ad.subscribe(http, lambda m: None, readies[i])
                )
                await asyncio.wait(
                    {task, asyncio.ensure_future(readies[i].wait())},
                    timeout=30,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            return task

        tasks = await asyncio.gather(*(one(i) for i in range(args.subs)))
        subscribed = sum(r.is_set() for r in readies)
        await asyncio.sleep(args.settle)
        after, after_groups = _rss_kb(ad)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    grown = after - before
    return {
        "peer": ad.name,
        "subscribers": subscribed,
        "rss_kb_before": before,
        "rss_kb_after": after,
        "rss_kb_before_by_group": before_groups,
        "rss_kb_after_by_group": after_groups,
        "kb_per_subscriber": round(grown / subscribed, 1) if subscribed else None,
        "settle_s": args.settle,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-a", "--adapter", required=True)
    parser.add_argument("-b", "--base")
    parser.add_argument("-n", "--subs", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("-o", "--out")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")
    print(text)
    return 0 if result["subscribers"] == args.subs else 1


if __name__ == "__main__":
    sys.exit(main())
