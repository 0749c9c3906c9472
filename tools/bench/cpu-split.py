#!/usr/bin/env python3
"""Where each client's CPU went, per transaction: the table run.sh PERF=1 prints after its own.

run.sh PERF=1 records every client run with `perf record -k CLOCK_MONOTONIC -F FREQUENCY -g` beside the
run's JSON (RESULTS/<milter>-<path>-<io>-<connections>-<run>.json and .perf.data, and for bench the
.NET symbol map <...>.perf-PID.map). Both clients report when their measured run began on that clock
(measuredFrom) and how long it lasted (seconds), so only the samples of the measured transactions
count: bench's warm-up and start are left out. Each sample is 1/FREQUENCY s of CPU (perf's cpu-clock
period); the kernel's are grouped by the system call they ran under (the callee of do_syscall_64;
"other": interrupts, faults and the work on the way back to user mode), the others by where the code
is: our managed code (the plug-in's and bench's), the .NET libraries, the runtime (libcoreclr, the
JIT, libSystem.Native, stubs), the C library, the C client's own. Each row is the median of its runs,
as in run.sh's table. The samples cover 75-90 % of what getrusage counts in a live run (the
"sampled" column): perf misses time it cannot interrupt. docs/performance.md reads it.

  tools/bench/cpu-split.py RESULTS_FOLDER [FREQUENCY] [--functions REGEX]

A <...>.perf.txt in place of a .perf.data is taken as `perf script -F ip,sym,dso` output of the
measured window already (how the tests feed it samples without perf).

With --functions, a third table: the self time per transaction of each compiled method whose
Type::Method matches REGEX, row by row (say 'SpamFilterMilter\\.Protocol\\.', the session's own code).
run.sh PERF_WARM=1 adds a recording of `SpamFilterMilter.Benchmarks hot N async|blocking json` (the
same code with no network, warm) as warm-inmemory-<io>-1-1, a row of its own beside the live ones.
"""
import collections
import json
import os
import re
import statistics
import subprocess
import sys

from runs import CLIENTS, client_order, find, folders, refuse, usage

USER_GROUPS = ["our managed code", ".NET libraries", "runtime", "C library", "C client"]
KERNEL_SPACE = 0xFFFF800000000000  # x86-64: addresses from here up are the kernel's, modules included
# A compiled method as .NET's perf map names it: "[Assembly] Namespace.Type[generic arguments]::Method(...)".
METHOD = re.compile(r"\[([A-Za-z][\w.\-]*)\]\s*([^\s\[]+)(?:\[[^\]]*\])?::([\w<>`.]+)")


def system_call(symbols):
    """The system call a kernel sample ran under, or "other"."""
    if "do_syscall_64" not in symbols:
        return "other"
    at = symbols.index("do_syscall_64")
    name = symbols[at - 1] if at >= 1 else ""
    if name == "x64_sys_call":  # the dispatcher: the call is the frame it called, if the sample was that deep
        name = symbols[at - 2] if at >= 2 else ""
    if not name or name.startswith(("exit_to_user_mode", "syscall_exit")):
        return "other"
    return re.sub(r"^(__x64_sys_|__do_sys_|__sys_|ksys_|__se_sys_)", "", name)


def method(symbol):
    """(assembly, Type::Method) of a compiled method's symbol, without signature, tier or generic instantiation; or None."""
    found = METHOD.search(symbol)
    if found is None:
        return None
    return found.group(1), re.sub(r"d__\d+|`\d+", "", found.group(2)) + "::" + found.group(3)


def user_group(symbol, dso):
    """Where a user-mode sample's code is."""
    if dso.startswith("[JIT]") or re.search(r"perf-\d+\.map", dso) or dso in ("[unknown]", ""):
        compiled = method(symbol)
        if compiled is None or re.search(r"\bstub\b|IL_STUB", symbol):
            return "runtime"
        return "our managed code" if compiled[0].lower().startswith("spamfilter") else ".NET libraries"
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
    folder, recording = os.path.split(data)
    prefix = recording[: -len(".perf.data")] + "."
    moved = []  # (kept map, /tmp path, what was at that path before, set aside)
    for name in os.listdir(folder or "."):
        if name.startswith(prefix + "perf-") and name.endswith(".map"):
            kept, target = os.path.abspath(os.path.join(folder, name)), "/tmp/" + name[len(prefix):]
            aside = None
            if os.path.lexists(target):  # another process's map under a reused PID: not this run's names
                aside = target + ".cpu-split-aside"
                os.rename(target, aside)
            os.symlink(kept, target)
            moved.append((target, aside))
    try:
        return subprocess.run(["perf", "script", "-i", data, "--time", window, "-F", "ip,sym,dso"],
                              capture_output=True, text=True, check=True).stdout
    finally:
        for target, aside in moved:
            os.unlink(target)
            if aside is not None:
                os.rename(aside, target)


def split(data, run, frequency, functions=None):
    """µs per transaction of one recorded run: {"sampled": …, "kernel": {call: …}, "functions": {name: …}, group: …}."""
    start = run["measuredFrom"]
    if data.endswith(".perf.txt"):
        with open(data) as saved:
            out = saved.read()
    else:
        out = script(data, f"{start:.6f},{start + run['seconds']:.6f}")
    per_sample = 1e6 / frequency / max(1, run["transactions"])
    kernel = collections.Counter()
    user = collections.Counter()
    methods = collections.Counter()
    frames = []  # the sample's call chain, leaf first: (address, symbol, dso)

    def flush():
        if not frames:
            return
        address, symbol, dso = frames[0]
        if address >= KERNEL_SPACE:
            kernel[system_call([s for _, s, _ in frames])] += per_sample
            return
        user[user_group(symbol, dso)] += per_sample
        if functions is not None and (compiled := method(symbol)) and re.search(functions, compiled[1]):
            methods[compiled[1]] += per_sample

    for line in out.splitlines() + [""]:
        line = line.strip()
        if not line:
            flush()
            frames = []
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            continue
        try:
            address = int(parts[0], 16)
        except ValueError:
            continue
        rest = parts[1]
        dso = rest[rest.rfind("(") + 1:-1] if rest.endswith(")") else ""
        symbol = rest[:rest.rfind("(")].strip() if rest.endswith(")") else rest
        frames.append((address, re.sub(r"\+0x[0-9a-f]+$", "", symbol), dso))
    result = {"kernel": dict(kernel), "functions": dict(methods), **user}
    result["sampled"] = sum(kernel.values()) + sum(user.values())
    return result


def median(values):
    return statistics.median(values) if values else 0.0


def main():
    args = sys.argv[1:]
    functions = None
    if "--functions" in args:
        at = args.index("--functions")
        if at + 1 >= len(args):
            refuse("--functions needs a regular expression (say 'SpamFilterMilter\\.Protocol\\.')")
        functions = args[at + 1]
        del args[at:at + 2]
    args = usage(__doc__, args, 1)  # --help, or the folder missing
    folder = folders(args[:1])[0]
    try:
        frequency = float(args[1]) if len(args) > 1 else 999.0
    except ValueError:
        frequency = 0.0
    if not 0 < frequency < float("inf"):
        refuse(f"{args[1]}: not a sampling frequency in Hz (run.sh records at PERF_HZ, 999 by default)")
    rows = collections.defaultdict(list)
    for suffix in (".perf.data", ".perf.txt"):
        for key, recordings in find([folder], suffix).items():
            for recording in recordings:
                run = json.load(open(recording[: -len(suffix)] + ".json"))
                if "measuredFrom" not in run:
                    sys.exit(f"{recording[: -len(suffix)]}.json has no measuredFrom: a client from before PERF=1")
                rows[key].append((run, split(recording, run, frequency, functions)))
    if not rows:
        sys.exit(f"no .perf.data in {folder}")

    milters = sorted({k[0] for k in rows}, key=lambda m: (m == "warm", m))  # the warm rows (PERF_WARM) after the live ones
    keys = sorted(rows, key=lambda k: (milters.index(k[0]), k[1], k[2], client_order(k[3])))

    print()
    print(f"Where each client's CPU went, µs per transaction over the measured run (perf at {frequency:.0f} Hz; the median of each row's runs):")
    print()
    print("| milter | path | connections | client | CPU (getrusage) | sampled | kernel | system calls | " + " | ".join(USER_GROUPS) + " |")
    print("|---|---|---:|---|---:|---:|---:|---|" + "---:|" * len(USER_GROUPS))
    for key in keys:
        runs = rows[key]
        calls = {call: median([s["kernel"].get(call, 0.0) for _, s in runs]) for call in set().union(*[s["kernel"] for _, s in runs])}
        cells = [key[0], key[1], str(key[2]), CLIENTS.get(key[3], key[3]),
                 f"{median([r['cpuMicrosecondsPerTransaction'] for r, _ in runs]):.0f}",
                 f"{median([s['sampled'] for _, s in runs]):.0f}",
                 f"{median([sum(s['kernel'].values()) for _, s in runs]):.0f}",
                 ", ".join(f"{call} {us:.1f}" for call, us in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])) if us >= 0.5)]
        cells += [f"{median([s.get(group, 0.0) for _, s in runs]):.1f}" for group in USER_GROUPS]
        print("| " + " | ".join(cells) + " |")

    if functions is None:
        return
    managed = [k for k in keys if any(s["functions"] for _, s in rows[k])]  # the C client has no compiled methods
    per_row = {k: {n: median([s["functions"].get(n, 0.0) for _, s in rows[k]]) for n in set().union(*[s["functions"] for _, s in rows[k]])}
               for k in managed}
    names = sorted(set().union(*per_row.values()), key=lambda n: (-max(r.get(n, 0.0) for r in per_row.values()), n))
    print()
    print(f"Self time of the methods matching {functions}, µs per transaction (the median of each row's runs):")
    print()
    print("| method | " + " | ".join(f"{k[0]}, {k[2]}, {CLIENTS.get(k[3], k[3])}" for k in managed) + " |")
    print("|---|" + "---:|" * len(managed))
    print("| all of them | " + " | ".join(f"{median([sum(s['functions'].values()) for _, s in rows[k]]):.2f}" for k in managed) + " |")
    for name in names[:12]:
        print(f"| `{name}` | " + " | ".join(f"{per_row[k].get(name, 0.0):.2f}" for k in managed) + " |")


if __name__ == "__main__":
    main()
