#!/usr/bin/env bash
# Measures the figures of docs/performance.md: `spamfilter-milter bench` against three real milters
# on loopback -- continue-all and add-header (bench-milter.c, libmilter) and opendkim signing --
# at 1, 8, 32 and 128 connections, with async and blocking I/O; 1 KB body, 5 headers. Besides the
# client's own figures it reports each milter's CPU per transaction over the measured run (from /proc), which shows who is
# the bottleneck, and each client's context switches per transaction (getrusage: waits for a reply,
# and preemptions, mostly by the milter the client just woke), and runs protocol-client.c, a C client doing nothing but the protocol, the same
# way: the machine's floor at that moment. Every figure of the plug-in is also given as a ratio to
# that C client's in the same run, and the last column says which targets it misses (throughput at
# least 0.9 of the C client's, client CPU per transaction at most 1.3 times, no more waits of 40 ms
# or more, p99 at most 1.5 times). Each row is the median of REPEAT runs (3), the clients taking turns
# within each, so that one stall of a second, or a minute when the machine is slower, does not make
# the row (the slowest transaction is the slowest of all runs, failures the sum). Needs gcc, libmilter-dev, opendkim, opendkim-tools and microsocks
# (tests/system-packages.txt).
#
#   tools/bench/run.sh                    # the main table, 10,000 transactions each, 3 runs (~25 minutes)
#   N=2000 REPEAT=1 tools/bench/run.sh    # fewer transactions, one run of each
#   MILTERS=opendkim IO=async CONNECTIONS=8 tools/bench/run.sh   (IO: async, blocking, c = the C floor)
#   PATHS="fresh pool unix socks" MILTERS=continue-all tools/bench/run.sh   # the other ways to the milter
#                                         # (socks: SOCKS_N transactions, 1,000: each waits 44 ms in microsocks)
#   RESULTS=/tmp/results tools/bench/run.sh   # keep each run's JSON there
#   FROM="/tmp/r1 /tmp/r2" tools/bench/run.sh   # no runs: the table of runs kept there, each row the
#                                         # median of all of them (several runs.sh of one build, pooled;
#                                         # MILTERS and PATHS as those runs had them)
#   IO_THREADS=32 tools/bench/run.sh      # the plug-in's IO_THREADS for async I/O (default: its own default)
#   PIN=same MILTERS=continue-all CONNECTIONS=1 tools/bench/run.sh   # the milters and the clients bound to one CPU (the
#                                         # last); PIN=split: the clients to the first, the milters to the last. Not
#                                         # the main table's way (a host's scheduler places them as it likes), but where
#                                         # the scheduler put the client beside or away from the milter decides most of a
#                                         # free run's CPU per transaction (docs/performance.md, "Where the client runs"):
#                                         # bound, a change of a few microseconds per transaction shows
#   PERF=1 MILTERS=continue-all CONNECTIONS=32 tools/bench/run.sh   # each run under perf record too, and a
#                                         # second table: where each client's CPU went (tools/bench/cpu-split.py;
#                                         # needs perf, Debian's linux-perf; the recordings stay in RESULTS)
#   PERF=1 PERF_HZ=4999 ...               # perf record's samples per second (default 999)
#   PERF=1 PERF_FUNCTIONS='SpamFilterMilter\.Protocol\.' PERF_WARM=1 ... # and a third: those methods' self time,
#                                         # with two rows of the same code warm (no network: ProtocolWorkBenchmarks,
#                                         # 600,000 transactions; PERF_WARM=N: N of them)
#   CLIENT_DLL=/tmp/before/spamfilter-milter.dll tools/bench/run.sh   # measure another build of the client
#                                         # (say, before a change); this tree's is then not built
#   BASE_PORT=29010 tools/bench/run.sh    # the milters and microsocks listen on BASE_PORT+1 to +4 (default 29010)
#   KEEP=1 tools/bench/run.sh             # keep the work folder (the milters' logs, and the runs' JSON without RESULTS)
#   LD_LIBRARY_PATH=/path/to/other/libmilter tools/bench/run.sh   # the milters linked with another libmilter build
#   SCALE=1000 MILTERS=continue-all PATHS= tools/bench/run.sh   # SCALE sessions: held idle (memory per
#                                         # session), then as many connections running transactions
#
# PATHS: tcp (one connection per client connection for the whole run; the main table), fresh (a new
# SMTP session and so a new milter connection for every message; the C client reconnects the same
# way), pool (the same with POOL_SIZE equal to the connections: connections reused with
# SMFIC_QUIT_NC; compared with the C client reconnecting), unix (a UNIX-domain socket, both clients),
# socks (through microsocks, both clients).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/../usage.sh" "$@" # --help: the comment above

root=$(cd "$(dirname "$0")/../.." && pwd)
n=${N:-10000}
milters=${MILTERS:-continue-all add-header opendkim}
ios=${IO:-async blocking c}
connections=${CONNECTIONS:-1 8 32 128}
paths=${PATHS-tcp}
repeat=${REPEAT:-3} # runs of each client per row, interleaved; the table gives the median of each figure
socks_n=${SOCKS_N:-1000} # through microsocks every transaction waits 44 ms (docs/performance.md): fewer of them
# PIN (above): taskset prefixes for the milters and for both clients.
pin_milter=(); pin_client=()
case ${PIN:-} in
    "") ;;
    same|split)
        command -v taskset >/dev/null || { echo "PIN needs taskset (util-linux)" >&2; exit 2; }
        cpus=$(nproc)
        [ "$PIN" = same ] || [ "$cpus" -ge 2 ] || { echo "PIN=split needs two CPUs; this process may use $cpus" >&2; exit 2; }
        last=$(taskset -pc $$ | sed 's/.*: //; s/.*[,-]//') # the last CPU this shell may run on
        first=$(taskset -pc $$ | sed 's/.*: //; s/[,-].*//')
        pin_milter=(taskset -c "$last")
        if [ "$PIN" = same ]; then pin_client=(taskset -c "$last"); else pin_client=(taskset -c "$first"); fi
        # The client's CPUs as the kernel has them, written by the shell the client then replaces (the same process: the
        # clients count their CPU from their own start), beside the run's JSON ("clientCpus"; "milterCpus" from /proc).
        pin_client+=(sh -c 'sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/$$/status >"$0"; exec "$@"' client.cpus) ;;
    *) echo "PIN: same or split (got $PIN)" >&2; exit 2 ;;
esac
base=${BASE_PORT:-29010} # below the ephemeral range (32768 and up), where a client's port in TIME_WAIT could hold ours
work=$(mktemp -d /tmp/sfm-bench.XXXXXX)
results=${RESULTS:-$work/results}
mkdir -p "$results"
[ ${#pin_client[@]} -eq 0 ] || pin_client[-1]=$work/client.cpus # where the pinned client's shell writes its CPUs
pids=()
perf_hz=${PERF_HZ:-999}
if [ -n "${PERF:-}" ]; then
    command -v perf >/dev/null || { echo "PERF=1 needs perf (Debian: apt-get install linux-perf)" >&2; exit 2; }
    if [ -n "${PERF_WARM:-}" ] && [ -n "${CLIENT_DLL:-}" ]; then
        echo "PERF_WARM records this working tree's code: not with CLIENT_DLL, whose live rows would be another build's" >&2; exit 2
    fi
fi
# A recorded run, for the recorded process only: names for its compiled methods (.NET writes /tmp/perf-PID.map; 3: the
# map alone, no jitdump), with W^X off, or the code lives in a mapping perf cannot attribute.
recorded=(env DOTNET_PerfMapEnabled=3 DOTNET_EnableWriteXorExecute=0 perf record -q -k CLOCK_MONOTONIC -F "$perf_hz" -g)
keep_perf_map() { # OUT.json: the map of the process it names ("pid"), kept beside the recording (cpu-split.py puts it back)
    local pid
    pid=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("pid", ""))' "$1")
    if [ -n "$pid" ] && [ -f "/tmp/perf-$pid.map" ]; then mv "/tmp/perf-$pid.map" "${1%.json}.perf-$pid.map"; fi
}
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# The table of the runs kept in the folders given: each row the median of every run of it found there (tools/bench/table.py).
table() {
    /usr/bin/python3 "$root/tools/bench/table.py" "$milters" "$paths" "$@"
}
if [ -n "${FROM:-}" ]; then # no runs, only the table of runs kept earlier (their RESULTS folders), pooled
    table $FROM # table.py refuses a folder that is not there (exit 2)
    exit 0
fi

echo "building the client and the bench milter..." >&2
if [ -z "${CLIENT_DLL:-}" ]; then # CLIENT_DLL: another build of spamfilter-milter.dll (say, before a change)
    dotnet build -c Release -nologo -v quiet "$root/tools/SpamFilterMilter.Cli" >&2
fi
cli=("dotnet" "${CLIENT_DLL:-$root/tools/SpamFilterMilter.Cli/bin/Release/net10.0/spamfilter-milter.dll}")
cc -O2 -Wall -Werror -o "$work/bench-milter" "$root/tools/bench/bench-milter.c" -lmilter -lpthread
cc -O2 -Wall -Werror -o "$work/protocol-client" "$root/tools/bench/protocol-client.c" -lpthread

declare -A port pid
listening() { # port or UNIX socket path
    case $1 in
        /*) [ -S "$1" ] ;;
        *) (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null ;;
    esac
}
start() { # name port-or-path command...
    local name=$1 p=$2; shift 2
    if listening "$p"; then
        echo "$p is in use: stop what listens there or set BASE_PORT" >&2; exit 1
    fi
    # Each milter in a session of its own, as a daemon is: with the kernel's autogroups (sched_autogroup_enabled) a
    # session is a scheduling group, and a milter in the clients' session would share the CPU with them thread by
    # thread, so the client with more threads would take more of it (docs/performance.md, the I/O threads at 128).
    setsid "${pin_milter[@]}" "$@" >"$work/$name.log" 2>&1 &
    pids+=($!); pid[$name]=$!; port[$name]=$p
    for _ in $(seq 100); do
        kill -0 "${pid[$name]}" 2>/dev/null || break
        listening "$p" && return 0
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
for path in $paths; do
    case $path in
        tcp|fresh|pool) ;;
        unix)
            for milter in $milters; do
                case $milter in
                    continue-all|add-header) start "$milter-unix" "$work/$milter.sock" "$work/bench-milter" "unix:$work/$milter.sock" "$milter" ;;
                    *) echo "PATHS=unix: only the libmilter bench milters (continue-all, add-header)" >&2; exit 2 ;;
                esac
            done ;;
        socks) start socks $((base + 4)) microsocks -i 127.0.0.1 -p $((base + 4)) ;;
        *) echo "unknown path $path (tcp, fresh, pool, unix, socks)" >&2; exit 2 ;;
    esac
done

ticks() { # user + system clock ticks of a process so far
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# The milter's clock ticks every 20 ms with the time (CLOCK_MONOTONIC, the clock the clients' measuredFrom is on) into
# $2, from now until killed: its CPU is then counted over the client's measured run alone, not over bench's warm-up too.
sample_ticks() { # pid file
    /usr/bin/python3 -c '
import sys, time
pid, out = sys.argv[1], open(sys.argv[2], "w")
while True:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        break
    out.write(f"{time.clock_gettime(time.CLOCK_MONOTONIC)} {int(fields[11]) + int(fields[12])}\n")
    out.flush()
    time.sleep(0.02)' "$1" "$2" &
    sampler=$!
}

for path in $paths; do
    for milter in $milters; do
        served_by=$milter; [ "$path" = unix ] && served_by=$milter-unix
        target=(--host 127.0.0.1 --port "${port[$milter]}"); c_target=${port[$milter]}; c_extra=(); c_env=(); path_n=$n
        case $path in
            fresh|pool) c_extra=(1) ;;&
            fresh) target+=(--session-messages 1) ;;
            unix) target=(--host "unix:${port[$served_by]}"); c_target=${port[$served_by]} ;;
            socks) target+=(--option SOCKS_HOST=127.0.0.1 --option "SOCKS_PORT=${port[socks]}"); c_env=("PROTOCOL_CLIENT_SOCKS=${port[socks]}")
                path_n=$((n < socks_n ? n : socks_n)) ;;
        esac
        # Interleaved: each repetition runs every client at one connection count in turn, so that the C client is
        # measured in the same minute as the runs compared with it (this machine's pace drifts within minutes).
        for c in $connections; do
            for rep in $(seq 1 "$repeat"); do
                for io in $ios; do
                    extra=()
                    [ "$path" = pool ] && extra=(--session-messages 1 --option "POOL_SIZE=$c")
                    [ -n "${IO_THREADS:-}" ] && [ "$io" = async ] && extra+=(--option "IO_THREADS=$IO_THREADS")
                    before=$(ticks "${pid[$served_by]}")
                    out="$results/$milter-$path-$io-$c-$rep.json"
                    sample_ticks "${pid[$served_by]}" "$work/milter.ticks"
                    profile=()
                    [ -n "${PERF:-}" ] && profile=("${recorded[@]}" -o "${out%.json}.perf.data" --)
                    if [ "$io" = c ]; then
                        env "${c_env[@]}" "${pin_client[@]}" "${profile[@]}" "$work/protocol-client" "$c_target" "$c" "$path_n" "${c_extra[@]}" >"$out"
                    else
                        # Exit status 1: some transactions failed (a session starved past TIMEOUT): the row says how many.
                        "${pin_client[@]}" "${profile[@]}" "${cli[@]}" bench "${target[@]}" "${extra[@]}" -n "$path_n" -c "$c" \
                            --option "IO_MODE=$io" --option TIMEOUT=1000 --json --no-progress >"$out" || [ $? -eq 1 ]
                    fi
                    [ -n "${PERF:-}" ] && keep_perf_map "$out"
                    after=$(ticks "${pid[$served_by]}")
                    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
                    /usr/bin/python3 - "$out" "$milter" "$((after - before))" "$(getconf CLK_TCK)" "${pid[$served_by]}" "$work/client.cpus" "$work/milter.ticks" <<'PY'
import bisect, json, os, re, sys
path, milter, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
r["milterName"] = milter
if os.path.exists(sys.argv[6]):  # PIN: where each ran, as the kernel had it
    r["clientCpus"] = open(sys.argv[6]).read().strip()
    os.remove(sys.argv[6])
    r["milterCpus"] = re.search(r"^Cpus_allowed_list:\s*(\S+)", open(f"/proc/{sys.argv[5]}/status").read(), re.M).group(1)
# The milter's CPU over the client's measured run (measuredFrom, seconds), its ticks read between the samples around
# each end. Counted from the client's start to its end instead, a bench row's would average in bench's warm-up, when the
# milter works more per transaction behind a client still compiling: on one vCPU its figure then came to more than the
# time a transaction took, less the client's CPU. Without samples on both sides of the run (one over before the sampler's
# first read, as a run of a few dozen transactions may be), the old way: the whole run over every transaction the milter
# served, the warm-up's too.
samples = [tuple(map(float, line.split())) for line in open(sys.argv[7]) if len(line.split()) == 2] if os.path.exists(sys.argv[7]) else []
def ticks_at(t):
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i == 0 or i == len(samples):
        return None
    (t0, k0), (t1, k1) = samples[i - 1], samples[i]
    return k0 + (k1 - k0) * (t - t0) / (t1 - t0)
start = r.get("measuredFrom")
begun, ended = (ticks_at(start), ticks_at(start + r["seconds"])) if start is not None else (None, None)
if begun is not None and ended is not None:
    r["milterCpuMicrosecondsPerTransaction"] = round((ended - begun) * 1e6 / hz / max(1, r["transactions"]), 1)
else:
    served = r["transactions"] + r.get("warmupTransactions", 0)
    r["milterCpuMicrosecondsPerTransaction"] = round(ticks * 1e6 / hz / max(1, served), 1)
json.dump(r, open(path, "w"), indent=2)
PY
                done
            done
        done
    done
done

[ -n "$paths" ] && table "$results"
if [ -n "$paths" ] && [ -n "${PERF:-}" ]; then
    if [ -n "${PERF_WARM:-}" ]; then # the session's code with no network, warm caches, recorded the same way
        warm_n=600000; [ "$PERF_WARM" -gt 1 ] 2>/dev/null && warm_n=$PERF_WARM
        dotnet build -c Release -nologo -v quiet "$root/tests/SpamFilterMilter.Benchmarks" >&2
        for io in async blocking; do
            out="$results/warm-inmemory-$io-1-1.json"
            "${recorded[@]}" -o "${out%.json}.perf.data" -- \
                dotnet "$root/tests/SpamFilterMilter.Benchmarks/bin/Release/net10.0/SpamFilterMilter.Benchmarks.dll" hot "$warm_n" "$io" json >"$out"
            keep_perf_map "$out"
        done
    fi
    /usr/bin/python3 "$root/tools/bench/cpu-split.py" "$results" "$perf_hz" ${PERF_FUNCTIONS:+--functions "$PERF_FUNCTIONS"}
fi

if [ -n "${SCALE:-}" ]; then
    milter=${milters%% *}
    echo
    echo "| $milter, $SCALE sessions | I/O | transactions/s | p99 ms | max ms | 40 ms waits | client CPU µs/tx | failures | managed B per idle session | RSS B per idle session | threads |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for io in $ios; do
        if [ "$io" = c ]; then
            "$work/protocol-client" "${port[$milter]}" "$SCALE" "$((SCALE * 20))" >"$results/scale-c.json"
        else
            "${cli[@]}" bench --host 127.0.0.1 --port "${port[$milter]}" --idle "$SCALE" --option "IO_MODE=$io" --json >"$results/idle-$io.json"
            "${cli[@]}" bench --host 127.0.0.1 --port "${port[$milter]}" -n "$((SCALE * 20))" -c "$SCALE" --warmup 2 \
                --option "IO_MODE=$io" --option TIMEOUT=5000 --json --no-progress >"$results/scale-$io.json" || true
        fi
        /usr/bin/python3 - "$results" "$io" <<'PY'
import json, os, sys
folder, io = sys.argv[1], sys.argv[2]
r = json.load(open(os.path.join(folder, f"scale-{io}.json")))
idle = json.load(open(os.path.join(folder, f"idle-{io}.json"))) if io != "c" else {}
l = r.get("latencyMs", {})
client = {"async": "plug-in, async", "blocking": "plug-in, blocking", "c": "C protocol client"}[io]
print(f'| {r["transactions"]:,} transactions | {client} | {r["transactionsPerSecond"]:,.0f} | {l.get("p99", 0):.3f} | {l.get("max", r.get("maxMs", 0)):.1f} '
      f'| {r["stallsOver40ms"]} | {r["cpuMicrosecondsPerTransaction"]:.0f} | {r.get("failures", 0) + idle.get("failures", 0)} '
      f'| {idle.get("managedBytesPerSession", "-")} | {idle.get("residentBytesPerSession", "-")} | {idle.get("threads", "-")} |')
PY
    done
fi
