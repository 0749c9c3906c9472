# Sourced first thing by the scripts under tools/ that read only environment variables (bench/run.sh, bench/pool.sh,
# soak/run.sh): --help prints the comment at the top of the script, its usage; any argument is refused before
# anything is built or started (run.sh would otherwise set off half an hour of runs).
#
#   . "$(dirname "$(readlink -f "$0")")/../usage.sh" "$@"
case "${1:-}" in
    "") ;;
    -h | --help)
        sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "$(basename "$0"): takes no arguments, only environment variables ($0 --help lists them)" >&2
        exit 2
        ;;
esac
