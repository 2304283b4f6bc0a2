#!/usr/bin/env python3
"""Realtime (W5) medians over rounds, against PocketBase and the issue's targets.

    python3 bench/summarize_realtime.py bench/results/<stamp>   -> <stamp>/realtime.md (+ .json)

Reads <stamp>/<peer>/round<N>/rt_<step>.json (../shared/peers/realtime.py and
bench/realtime_memory.py, run by `REALTIME=... bench/run`). Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys

ORDER = ["pocketbase", "parse", "baas-embedded", "baas-production"]
OURS = ["baas-embedded", "baas-production"]
STEPS = {"100": "W5, 100 subscribers", "1000": "W5, 1000 subscribers", "w5r": "W5r"}
METRICS = [
    ("subs_connected", "subscribed", 0),
    ("delivered_pct", "delivered %", 2),
    ("rate_achieved", "writes/s", 1),
    ("latency_ms_p50", "p50 ms", 1),
    ("latency_ms_p99", "p99 ms", 1),
    ("duplicates", "duplicates", 0),
]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def collect(stamp_dir: str) -> dict:
    """{peer: {step: {metric: [per round]}}} and {peer: [kb per idle subscriber]}."""
    found: dict = {}
    for path in sorted(glob.glob(os.path.join(stamp_dir, "*", "round*", "rt_*.json"))):
        peer = path.split(os.sep)[-3]
        step = os.path.basename(path)[3:-5]
        with open(path) as f:
            result = json.load(f)
        per_step = found.setdefault(peer, {}).setdefault(step, {})
        if step == "memory":
            per_step.setdefault("kb_per_subscriber", []).append(
                result.get("kb_per_subscriber")
            )
            continue
        for key, _, _ in METRICS:
            per_step.setdefault(key, []).append(result.get(key))
        server = result.get("server", {}).get("server", {})
        per_step.setdefault("server_cpu", []).append(server.get("cpu_cores"))
    return found


def _fmt(value, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if digits else f"{value:.0f}"


def checks(med: dict) -> list[str]:
    """The issue's targets, for each of our peers, against PocketBase's medians."""
    pb = med.get("pocketbase", {})
    lines = []
    for peer in OURS:
        ours = med.get(peer)
        if not ours:
            continue

        def get(step, key, source=ours):
            return source.get(step, {}).get(key)

        def verdict(ok):
            return "PASS" if ok else "FAIL"

        if "100" in ours:
            ok = get("100", "delivered_pct") == 100 and (
                get("100", "latency_ms_p99", pb) is None
                or get("100", "latency_ms_p99") <= get("100", "latency_ms_p99", pb)
            )
            lines.append(
                f"- {peer} W5-100: 100 % delivered, p99 ≤ PocketBase's "
                f"({_fmt(get('100', 'latency_ms_p99'), 1)} vs "
                f"{_fmt(get('100', 'latency_ms_p99', pb), 1)} ms): {verdict(ok)}"
            )
        if "1000" in ours:
            p50, p99 = get("1000", "latency_ms_p50"), get("1000", "latency_ms_p99")
            pb50, pb99 = (
                get("1000", "latency_ms_p50", pb),
                get("1000", "latency_ms_p99", pb),
            )
            ok = (
                get("1000", "delivered_pct") == 100
                and (get("1000", "rate_achieved") or 0) >= 19.5
                and (pb50 is None or p50 <= pb50)
                and (pb99 is None or p99 <= pb99)
            )
            lines.append(
                f"- {peer} W5-1000: 100 % delivered, 20 writes/s, p50 and p99 ≤ "
                f"PocketBase's ({_fmt(p50, 1)}/{_fmt(p99, 1)} vs {_fmt(pb50, 1)}/"
                f"{_fmt(pb99, 1)} ms; aim ≤ 30/100): {verdict(ok)}"
            )
        if "w5r" in ours:
            ok = (
                get("w5r", "delivered_pct") == 100
                and (get("w5r", "rate_achieved") or 0) >= 19.5
                and (get("w5r", "latency_ms_p99") or 1e9) <= 250
            )
            lines.append(
                f"- {peer} W5r: 100 % of permitted events, 20 writes/s, p99 ≤ 250 ms "
                f"({_fmt(get('w5r', 'rate_achieved'), 1)}/s, p99 "
                f"{_fmt(get('w5r', 'latency_ms_p99'), 1)} ms): {verdict(ok)}"
            )
        if "memory" in ours:
            kb = get("memory", "kb_per_subscriber")
            lines.append(
                f"- {peer} memory per idle subscriber < 64 KB ({_fmt(kb, 1)} KB): "
                f"{verdict(kb is not None and kb < 64)}"
            )
    return lines


def render(stamp_dir: str, found: dict, med: dict) -> str:
    out = [f"# Realtime, run {os.path.basename(os.path.abspath(stamp_dir))}", ""]
    out.append(
        "Medians over rounds (../shared/peers/realtime.py; latency = receipt at the"
    )
    out.append("subscriber - the write request's start, same clock).")
    for step, title in STEPS.items():
        peers = [p for p in ORDER if step in med.get(p, {})]
        if not peers:
            continue
        out += [
            "",
            f"## {title}",
            "",
            "| peer | rounds | "
            + " | ".join(label for _, label, _ in METRICS)
            + " | server cores |",
        ]
        out.append("|---" * (len(METRICS) + 3) + "|")
        for peer in peers:
            m = med[peer][step]
            rounds = len(found[peer][step]["delivered_pct"])
            cells = [_fmt(m.get(key), digits) for key, _, digits in METRICS]
            out.append(
                f"| {peer} | {rounds} | "
                + " | ".join(cells)
                + f" | {_fmt(m.get('server_cpu'), 2)} |"
            )
    memory = [p for p in ORDER if "memory" in med.get(p, {})]
    if memory:
        out += ["", "## Memory per idle subscriber (1000 subscriptions)", ""]
        out += ["| peer | KB per subscriber |", "|---|---|"]
        for peer in memory:
            out.append(
                f"| {peer} | {_fmt(med[peer]['memory']['kb_per_subscriber'], 1)} |"
            )
    targets = checks(med)
    if targets:
        out += ["", "## Targets (issue 11)", "", *targets]
    return "\n".join(out) + "\n"


def main() -> int:
    stamp_dir = sys.argv[1]
    found = collect(stamp_dir)
    med = {
        peer: {
            step: {k: _median(v) for k, v in metrics.items()}
            for step, metrics in steps.items()
        }
        for peer, steps in found.items()
    }
    text = render(stamp_dir, found, med)
    with open(os.path.join(stamp_dir, "realtime.md"), "w") as f:
        f.write(text)
    with open(os.path.join(stamp_dir, "realtime.json"), "w") as f:
        json.dump({"medians": med, "rounds": found}, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
