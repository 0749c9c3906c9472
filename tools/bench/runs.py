"""The runs run.sh keeps: one file per client run, named <milter>-<path>-<io>-<connections>-<run> (.json, and with
PERF=1 .perf.data and the .NET symbol map), and the names the tables give the clients. table.py and cpu-split.py
read them through here."""
import os
import sys

# The clients in the order the tables list them, and their names there.
CLIENTS = {"c": "C protocol client", "async": "plug-in, async", "blocking": "plug-in, blocking"}


def parse(base):
    """(milter, path, io, connections) of a run's file name without its extension, or None when it is not a run's."""
    if base.count("-") < 4 or base.startswith(("idle-", "scale-")):
        return None
    milter, path, io, connections, _ = base.rsplit("-", 4)
    return milter, path, io, int(connections)


def find(folders, suffix):
    """{(milter, path, connections, io): [path of each run's file with that suffix]} in the folders."""
    runs = {}
    for folder in folders:
        for name in sorted(os.listdir(folder)):
            if name.endswith(suffix) and (key := parse(name[: -len(suffix)])) is not None:
                milter, path, io, connections = key
                runs.setdefault((milter, path, connections, io), []).append(os.path.join(folder, name))
    return runs


def usage(doc, arguments, least):
    """arguments when there are at least `least` and no -h/--help among them; otherwise the usage (doc) and exit:
    0 when it was asked for, 2 when the command line was wrong."""
    if any(a in ("-h", "--help") for a in arguments):
        print(doc.strip())
        sys.exit(0)
    if len(arguments) < least:
        refuse(doc.strip())
    return arguments


def refuse(problem):
    """A wrong command line: the problem on standard error, exit status 2."""
    print(problem, file=sys.stderr)
    sys.exit(2)


def folders(names):
    """names, each a folder (a run.sh RESULTS); exits with a one-line error naming one that is not."""
    for name in names:
        if not os.path.isdir(name):
            refuse(f"{name}: not a folder (give run.sh's RESULTS folder)")
    return names


def client_order(io):
    """Where a client's rows come among a configuration's: the C client first."""
    return list(CLIENTS).index(io) if io in CLIENTS else len(CLIENTS)
