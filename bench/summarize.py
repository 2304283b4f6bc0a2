#!/usr/bin/env python3
"""Medians over rounds, ratios to the peers and the targets, for one bench/run results folder.

    python3 bench/summarize.py bench/results/<stamp>     -> <stamp>/summary.md (+ summary.json)

Reads <stamp>/<peer>/round<N>/summary.json (written by the peers harness: bench.sh ->
harness/report.py bench) and query_check.json (bench/check_queries.py). Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys

ORDER = ["pocketbase", "parse", "baas-embedded", "baas-production"]
OURS = ["baas-embedded", "baas-production"]
WORKLOADS = ["W1", "W2", "W3", "W4"]
NAMES = {"W1": "list", "W2": "get", "W3": "filter", "W4": "create"}


def _load(path: str):
    with open(path) as f:
        return json.load(f)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _round_no(path: str) -> int:
    name = os.path.basename(os.path.dirname(path))
    return int(name[5:]) if name[5:].isdigit() else 0


def collect(stamp_dir: str) -> dict:
    """{peer: {"rounds": [...], "failed": [...], "w": {W: {metric: [per round]}}, "checks": ...}}"""
    peers: dict = {}
    for peer_dir in sorted(glob.glob(os.path.join(stamp_dir, "*", ""))):
        peer = os.path.basename(os.path.dirname(peer_dir))
        rounds = sorted(glob.glob(os.path.join(peer_dir, "round*", "")), key=_round_no)
        if not rounds:
            continue
        info = {"rounds": [], "failed": [], "w": {}, "checks": {}}
        for rd in rounds:
            n = _round_no(rd)
            s_path = os.path.join(rd, "summary.json")
            if os.path.exists(os.path.join(rd, "FAILED")) or not os.path.exists(s_path):
                info["failed"].append(n)
                continue
            info["rounds"].append(n)
            s = _load(s_path)
            for W, v in s["workloads"].items():
                g = v.get("groups", {})
                srv = g.get("server", {}).get("cpu_cores")
                db = g.get("db", {}).get("cpu_cores")
                cores = (srv or 0) + (db or 0)
                m = info["w"].setdefault(
                    W,
                    {
                        k: []
                        for k in (
                            "rps",
                            "p50",
                            "p99",
                            "errors",
                            "server_cpu",
                            "db_cpu",
                            "rps_per_core",
                            "other",
                            "bytes",
                        )
                    },
                )
                m["rps"].append(v["rps"])
                m["p50"].append(v["p50_ms"])
                m["p99"].append(v["p99_ms"])
                m["errors"].append(sum(v.get("errors", {}).values()))
                m["server_cpu"].append(srv)
                m["db_cpu"].append(db)
                m["rps_per_core"].append(
                    round(v["rps"] / cores, 1) if cores > 0 else None
                )
                m["other"].append(v.get("other_cores"))
                m["bytes"].append(v.get("bytes_per_req"))
            qc = os.path.join(rd, "query_check.json")
            if os.path.exists(qc):
                for W, c in _load(qc).items():
                    if not c.get("ok"):
                        info["checks"].setdefault(W, []).append((n, c))
        peers[peer] = info
    return peers


def medians(peers: dict) -> dict:
    out: dict = {}
    for peer, info in peers.items():
        for W, m in info["w"].items():
            out.setdefault(peer, {})[W] = {k: _median(v) for k, v in m.items()} | {
                "errors_total": sum(m["errors"]),
                "n": len(m["rps"]),
                "rps_rounds": m["rps"],
            }
    return out


def _fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) or digits else str(v)


def _ratio(a, b):
    return a / b if a is not None and b else None


def target_rows(peer: str, med: dict, peers: dict) -> list[tuple]:
    """(target, value shown, PASS/FAIL/n/a) for one of our profiles."""
    ours = med.get(peer, {})
    pb = med.get("pocketbase", {})
    parse = med.get("parse", {})
    rows = []

    def rps(d, W):
        return d.get(W, {}).get("rps")

    def check(label, value, ok, note=""):
        state = "n/a" if value is None else ("PASS" if ok else "FAIL")
        rows.append((label, value, state + note))

    for W, need in (("W1", 1.0), ("W2", 0.5), ("W3", 1.0), ("W4", 1.0)):
        r = _ratio(rps(ours, W), rps(pb, W))
        note = ""
        if W in peers.get(peer, {}).get("checks", {}):
            note = f" (query check failed: the {W} rows are not what {W} asks for; see notes)"
            check(
                f"{W} {NAMES[W]} req/s ≥ {need:g}× PocketBase",
                f"{r:.2f}×" if r else None,
                False,
                note,
            )
            continue
        check(
            f"{W} {NAMES[W]} req/s ≥ {need:g}× PocketBase",
            f"{r:.2f}×" if r else None,
            r is not None and r >= need,
        )
    r = _ratio(rps(ours, "W2"), rps(parse, "W2"))
    check(
        "W2 get req/s ≥ 2× Parse",
        f"{r:.2f}×" if r else None,
        r is not None and r >= 2.0,
    )
    if ours:
        errs = {W: v["errors_total"] for W, v in ours.items() if v["errors_total"]}
        check(
            "zero errors (all workloads, all rounds)",
            ", ".join(f"{W}={n}" for W, n in errs.items()) or "0",
            not errs,
        )
    else:
        check("zero errors (all workloads, all rounds)", None, False)
    for W in WORKLOADS:
        a, b = ours.get(W, {}).get("p99"), pb.get(W, {}).get("p99")
        shown = f"{a:.2f} vs {b:.2f} ms" if a is not None and b is not None else None
        check(f"{W} p99 ≤ PocketBase's", shown, shown is not None and a <= b)
    return rows


def versions_line(stamp_dir: str, peer: str, prefix: str) -> str | None:
    for path in sorted(
        glob.glob(os.path.join(stamp_dir, peer, "round*", "versions.txt"))
    ):
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.strip()
    return None


def render(stamp_dir: str, peers: dict, med: dict) -> str:
    order = [p for p in ORDER if p in peers] + sorted(
        p for p in peers if p not in ORDER
    )
    lines = [f"# Benchmark summary: {os.path.basename(os.path.abspath(stamp_dir))}", ""]
    host = versions_line(stamp_dir, order[0], "host:") if order else None
    settings = versions_line(stamp_dir, order[0], "settings:") if order else None
    lines += [
        "Median of the rounds per peer × workload (wrk closed loop through the peers harness;",
        "wrk and the server share the machine, so read ratios, not absolute capacity).",
        f"{host or ''}; {settings or ''}.",
        "",
        "| peer | rounds ok | failed rounds |",
        "|---|---:|---|",
    ]
    for p in order:
        lines.append(
            f"| {p} | {len(peers[p]['rounds'])} | {', '.join(map(str, peers[p]['failed'])) or '–'} |"
        )
    lines += [
        "",
        "## Medians",
        "",
        "| peer | workload | req/s (median) | req/s per round | p50 ms | p99 ms | errors (median / total) "
        "| server CPU cores | db CPU cores | req/s per server+db core | other load |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in order:
        for W in WORKLOADS:
            v = med.get(p, {}).get(W)
            if not v:
                continue
            per_round = " / ".join(f"{x:.0f}" for x in v["rps_rounds"])
            lines.append(
                f"| {p} | {W} {NAMES[W]} | {_fmt(v['rps'], 0)} | {per_round} | {_fmt(v['p50'], 2)} | "
                f"{_fmt(v['p99'], 2)} | {_fmt(v['errors'], 0)} / {v['errors_total']} | "
                f"{_fmt(v['server_cpu'], 2)} | {_fmt(v['db_cpu'], 2)} | {_fmt(v['rps_per_core'], 0)} | "
                f"{_fmt(v['other'], 2)} |"
            )
    lines += [
        "",
        "## Ratios (baas / peer, median req/s)",
        "",
        "| profile | W1 / PB | W2 / PB | W3 / PB | W4 / PB | W2 / Parse |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in [x for x in order if x in OURS]:
        cells = []
        for W in WORKLOADS:
            r = _ratio(
                med.get(p, {}).get(W, {}).get("rps"),
                med.get("pocketbase", {}).get(W, {}).get("rps"),
            )
            cells.append(f"{r:.2f}×" if r else "–")
        r = _ratio(
            med.get(p, {}).get("W2", {}).get("rps"),
            med.get("parse", {}).get("W2", {}).get("rps"),
        )
        cells.append(f"{r:.2f}×" if r else "–")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    for p in [x for x in order if x in OURS]:
        lines += [
            "",
            f"## Targets: {p}",
            "",
            "| target | value | result |",
            "|---|---|---|",
        ]
        for label, value, state in target_rows(p, med, peers):
            lines.append(
                f"| {label} | {value if value is not None else '–'} | {state} |"
            )
    notes = []
    for p in order:
        for W, fails in peers[p]["checks"].items():
            for n, c in fails:
                detail = c.get("error") or (
                    f"{c.get('rows')} rows, {c.get('matching')} matching, newest first: {c.get('newest_first')}"
                )
                notes.append(
                    f"- {p} round {n}: {W} query check failed ({detail}); `{c.get('path')}`"
                )
    for p in [x for x in order if x in OURS]:
        prof = versions_line(stamp_dir, p, "profile:")
        pg = versions_line(stamp_dir, p, "postgresql:")
        start = versions_line(stamp_dir, p, "start:")
        srv = versions_line(stamp_dir, p, "server:")
        notes.append(f"- {p}: " + "; ".join(x for x in (srv, start, prof, pg) if x))
    for p in ("pocketbase", "parse"):
        if p in peers:
            srv = versions_line(stamp_dir, p, "server:")
            if srv:
                notes.append(f"- {p}: {srv}")
    lines += [
        "",
        "## Notes",
        "",
        "- Errors = wrk socket errors + non-2xx responses. A PASS on errors needs 0 in every round.",
        "- Targets are from the issue: W1, W3, W4 ≥ 1.0× PocketBase; W2 ≥ 0.5× PocketBase and "
        "≥ 2× Parse; zero errors; p99 ≤ PocketBase's.",
        *notes,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    stamp_dir = sys.argv[1]
    peers = collect(stamp_dir)
    if not peers:
        print(f"no rounds under {stamp_dir}", file=sys.stderr)
        return 1
    med = medians(peers)
    md = render(stamp_dir, peers, med)
    with open(os.path.join(stamp_dir, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(stamp_dir, "summary.json"), "w") as f:
        json.dump(
            {
                "medians": med,
                "failed_rounds": {p: i["failed"] for p, i in peers.items()},
                "targets": {p: target_rows(p, med, peers) for p in OURS if p in peers},
            },
            f,
            indent=1,
        )
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
