#!/usr/bin/env bash
# Measures the figures of docs/performance.md: `spamfilter-milter bench` against three real milters
# on loopback -- continue-all and add-header (bench-milter.c, libmilter) and opendkim signing --
# at 1 and 8 connections, with async and blocking I/O; 1 KB body, 5 headers. Besides the client's
# own figures it reports each milter's CPU per transaction (from /proc), which shows who is the
# bottleneck, and runs protocol-client.c, a C client doing nothing but the protocol, the same way:
# the machine's floor at that moment, to compare with. Needs gcc, libmilter-dev, opendkim and
# opendkim-tools (tests/system-packages.txt).
#
#   tools/bench/run.sh                    # every combination, 10,000 transactions each (~3 minutes)
#   N=2000 tools/bench/run.sh             # fewer transactions
#   MILTERS=opendkim IO=async CONNECTIONS=8 tools/bench/run.sh   (IO: async, blocking, c = the C floor)
#   RESULTS=/tmp/results tools/bench/run.sh   # keep each run's JSON there
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
n=${N:-10000}
milters=${MILTERS:-continue-all add-header opendkim}
ios=${IO:-async blocking c}
connections=${CONNECTIONS:-1 8}
base=${BASE_PORT:-39010}
work=$(mktemp -d /tmp/sfm-bench.XXXXXX)
results=${RESULTS:-$work/results}
mkdir -p "$results"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

echo "building the client and the bench milter..." >&2
dotnet build -c Release -nologo -v quiet "$root/tools/SpamFilterMilter.Cli" >&2
cli=("dotnet" "$root/tools/SpamFilterMilter.Cli/bin/Release/net10.0/spamfilter-milter.dll")
cc -O2 -Wall -Werror -o "$work/bench-milter" "$root/tools/bench/bench-milter.c" -lmilter -lpthread
cc -O2 -Wall -Werror -o "$work/protocol-client" "$root/tools/bench/protocol-client.c" -lpthread

declare -A port pid
start() { # name port command...
    local name=$1 p=$2; shift 2
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p is in use: stop what listens there or set BASE_PORT" >&2; exit 1
    fi
    "$@" >"$work/$name.log" 2>&1 &
    pids+=($!); pid[$name]=$!; port[$name]=$p
    for _ in $(seq 100); do
        kill -0 "${pid[$name]}" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$name did not start listening on $p:" >&2; cat "$work/$name.log" >&2; exit 1
}
for milter in $milters; do
    case $milter in
        continue-all) start continue-all $((base + 1)) "$work/bench-milter" "inet:$((base + 1))@127.0.0.1" continue-all ;;
        add-header)   start add-header $((base + 2)) "$work/bench-milter" "inet:$((base + 2))@127.0.0.1" add-header ;;
        opendkim)     start opendkim $((base + 3)) "$root/tests/milters/opendkim/start-opendkim.sh" "$work/opendkim" $((base + 3)) ;;
        *) echo "unknown milter $milter (continue-all, add-header, opendkim)" >&2; exit 2 ;;
    esac
done

ticks() { # user + system clock ticks of a process so far
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

for milter in $milters; do
    for io in $ios; do
        for c in $connections; do
            before=$(ticks "${pid[$milter]}")
            out="$results/$milter-$io-$c.json"
            if [ "$io" = c ]; then
                "$work/protocol-client" "${port[$milter]}" "$c" "$n" >"$out"
            else
                "${cli[@]}" bench --host 127.0.0.1 --port "${port[$milter]}" -n "$n" -c "$c" \
                    --option "IO_MODE=$io" --option TIMEOUT=1000 --json --no-progress >"$out"
            fi
            after=$(ticks "${pid[$milter]}")
            /usr/bin/python3 - "$out" "$milter" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, milter, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
r["milterName"] = milter
# The milter also served bench's warm-up transactions (not in "transactions"): count them here.
served = r["transactions"] + r.get("warmupTransactions", 0)
r["milterCpuMicrosecondsPerTransaction"] = round(ticks * 1e6 / hz / max(1, served), 1)
json.dump(r, open(path, "w"), indent=2)
PY
        done
    done
done

/usr/bin/python3 - "$results" $milters <<'PY'
import json, os, sys
folder, milters = sys.argv[1], sys.argv[2:]
order = {"async": 0, "blocking": 1, "c": 2}
def key(name):
    milter, io, connections = name[:-5].rsplit("-", 2)
    return milters.index(milter), int(connections), order[io]
print("| milter | client | connections | transactions/s | p50 ms | p99 ms | max ms | 40 ms stalls | client CPU µs/tx | milter CPU µs/tx | allocated B/tx | edited | failures |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in sorted(os.listdir(folder), key=key):
    milter, io, connections = name[:-5].rsplit("-", 2)
    r = json.load(open(os.path.join(folder, name)))
    l = r.get("latencyMs", {})
    def f(value, fmt):
        return "-" if value is None else format(value, fmt)
    client = {"async": "plug-in, async", "blocking": "plug-in, blocking", "c": "C protocol client"}[io]
    print(f'| {milter} | {client} | {connections} | {r["transactionsPerSecond"]:,.0f} | {f(l.get("p50"), ".3f")} | {f(l.get("p99"), ".3f")} '
          f'| {f(l.get("max", r.get("maxMs")), ".1f")} | {r["stallsOver40ms"]} | {r["cpuMicrosecondsPerTransaction"]:.0f} '
          f'| {r["milterCpuMicrosecondsPerTransaction"]:.0f} | {f(r.get("allocatedBytesPerTransaction"), ",.0f")} '
          f'| {f(r.get("edited"), "d")} | {f(r.get("failures"), "d")} |')
PY
