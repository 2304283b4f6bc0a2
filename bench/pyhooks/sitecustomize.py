"""Keeps BAAS_DB_PIDS current for the peers harness (bench/run, production profile only).

The harness's baas adapter reads the database PIDs from the fixed env var BAAS_DB_PIDS, but
PostgreSQL starts backends after bench.sh has started (the web workers' pools grow under
load), so a list taken once would miss the CPU of exactly the busy backends. bench/run puts
this folder on PYTHONPATH of the harness commands only; at interpreter start-up this recomputes
the list: postmaster + its current children (read from BENCH_PGDATA/postmaster.pid) + the
PIDs in BENCH_EXTRA_DB_PIDS (Redis). Exited backends are reaped by the postmaster, so their
CPU stays counted in its cutime/cstime. Does nothing when BENCH_PGDATA is unset.
"""

import os


def _children(ppid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _refresh() -> None:
    pgdata = os.environ.get("BENCH_PGDATA")
    if not pgdata:
        return
    pids: list[int] = []
    try:
        with open(os.path.join(pgdata, "postmaster.pid")) as f:
            postmaster = int(f.readline().strip())
        pids = [postmaster, *_children(postmaster)]
    except (OSError, ValueError):
        pass
    pids += [
        int(p) for p in os.environ.get("BENCH_EXTRA_DB_PIDS", "").split() if p.isdigit()
    ]
    if pids:
        os.environ["BAAS_DB_PIDS"] = " ".join(str(p) for p in pids)


_refresh()
