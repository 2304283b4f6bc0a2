#!/bin/bash
# W5 latency experiments (bench/RESULTS.md, 2026-12-08): start `baas serve` (embedded) from
# this checkout plus a second realtime process (uvicorn) on port 8100 that the proxy does
# not front, then run ../shared/peers/realtime.py N times with SUBS subscribers.
#   AD=<adapter> (default: w5_direct_adapter.py, subscribers on :8100, writes through :8000;
#   ../shared/peers/adapters/baas.py: both through the proxy)  N=1  SUBS=100
# Apply w5-floor.patch or w5-sent-rows.patch (git apply) first to measure those variants.
cd "$(dirname "$0")/../.."
HERE=$PWD
pkill -f "uvicorn baas.asgi:application --port 8100"; pkill -f "baas serve --port 8000"; for i in $(seq 30); do pgrep -f "granian|haproxy-8000|celery -A baas|baas serve" >/dev/null || break; sleep 0.5; done
source .venv/bin/activate
export BAAS_EMAIL_VERIFICATION=none BAAS_REQUIRE_SUPERUSER_MFA=false BAAS_RATE_LIMITS="signup=200/m/ip" BAAS_PROJECT=$HERE
$HERE/../shared/peers/setup_baas.sh > /tmp/setup.log 2>&1; tail -1 /tmp/setup.log
export BAAS_DATA_DIR=/tmp/peers/baas/data BAAS_REALTIME_SERVER=1
(setsid python -m uvicorn baas.asgi:application --port 8100 --workers 1 --no-access-log --log-level warning --lifespan off --ws-per-message-deflate false > /tmp/uv.log 2>&1 &)
sleep 3
cd $HERE/../shared/peers
for k in $(seq 1 ${N:-1}); do
.venv/bin/python realtime.py -a ${AD:-$HERE/bench/experiments/w5_direct_adapter.py} -b http://127.0.0.1:8000 -n ${SUBS:-100} -o /tmp/rt_x$k.json >/dev/null 2>&1
python3 -c "
import json;d=json.load(open('/tmp/rt_x$k.json'));print(d['delivered_pct'], d['latency_ms_p50'], d['latency_ms_p99'], d['write_latency_ms_p50'])"
done
