#!/usr/bin/env bash
# Runs the tests of the solution and ends with one line: "N passed, N failed".
#
#   bash tests/run-tests.sh          every test, as CI runs them; also makes the NuGet packages
#                                    (artifacts/packages/, docs/packages.md)
#   bash tests/run-tests.sh --unit   the unit lane: only tests outside the Integration category (no
#                                    process, no real server, no wait on a real timeout); no system
#                                    packages needed, and no formatting check (the build still is)
#
# The integration tests start real milters (a libmilter milter they compile, a pymilter milter,
# opendkim) and servers (slapd, dante, microsocks) on loopback, so the Debian packages in
# tests/system-packages.txt must be installed. Missing ones are installed with apt-get when this runs
# as root; otherwise the script says which.
set -uo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" # for --help, whatever folder it was started from
cd "$(dirname "$0")/.."

lane=all
case "${1:-}" in
    "") ;;
    --unit) lane=unit ;;
    -h|--help)
        sed -n '2,/^set -uo pipefail/p' "$script" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: bash tests/run-tests.sh [--unit] (--help says more)" >&2
        exit 2
        ;;
esac

missing=()
if [ "$lane" = all ]; then
    mapfile -t packages < <(grep -v '^\s*#' tests/system-packages.txt | grep -v '^\s*$')
    for package in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "Installing missing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Postfix serves a private test instance only (tests/postfix): no system configuration, nothing on port 25.
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null || {
            echo "apt-get could not install: ${missing[*]}" >&2
            echo "0 passed, 1 failed"
            exit 1
        }
    else
        echo "Missing system packages (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

results=TestResults
rm -rf "$results"
echo "Building (warnings are errors)..."
if ! dotnet build SpamFilterMilter.sln -c Release -warnaserror -nologo -v:q; then
    echo "The build failed." >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# The packages (docs/packages.md), made as a release makes them, into artifacts/packages/: a package that cannot be
# made is a failure, as a failing test is. (A few seconds from the build above; the unit lane leaves it out.)
pack_failed=0
if [ "$lane" = all ]; then
    rm -rf artifacts/packages
    if dotnet pack SpamFilterMilter.sln -c Release --no-build -nologo -v:q; then
        export SFM_PACKAGES="$PWD/artifacts/packages" # the package tests take them instead of packing again
    else
        echo "dotnet pack: the packages could not be made" >&2
        pack_failed=1
    fi
fi

# The style .editorconfig states: a file the formatter would change is a failure, as a failing test is.
# (It takes most of a minute, so the unit lane leaves it to the full run.)
format_failed=0
if [ "$lane" = all ] && ! dotnet format SpamFilterMilter.sln --verify-no-changes --no-restore -v:q; then
    echo "dotnet format: some files are not formatted as .editorconfig says (run: dotnet format SpamFilterMilter.sln)" >&2
    format_failed=1
fi

# The full lane runs the test projects one after the other (-m:1): the tools' tests (dotnet pack, the
# bench) would otherwise take the CPU from the fault table and the fuzzer, whose milters must answer
# within 0.2 s. The unit lane has no such wait and runs them side by side.
lane_args=(-m:1)
if [ "$lane" = unit ]; then
    lane_args=(--filter "TestCategory!=Integration")
fi
dotnet test SpamFilterMilter.sln -c Release --no-build -nologo "${lane_args[@]}" \
    --logger "trx;LogFilePrefix=results" \
    --results-directory "$results"
status=$?

# Count from the TRX files (one per test assembly): dotnet's own summary is per assembly.
passed=0
failed=0
skipped=0
shopt -s nullglob
for trx in "$results"/*.trx; do
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
    p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
    f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
    e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
    t=$(sed -n 's/.* timeout="\([0-9]*\)".*/\1/p' <<<"$counters")
    a=$(sed -n 's/.* aborted="\([0-9]*\)".*/\1/p' <<<"$counters")
    n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
    i=$(sed -n 's/.* inconclusive="\([0-9]*\)".*/\1/p' <<<"$counters")
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
    skipped=$((skipped + ${n:-0} + ${i:-0}))
done
failed=$((failed + format_failed + pack_failed))
if [ "$skipped" -gt 0 ]; then
    # Every test is meant to run here: a skipped test proves nothing, so it counts as a failure.
    echo "$skipped test(s) did not run (ignored or inconclusive): counted as failed" >&2
    failed=$((failed + skipped))
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # the run itself failed (crash, no results): never report a clean pass
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
