"""Checks that a peer answers W1 and W3 with the right rows, not only 50 of them.

    PYTHONPATH=../shared/peers ../shared/peers/.venv/bin/python bench/check_queries.py \
        ../shared/peers/adapters/baas.py OUT.json

The harness's prepare.py only counts rows; a server that ignores `filter` or `sort` would be
measured doing less work than its peers. This records, for W1 (newest first) and W3
(status = open, priority >= 4, newest first), how many rows came back, how many match and
whether they are in order; summarize.py marks a workload whose check failed. Never fails.
"""

import asyncio
import json
import sys

from harness.adapter_base import Req, load_adapter, new_session


def _rows(payload: dict) -> list[dict]:
    for key in ("items", "results", "records", "data"):
        if isinstance(payload.get(key), list):
            return payload[key]
    return []


def _created(row: dict):
    for key in ("created", "createdAt", "created_at"):
        if key in row:
            return row[key]
    return None


def _check(rows: list[dict], want) -> dict:
    stamps = [_created(r) for r in rows]
    ordered = None
    if rows and all(s is not None for s in stamps):
        ordered = all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))
    matching = sum(1 for r in rows if want(r))
    ok = len(rows) == 50 and matching == len(rows) and ordered is not False
    return {"rows": len(rows), "matching": matching, "newest_first": ordered, "ok": ok}


def _is_w3(row: dict) -> bool:
    try:
        return row.get("status") == "open" and float(row.get("priority")) >= 4
    except (TypeError, ValueError):
        return False


async def main(adapter_path: str, out: str) -> None:
    ad = load_adapter(adapter_path)
    result: dict = {}
    async with new_session(limit=2) as http:
        for label, req, want in (
            ("W1", ad.w1_list(), lambda r: True),
            ("W3", ad.w3_filter(), _is_w3),
        ):
            try:
                payload = await ad.send(
                    http,
                    Req(req.method, req.path, {**ad.public_headers(), **req.headers}),
                )
                result[label] = {"path": req.path, **_check(_rows(payload), want)}
            except Exception as exc:  # noqa: BLE001 - recorded, the bench decides
                result[label] = {"path": req.path, "ok": False, "error": str(exc)[:300]}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    for label, r in result.items():
        state = "ok" if r["ok"] else "NOT OK"
        print(
            f"query check {label}: {state} {json.dumps({k: v for k, v in r.items() if k != 'path'})}"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
