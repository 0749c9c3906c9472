#!/usr/bin/env python3
"""run.sh's table: each row the median of every run of it in the folders given (run.sh's own RESULTS, or with FROM
several earlier ones, pooled), every figure of the plug-in also as a ratio to the C client's in the same
configuration, and the targets of issue 13 it misses.

  tools/bench/table.py "MILTERS" "PATHS" FOLDER...
"""
import json
import sys
from statistics import median

from runs import CLIENTS, client_order, find, folders, usage

arguments = usage(__doc__, sys.argv[1:], 3)
milters, paths, results = arguments[0].split(), arguments[1].split(), folders(arguments[2:])
runs = {key: [json.load(open(name)) for name in names]
        for key, names in find(results, ".json").items() if key[0] in milters and key[1] in paths}
if not runs:
    sys.exit(f"no runs of MILTERS={' '.join(milters)} PATHS={' '.join(paths)} in {' '.join(results)} (set them to what those runs measured)")


def combined(results):
    """The median of each figure over the repetitions (the slowest transaction: the slowest of all; failures: all)."""
    def m(get):
        values = [v for v in map(get, results) if v is not None]
        return median(values) if values else None
    return {
        "transactionsPerSecond": m(lambda r: r["transactionsPerSecond"]),
        "cpuMicrosecondsPerTransaction": m(lambda r: r["cpuMicrosecondsPerTransaction"]),
        "stallsOver40ms": m(lambda r: r["stallsOver40ms"]),
        "latencyMs": {"p50": m(lambda r: r.get("latencyMs", {}).get("p50")), "p99": m(lambda r: r.get("latencyMs", {}).get("p99")),
                      "max": max(r.get("latencyMs", {}).get("max", r.get("maxMs", 0)) for r in results)},
        "milterCpuMicrosecondsPerTransaction": m(lambda r: r["milterCpuMicrosecondsPerTransaction"]),
        "allocatedBytesPerTransaction": m(lambda r: r.get("allocatedBytesPerTransaction")),
        "edited": m(lambda r: r.get("edited")),
        "switches": [m(lambda r: r.get("contextSwitchesPerTransaction", {}).get(kind)) for kind in ("voluntary", "involuntary")],
        "failures": None if all(r.get("failures") is None for r in results) else sum(r.get("failures", 0) for r in results),
        # The fewest and the most transactions one connection ran in any of the runs: a starved session shows here.
        "fewest": min(r.get("transactionsPerConnection", {}).get("min", 0) for r in results),
        "most": max(r.get("transactionsPerConnection", {}).get("max", 0) for r in results),
    }
rows = {key: combined(results) for key, results in runs.items()}
def f(value, fmt):
    return "-" if value is None else format(value, fmt)
def switches(pair):
    return "-" if None in pair else f"{pair[0]:.1f} + {pair[1]:.1f}"
def ratio(ours, floor):
    return "-" if ours is None or not floor else f"{ours / floor:.2f}"
print("| milter | path | connections | client | transactions/s | ×C | p50 ms | p99 ms | ×C | max ms | 40 ms waits | C's | client CPU µs/tx | ×C | client switches/tx (waited + preempted) | milter CPU µs/tx | allocated B/tx | edited | failures | targets missed | per connection |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for key in sorted(rows, key=lambda k: (paths.index(k[1]), milters.index(k[0]), k[2], client_order(k[3]))):
    milter, path, connections, io = key
    r, c = rows[key], rows.get((milter, path, connections, "c"))
    l, cl = r.get("latencyMs", {}), (c or {}).get("latencyMs", {})
    tps, cpu, waits, p99 = r["transactionsPerSecond"], r["cpuMicrosecondsPerTransaction"], r["stallsOver40ms"], l.get("p99")
    missed = "-"
    if io != "c" and c is not None:
        misses = [name for name, bad in [
            ("throughput", tps < 0.9 * c["transactionsPerSecond"]),
            ("CPU", cpu > 1.3 * c["cpuMicrosecondsPerTransaction"]),
            ("waits", waits > c["stallsOver40ms"]),
            ("p99", p99 is not None and cl.get("p99") and p99 > 1.5 * cl["p99"]),
            ("failures", r.get("failures", 0) > 0)] if bad]
        missed = ", ".join(misses) or "none"
    client = CLIENTS[io]
    print(f'| {milter} | {path} | {connections} | {client} | {tps:,.0f} | {"" if io == "c" else ratio(tps, (c or {}).get("transactionsPerSecond"))} '
          f'| {f(l.get("p50"), ".3f")} | {f(p99, ".3f")} | {"" if io == "c" else ratio(p99, cl.get("p99"))} | {f(l.get("max", r.get("maxMs")), ".1f")} '
          f'| {waits:g} | {"" if io == "c" or c is None else format(c["stallsOver40ms"], "g")} | {cpu:.0f} | {"" if io == "c" else ratio(cpu, (c or {}).get("cpuMicrosecondsPerTransaction"))} '
          f'| {switches(r["switches"])} | {r["milterCpuMicrosecondsPerTransaction"]:.0f} | {f(r.get("allocatedBytesPerTransaction"), ",.0f")} | {f(r.get("edited"), "g")} | {f(r.get("failures"), "d")} | {missed} | {r["fewest"]:,}–{r["most"]:,} |')
