#!/usr/bin/env bash
# Measures the figures of docs/operations.md, "Several milter servers for one slot": per-message latency
# with one milter server wedged, before (HOST naming the wedged milter, which is what a slot with a
# wedged milter does without a list: every message waits for the timeout) and after (HOST naming three
# servers: the wedged one, a port where nothing listens, a healthy one), with the healthy milter alone
# for reference. The wedged milter is bench-milter.c (libmilter) stopped with SIGSTOP: its kernel still
# accepts connections, nothing answers. `spamfilter-milter bench --session-messages 1`: each message
# its own SMTP session, C at a time, no warm-up (the breaker's first failures are part of the figure).
# Needs gcc and libmilter-dev (tests/system-packages.txt).
#
#   tools/bench/pool.sh                       # 200 messages at concurrency 8, TIMEOUT=100 (1 s), both I/O modes
#   N=50 C=8 TIMEOUT=50 IO=async tools/bench/pool.sh
#   BASE_PORT=39020 tools/bench/pool.sh       # ports BASE_PORT+1 to +3 (default 39020): healthy, wedged, nothing listening
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/../usage.sh" "$@" # --help: the comment above

root=$(cd "$(dirname "$0")/../.." && pwd)
n=${N:-200}
c=${C:-8}
timeout=${TIMEOUT:-100}
ios=${IO:-async blocking}
base=${BASE_PORT:-39020}
work=$(mktemp -d /tmp/sfm-pool.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "building the client and the bench milter..." >&2
dotnet build -c Release -nologo -v quiet "$root/tools/SpamFilterMilter.Cli" >&2
cli=("dotnet" "$root/tools/SpamFilterMilter.Cli/bin/Release/net10.0/spamfilter-milter.dll")
cc -O2 -Wall -Werror -o "$work/bench-milter" "$root/tools/bench/bench-milter.c" -lmilter -lpthread

healthy=$((base + 1)) wedged=$((base + 2)) refusing=$((base + 3))
for p in $healthy $wedged $refusing; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p is in use: stop what listens there or set BASE_PORT" >&2; exit 1
    fi
done
start() { # port
    "$work/bench-milter" "inet:$1@127.0.0.1" add-header >"$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the milter did not start listening on $1" >&2; exit 1
}
start $healthy
start $wedged
kill -STOP "${pids[1]}" # wedged from now on

run() { # name io host port
    local name=$1 io=$2 host=$3 port=$4
    "${cli[@]}" bench --host "$host" --port "$port" -n "$n" -c "$c" --session-messages 1 --warmup 0 --warmup-time 0 \
        --option "IO_MODE=$io" --option "TIMEOUT=$timeout" --json --no-progress >"$work/$name-$io.json" || true
}
for io in $ios; do
    run healthy-alone "$io" 127.0.0.1 "$healthy"
    run before "$io" 127.0.0.1 "$wedged" # one server: exactly what the plug-in did before HOST could name several
    run after "$io" "127.0.0.1,127.0.0.1:$refusing,127.0.0.1:$healthy" "$wedged" # PORT for the first
done

/usr/bin/python3 - "$work" "$n" "$c" "$timeout" $ios <<'PY'
import json, os, sys
folder, n, c, timeout, ios = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
what = {
    "healthy-alone": "the healthy milter alone (reference)",
    "before": "before: HOST = the wedged milter",
    "after": "after: HOST = wedged, refusing, healthy",
}
print(f"{n} messages, each its own SMTP session, {c} at a time, TIMEOUT={timeout} ({timeout / 100:g} s)\n")
print("| HOST | I/O | p50 ms | p90 ms | p99 ms | max ms | messages ≥ 40 ms | total s | milter's verdict | failure verdict |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for io in ios:
    for name in what:
        r = json.load(open(os.path.join(folder, f"{name}-{io}.json")))
        l = r["latencyMs"]
        print(f'| {what[name]} | {io} | {l["p50"]:.2f} | {l["p90"]:.2f} | {l["p99"]:.2f} | {l["max"]:.1f} | {r["stallsOver40ms"]} | {r["seconds"]:.2f} '
              f'| {r["transactions"] - r["failures"]} | {r["failures"]} |')
PY
