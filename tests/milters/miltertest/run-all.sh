#!/bin/sh
# Build sfm-testmilter and run the miltertest smoke tests in this directory.
#
#   tests/milters/miltertest/run-all.sh [TEST...]      (default: all *.lua)
#
# Environment: BASE_PORT (default 34100) - each test gets BASE_PORT+n (when
#              that port is taken meanwhile, a free one, up to three times).
#              KEEP=1 keeps the scratch directory (transcripts, keys).
# Needs: cc, libmilter-dev, miltertest, python3-milter, opendkim,
#        opendkim-tools, python3-dkim.  Exit status is non-zero if any test
#        failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/sfm-miltertest.XXXXXX)
port=${BASE_PORT:-34100}

cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "scratch directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

cc -O2 -Wall -Werror -o "$work/sfm-testmilter" "$top/sfm-testmilter.c" \
    -lmilter -lpthread || { echo "FAIL: build"; exit 1; }

if [ $# -eq 0 ]; then
    set -- $(cd "$here" && ls *.lua | grep -v '^lib\.lua$' | sed 's/\.lua$//')
fi

# A port nothing listens on now (the kernel's choice).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

failed=0
for t in "$@"; do
    t=${t%.lua}
    port=$((port + 1))
    try_port=$port
    for attempt in 1 2 3; do
        rm -rf "$work/$t"
        mkdir -p "$work/$t"
        if miltertest -s "$here/$t.lua" \
            -D HERE="$here" \
            -D MILTER="$work/sfm-testmilter" \
            -D PYMILTER="$top/sfm_testmilter.py" \
            -D DKIMDIR="$top/opendkim" \
            -D PORT="$try_port" \
            -D LOG="$work/$t/transcript.log" \
            -D WORK="$work/$t" \
            > "$work/$t/miltertest.out" 2>&1
        then
            result=PASS
            break
        fi
        result=FAIL
        # Another process took the port between choosing it and the milter binding it: not this test's fault.
        grep -q "port in use\|Address already in use" "$work/$t/miltertest.out" || break
        try_port=$(free_port)
    done
    echo "$result: $t"
    if [ "$result" = FAIL ]; then
        sed 's/^/    /' "$work/$t/miltertest.out"
        failed=1
    fi
done
exit $failed
