#!/bin/sh
# Build sfm-testmilter and run the miltertest smoke tests in this directory.
#
#   tests/milters/miltertest/run-all.sh [TEST...]      (default: all *.lua)
#
# Environment: BASE_PORT (default 34100) - each test gets BASE_PORT+n.
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

failed=0
for t in "$@"; do
    t=${t%.lua}
    port=$((port + 1))
    mkdir -p "$work/$t"
    if miltertest -s "$here/$t.lua" \
        -D HERE="$here" \
        -D MILTER="$work/sfm-testmilter" \
        -D PYMILTER="$top/sfm_testmilter.py" \
        -D DKIMDIR="$top/opendkim" \
        -D PORT="$port" \
        -D LOG="$work/$t/transcript.log" \
        -D WORK="$work/$t" \
        > "$work/$t/miltertest.out" 2>&1
    then
        echo "PASS: $t"
    else
        echo "FAIL: $t"
        sed 's/^/    /' "$work/$t/miltertest.out"
        failed=1
    fi
done
exit $failed
