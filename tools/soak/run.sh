#!/usr/bin/env bash
# The fault soak (docs/misbehaving-milters.md): `spamfilter-milter soak` runs many SMTP sessions at a time
# against the libmilter test milter while this script kills it (SIGKILL, then a restart) and stops it
# (SIGSTOP, then SIGCONT) again and again. Every message must get a verdict (the milter's, or the
# failure outcome) within its bound, and RSS, the managed heap, threads and file descriptors must stay
# flat. Runs each combination of I/O mode and pool in turn. Needs gcc and libmilter-dev.
#
#   tools/soak/run.sh                               # 256 sessions, 600 s per combination (~40 minutes)
#   SECONDS_EACH=60 CONNECTIONS=64 tools/soak/run.sh
#   IO="async" POOL="0" tools/soak/run.sh           # one combination
#   RESULTS=/tmp/soak tools/soak/run.sh             # keep each run's JSON and log there
#   PORT=29110 tools/soak/run.sh                    # the milter's port (default 29110, below the ephemeral range)
#   KEEP=1 tools/soak/run.sh                        # keep the work folder (the milter's log, and the runs without RESULTS)
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/../usage.sh" "$@" # --help: the comment above

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${SECONDS_EACH:-600}
connections=${CONNECTIONS:-256}
ios=${IO:-async blocking}
pools=${POOL:-0 16}
# Below the ephemeral range (32768-60999 on Linux): a busy client's own connect could otherwise take the
# port while the milter is down, and connect to itself.
port=${PORT:-29110}
work=$(mktemp -d /tmp/sfm-soak.XXXXXX)
results=${RESULTS:-$work/results}
mkdir -p "$results"
milter_pid=
# The chaos loop restarts the milter in a subshell, so the running milter's pid is kept in a file.
stop_milter() {
    local pid
    pid=$(cat "$work/milter.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
        kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$work/milter.pid"
}
cleanup() {
    stop_milter
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

dotnet build -c Release -nologo -v quiet "$root/tools/SpamFilterMilter.Cli" >&2
cli=("dotnet" "$root/tools/SpamFilterMilter.Cli/bin/Release/net10.0/spamfilter-milter.dll")
cc -O2 -Wall -Werror -o "$work/sfm-testmilter" "$root/tests/milters/sfm-testmilter.c" -lmilter -lpthread

start_milter() {
    "$work/sfm-testmilter" -p "inet:$port@127.0.0.1" -a 'eom=addheader:X-Soak:yes' >"$work/milter.log" 2>&1 &
    milter_pid=$!
    echo "$milter_pid" >"$work/milter.pid"
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the milter did not start:" >&2; cat "$work/milter.log" >&2; exit 1
}

# Every 15 s one fault, in turn: stop the milter for 3 s (longer than TIMEOUT), or kill it and restart it 2 s later.
chaos() {
    local round=0
    while true; do
        sleep 15
        round=$((round + 1))
        if [ $((round % 2)) -eq 1 ]; then
            kill -STOP "$milter_pid" 2>/dev/null || true; sleep 3; kill -CONT "$milter_pid" 2>/dev/null || true
        else
            kill -KILL "$milter_pid" 2>/dev/null || true; wait "$milter_pid" 2>/dev/null || true
            sleep 2; start_milter
        fi
    done
}

status=0
for io in $ios; do
    for pool in $pools; do
        name="$io-pool$pool"
        start_milter
        chaos & chaos_pid=$!
        echo "== $name: $connections sessions for $seconds s" >&2
        if ! "${cli[@]}" soak --host 127.0.0.1 --port "$port" --option TIMEOUT=100 --option MESSAGE_TIMEOUT=300 \
                --option "IO_MODE=$io" --option "POOL_SIZE=$pool" -c "$connections" --duration "$seconds" --json \
                >"$results/$name.json" 2>"$results/$name.log"; then
            status=1
        fi
        kill "$chaos_pid" 2>/dev/null || true; wait "$chaos_pid" 2>/dev/null || true
        stop_milter
        milter_pid=
        python3 - "$results/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["samples"]
first, last = s[1] if len(s) > 2 else s[0], s[-1]
mx = lambda k: max(x[k] for x in s[1:-1] or s)
print(f'{r["ioMode"]:8} pool {r["poolSize"]:3}: {r["verdicts"] + r["failures"]:9} messages ({r["verdicts"]} milter verdicts, {r["failures"]} failure outcomes), '
      f'lost {r["lost"]}, late {r["late"]}; RSS {first["rssMiB"]:.0f} -> max {mx("rssMiB"):.0f} -> {last["rssMiB"]:.0f} MiB, '
      f'heap {first["heapMiB"]:.0f} -> max {mx("heapMiB"):.0f} -> {last["heapMiB"]:.0f} MiB, threads {first["threads"]} -> max {mx("threads")} -> {last["threads"]}, '
      f'fds {first["fileDescriptors"]} -> max {mx("fileDescriptors")} -> {last["fileDescriptors"]}')
PY
    done
done
exit $status
