"""Server time of the console's records grid with 10,000 records in the collection.

Run with the virtualenv of the tree to measure (`.venv/bin/python bench/console_render.py`):
it makes a throwaway data directory (SQLite), a `posts` collection (text, number, bool,
select, json, date) with 10,000 records written through `record_create`, then renders
`/console/collections/posts/` with Django's test Client in a console session and prints
the median and p95 over the renders (the target, issue 14: under 300 ms). Variants: the
first page, a sorted page, a filtered page, a later cursor page, and the htmx grid
partial. Options: `--records N` (default 10000), `--renders N` (default 20).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ["BAAS_DATA_DIR"] = tempfile.mkdtemp(prefix="console-render-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.collections.services import collection_create  # noqa: E402
from apps.records.records import record_create  # noqa: E402

TARGET_MS = 300.0


def setup(count: int) -> tuple[User, Client]:
    call_command("migrate", verbosity=0, interactive=False)
    admin = User.objects.create_superuser(
        email="bench@example.com", password="a long bench password 1"
    )
    collection_create(
        actor=admin,
        data={
            "name": "posts",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "text"},
                {"name": "priority", "type": "number"},
                {"name": "done", "type": "bool"},
                {
                    "name": "status",
                    "type": "select",
                    "options": {"values": ["open", "closed"]},
                },
                {"name": "meta", "type": "json"},
                {"name": "due", "type": "date"},
            ],
            "indexes": [{"fields": ["status", "created"]}],
        },
    )
    started = time.perf_counter()
    for start in range(0, count, 500):
        with transaction.atomic():
            for n in range(start, min(start + 500, count)):
                record_create(
                    actor=admin,
                    collection="posts",
                    data={
                        "title": f"Post number {n}",
                        "body": "lorem ipsum dolor sit amet " * 18,
                        "priority": n % 5 + 1,
                        "done": n % 3 == 0,
                        "status": "open" if n % 2 else "closed",
                        "meta": {"n": n, "tags": ["a", "b"]},
                        "due": "2026-12-07T10:00:00Z",
                    },
                )
    print(f"seeded {count} records in {time.perf_counter() - started:.1f} s")
    client = Client()
    client.force_login(admin)
    session = client.session
    session["baas_console"] = str(admin.pk)
    session.save()
    return admin, client


def measure(client: Client, label: str, path: str, renders: int, **extra) -> float:
    for _ in range(3):  # warm-up: model cache, compiled plans, templates
        response = client.get(path, **extra)
        assert response.status_code == 200, (response.status_code, path)
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        response = client.get(path, **extra)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    times.sort()
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    verdict = "PASS" if p95 < TARGET_MS else "FAIL"
    print(f"{label:<28} median {median:7.1f} ms   p95 {p95:7.1f} ms   {verdict}")
    return p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
    _, client = setup(args.records)
    base = "/console/collections/posts/"
    first = client.get(base).content.decode()
    cursor = first.split("cursor=")[1].split('"')[0].split("&")[0]
    htmx = {"headers": {"HX-Request": "true", "HX-Target": "grid"}}
    results = [
        measure(client, "first page (50 rows)", base, args.renders),
        measure(client, "sorted by priority", base + "?sort=-priority", args.renders),
        measure(
            client,
            "filtered (status, priority)",
            base + "?filter=status%20%3D%20%27open%27%20%26%26%20priority%20%3E%3D%204",
            args.renders,
        ),
        measure(
            client, "second page (cursor)", f"{base}?cursor={cursor}", args.renders
        ),
        measure(
            client, "htmx grid partial", base + "?sort=title", args.renders, **htmx
        ),
    ]
    print(f"target: p95 under {TARGET_MS:.0f} ms server time, {args.records} records")
    return 0 if max(results) < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
