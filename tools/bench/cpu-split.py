#!/usr/bin/env python3
"""Where each client's CPU went, per transaction: the table run.sh PERF=1 prints after its own.

run.sh PERF=1 records every client run with `perf record -k CLOCK_MONOTONIC -F FREQUENCY -g` beside the
run's JSON (RESULTS/<milter>-<path>-<io>-<connections>-<run>.json and .perf.data). Both clients report
when their measured run began on that clock (measuredFrom) and how long it lasted (seconds), so only
the samples of the measured transactions count: bench's warm-up and start are left out. Each sample is
1/FREQUENCY s of CPU; the kernel's are grouped by the system call they ran under (the callee of
do_syscall_64), the others by where the code is: our managed code (the plug-in's and bench's), the .NET
libraries, the runtime (libcoreclr, the JIT, libSystem.Native, stubs), the C library, the C client's own.
Each row is the median of its runs, as in run.sh's table. docs/performance.md reads it.

  tools/bench/cpu-split.py RESULTS_FOLDER [FREQUENCY] [--functions REGEX]

With --functions, a third table: the self time per transaction of each compiled method whose name matches
REGEX, row by row (say 'SpamFilterMilter\.Protocol\.', the session's own code). A recording of
`SpamFilterMilter.Benchmarks hot N async json` (the same code with no network, warm) saved in the folder as
warm-inmemory-async-1-1.json and .perf.data comes out as a row of its own beside the live ones.
"""
import collections
import json
import os
import re
import statistics
import subprocess
import sys

CLIENTS = {"c": "C protocol client", "async": "plug-in, async", "blocking": "plug-in, blocking"}
USER_GROUPS = ["our managed code", ".NET libraries", "runtime", "C library", "C client"]


def system_call(symbols):
    """The system call a kernel sample ran under, or "other" (interrupts, faults, the scheduler on return)."""
    if "do_syscall_64" not in symbols:
        return "other"
    at = symbols.index("do_syscall_64")
    if at == 0:
        return "other"
    name = symbols[at - 1]
    if name == "x64_sys_call" and at >= 2:
        name = symbols[at - 2]
    return re.sub(r"^(__x64_sys_|__do_sys_|__sys_|ksys_|__se_sys_)", "", name)


def user_group(symbol, dso):
    """Where a user-mode sample's code is."""
    if dso.startswith("[JIT]") or re.search(r"perf-\d+\.map", dso) or dso in ("[unknown]", ""):
        # A compiled method: the assembly of its declaring type, the [Assembly] right before "Type::Method".
        declaring = re.search(r"\[([A-Za-z][\w.\-]*)\]\s*[^\s\[]+(?:\[[^\]]*\])?::", symbol)
        if declaring is None or re.search(r"\bstub\b|IL_STUB", symbol):
            return "runtime"
        return "our managed code" if declaring.group(1).lower().startswith("spamfilter") else ".NET libraries"
    if dso.endswith(".dll"):
        return ".NET libraries"  # the framework's precompiled (ReadyToRun) code
    if re.search(r"libcoreclr|libclrjit|libSystem\.|libhostfxr|libhostpolicy", dso):
        return "runtime"
    if re.search(r"libc\.so|libpthread|ld-linux|\[vdso\]|libm\.so", dso):
        return "C library"
    if "protocol-client" in dso:
        return "C client"
    return "runtime"


def script(data, window):
    """perf script's samples of the window, with the run's symbol map (kept beside the recording) put back for it."""
    base = data[: -len(".perf.data")]
    folder, prefix = os.path.split(base)
    placed = []
    for name in os.listdir(folder or "."):
        if name.startswith(os.path.basename(prefix) + ".perf-") and name.endswith(".map"):
            target = "/tmp/" + name[len(os.path.basename(prefix)) + 1:]
            if not os.path.exists(target):
                os.symlink(os.path.abspath(os.path.join(folder, name)), target)
                placed.append(target)
    try:
        return subprocess.run(["perf", "script", "-i", data, "--time", window, "-F", "ip,sym,dso"],
                              capture_output=True, text=True, check=True).stdout
    finally:
        for target in placed:
            os.unlink(target)


def method_name(symbol):
    """A compiled method's name without its signature, tier and generic instantiation: Type::Method."""
    declaring = re.search(r"\]\s*([^\s\[]+)(?:\[[^\]]*\])?::([\w<>`.]+)", symbol)
    if declaring is None:
        return None
    return re.sub(r"d__\d+|`\d+", "", declaring.group(1)) + "::" + declaring.group(2)


def split(data, run, frequency, functions=None):
    """µs per transaction of one recorded run: {"sampled": …, "kernel": {call: …}, "functions": {name: …}, group: …}."""
    start = run["measuredFrom"]
    out = script(data, f"{start:.6f},{start + run['seconds']:.6f}")
    per_sample = 1e6 / frequency / max(1, run["transactions"])
    kernel = collections.Counter()
    user = collections.Counter()
    methods = collections.Counter()
    frames = []

    def flush():
        if not frames:
            return
        symbol, dso = frames[0]
        if "kernel" in dso:
            kernel[system_call([s for s, _ in frames])] += per_sample
            return
        user[user_group(symbol, dso)] += per_sample
        if functions is not None and (name := method_name(symbol)) and re.search(functions, name):
            methods[name] += per_sample

    for line in out.splitlines() + [""]:
        line = line.strip()
        if not line:
            flush()
            frames = []
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        dso = rest[rest.rfind("(") + 1:-1] if rest.endswith(")") else ""
        symbol = rest[:rest.rfind("(")].strip() if rest.endswith(")") else rest
        frames.append((re.sub(r"\+0x[0-9a-f]+$", "", symbol), dso))
    result = {"kernel": dict(kernel), "functions": dict(methods), **user}
    result["sampled"] = sum(kernel.values()) + sum(user.values())
    return result


def main():
    args = sys.argv[1:]
    functions = None
    if "--functions" in args:
        at = args.index("--functions")
        functions = args[at + 1]
        del args[at:at + 2]
    folder = args[0]
    frequency = float(args[1]) if len(args) > 1 else 999.0
    rows = collections.defaultdict(list)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".perf.data"):
            continue
        base = name[: -len(".perf.data")]
        milter, path, io, connections, _ = base.rsplit("-", 4)
        run = json.load(open(os.path.join(folder, base + ".json")))
        if "measuredFrom" not in run:
            sys.exit(f"{base}.json has no measuredFrom: a client from before PERF=1")
        rows[(milter, path, int(connections), io)].append((run, split(os.path.join(folder, name), run, frequency, functions)))
    if not rows:
        sys.exit(f"no .perf.data in {folder}")

    print()
    print(f"Where each client's CPU went, µs per transaction over the measured run (perf at {frequency:.0f} Hz; the median of each row's runs):")
    print()
    print("| milter | path | connections | client | CPU (getrusage) | sampled | kernel | system calls | " + " | ".join(USER_GROUPS) + " |")
    print("|---|---|---:|---|---:|---:|---:|---|" + "---:|" * len(USER_GROUPS))
    order = {io: i for i, io in enumerate(CLIENTS)}
    milters = list(dict.fromkeys(k[0] for k in rows))
    for key in sorted(rows, key=lambda k: (milters.index(k[0]), k[1], k[2], order.get(k[3], 9))):
        runs = rows[key]
        median = lambda values: statistics.median(values) if values else 0.0
        kernel_calls = collections.defaultdict(list)
        for _, s in runs:
            for call, us in s["kernel"].items():
                kernel_calls[call].append(us)
        calls = {call: median(values + [0.0] * (len(runs) - len(values))) for call, values in kernel_calls.items()}
        top = sorted(calls.items(), key=lambda kv: -kv[1])
        cells = [key[0], key[1], str(key[2]), CLIENTS.get(key[3], key[3]),
                 f"{median([r['cpuMicrosecondsPerTransaction'] for r, _ in runs]):.0f}",
                 f"{median([s['sampled'] for _, s in runs]):.0f}",
                 f"{median([sum(s['kernel'].values()) for _, s in runs]):.0f}",
                 ", ".join(f"{call} {us:.1f}" for call, us in top if us >= 0.5)]
        cells += [f"{median([s.get(group, 0.0) for _, s in runs]):.1f}" for group in USER_GROUPS]
        print("| " + " | ".join(cells) + " |")

    if functions is not None:
        keys = [k for k in sorted(rows, key=lambda k: (milters.index(k[0]), k[1], k[2], order.get(k[3], 9)))
                if any(s["functions"] for _, s in rows[k])]  # the C client has no compiled methods
        per_row = {}
        for key in keys:
            names = set().union(*[s["functions"] for _, s in rows[key]])
            per_row[key] = {n: statistics.median([s["functions"].get(n, 0.0) for _, s in rows[key]]) for n in names}
        names = sorted(set().union(*per_row.values()), key=lambda n: -max(r.get(n, 0.0) for r in per_row.values()))
        print()
        print(f"Self time of the methods matching {functions}, µs per transaction (the median of each row's runs):")
        print()
        print("| method | " + " | ".join(f"{k[0]}, {k[2]}, {CLIENTS.get(k[3], k[3])}" for k in keys) + " |")
        print("|---|" + "---:|" * len(keys))
        print("| all of them | " + " | ".join(f"{sum(per_row[k].values()):.2f}" for k in keys) + " |")
        for name in names[:12]:
            print(f"| `{name}` | " + " | ".join(f"{per_row[k].get(name, 0.0):.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
