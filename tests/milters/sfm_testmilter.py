#!/usr/bin/python3
"""sfm_testmilter.py -- scriptable pymilter (python3-milter) test milter.

A second, independent milter implementation for SpamFilterMilter tests:
same argument language and transcript format as sfm-testmilter.c (see
README.md), reduced to what pymilter makes easy.  Run it with the Debian
interpreter, which is where python3-milter is installed:

    /usr/bin/python3 sfm_testmilter.py -p inet:PORT@127.0.0.1 -l FILE \
        -a STAGE[/SUBSTRING]=ACTION ...

Supported actions: continue accept reject tempfail discard, sleep:MS,
reply:RCODE:XCODE:TEXT, and at eom addheader:NAME:VALUE,
insheader:IDX:NAME:VALUE, chgheader:IDX:NAME:VALUE, quarantine:REASON,
replbody:TEXT, addrcpt:ADDR, delrcpt:ADDR, chgfrom:ADDR[:ARGS].

"READY" is printed on stdout once the listening socket is open: the script
does what Milter.runmilter() does, but calls milter.opensocket() itself so it
can print between opening the socket and entering milter.main().
"""

import getopt
import socket
import sys
import threading
import time

import Milter
import milter

DEFAULT_MACROS = (
    "j _ v i {daemon_name} {daemon_addr} {if_name} {if_addr} "
    "{client_addr} {client_name} {client_port} {client_ptr} "
    "{mail_addr} {mail_host} {mail_mailer} {rcpt_addr} {rcpt_host} "
    "{rcpt_mailer} {auth_type} {auth_authen} {auth_author} {auth_ssf} "
    "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer} "
    "{msg_id} {spamfilter_optin}").split()

STAGES = ("connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body",
          "eom", "unknown", "abort", "close")

VERDICTS = {
    "continue": Milter.CONTINUE, "accept": Milter.ACCEPT,
    "reject": Milter.REJECT, "tempfail": Milter.TEMPFAIL,
    "discard": Milter.DISCARD,
}

# action name -> (min fields, max fields); the last field takes the rest of
# the string, so TEXT/VALUE/ARGS may contain colons.
ACTIONS = {
    "reply": (3, 3), "addheader": (2, 2), "insheader": (3, 3),
    "chgheader": (3, 3), "quarantine": (1, 1), "replbody": (1, 1),
    "addrcpt": (1, 1), "delrcpt": (1, 1), "chgfrom": (1, 2),
    "sleep": (1, 1),
}
for _v in VERDICTS:
    ACTIONS[_v] = (0, 0)

# Everything this milter may ask the MTA to do.
USED_ACTIONS = (Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY |
                Milter.ADDRCPT | Milter.DELRCPT | Milter.QUARANTINE |
                Milter.CHGFROM)


def die(msg):
    sys.stderr.write("sfm_testmilter.py: %s\n" % msg)
    sys.exit(2)


def decode_escapes(s):
    r"""Decode \r \n \t \\ \xNN into bytes; other backslashes stay."""
    out = bytearray()
    raw = s.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        c = raw[i:i + 1]
        nxt = raw[i + 1:i + 2]
        if c == b"\\" and nxt in (b"r", b"n", b"t", b"\\"):
            out += {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}[nxt]
            i += 2
            continue
        if c == b"\\" and nxt == b"x" and i + 3 < len(raw):
            try:
                out.append(int(raw[i + 2:i + 4].decode("ascii"), 16))
                i += 4
                continue
            except ValueError:
                pass
        out += c
        i += 1
    return bytes(out)


def as_str(b):
    """Decoded argument bytes -> str for pymilter's str-taking calls."""
    return b.decode("utf-8", "surrogateescape")


def escape(value):
    """Transcript field escaping, identical to the C milter."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    out = []
    for byte in value:
        if byte == 0x5c:
            out.append("\\\\")
        elif byte == 0x09:
            out.append("\\t")
        elif byte == 0x0a:
            out.append("\\n")
        elif byte == 0x0d:
            out.append("\\r")
        elif byte < 0x20 or byte >= 0x7f:
            out.append("\\x%02x" % byte)
        else:
            out.append(chr(byte))
    return "".join(out)


class Action(object):
    def __init__(self, arg):
        if "=" not in arg:
            die("-a %r: expected STAGE[/SUBSTRING]=ACTION" % arg)
        where, self.spec = arg.split("=", 1)
        stage, _, sub = where.partition("/")
        if stage not in STAGES:
            die("-a %r: unknown stage %r" % (arg, stage))
        self.stage = stage
        self.match = decode_escapes(sub) if sub else None
        name, _, rest = self.spec.partition(":")
        if name not in ACTIONS:
            die("-a %r: unknown action %r" % (arg, name))
        self.name = name
        lo, hi = ACTIONS[name]
        fields = rest.split(":", hi - 1) if ":" in self.spec and hi else []
        if not lo <= len(fields) <= hi:
            die("-a %r: %s takes %d..%d ':'-separated fields"
                % (arg, name, lo, hi))
        self.fields = [decode_escapes(f) for f in fields]


class Options(object):
    conn = None
    logfile = None
    macros = DEFAULT_MACROS
    actions = []


OPTS = Options()
_log_lock = threading.Lock()
_num_lock = threading.Lock()
_last_num = [0]
_transcript = [None]


def write_lines(lines):
    """Append whole lines under a lock (libmilter runs callbacks in threads)."""
    if _transcript[0] is None:
        return
    with _log_lock:
        _transcript[0].write("".join(l + "\n" for l in lines))
        _transcript[0].flush()


class TestMilter(Milter.Base):
    """One instance per MTA connection (created by pymilter's factory)."""

    def __init__(self):
        with _num_lock:
            _last_num[0] += 1
            self.num = _last_num[0]

    def line(self, event, *fields):
        return "\t".join([str(self.num), event] + [escape(f) for f in fields])

    def event(self, stage, fields, text=None):
        """Log the event and its macros, run matching actions, return the
        verdict (the last verdict action, default continue)."""
        lines = [self.line(stage, *fields)]
        for name in OPTS.macros:
            value = self.getsymval(name)
            if value is not None:
                lines.append(self.line("macro", stage, name, value))
        write_lines(lines)
        verdict = Milter.CONTINUE
        for a in OPTS.actions:
            if a.stage != stage:
                continue
            if a.match and (text is None or a.match not in text):
                continue
            rc, v = self.perform(a)
            if v is not None:
                verdict = v
            write_lines([self.line("action", stage, a.spec, str(rc))])
        return verdict

    def perform(self, a):
        """Run one action: returns (rc for the transcript, verdict or None).
        rc is 0 for success and -1 when pymilter raised milter.error (the
        libmilter call returned MI_FAILURE)."""
        f = a.fields
        if a.name in VERDICTS:
            return VERDICTS[a.name], VERDICTS[a.name]
        if a.name == "sleep":
            time.sleep(int(f[0]) / 1000.0)
            return 0, None
        if a.name == "reply":
            verdict = Milter.TEMPFAIL if f[0][:1] == b"4" else Milter.REJECT
            try:
                self.setreply(as_str(f[0]), as_str(f[1]) or None,
                              as_str(f[2]) or None)
            except (milter.error, ValueError) as e:
                self.complain(a, e)
                return -1, verdict
            return 0, verdict
        try:
            if a.name == "addheader":
                self.addheader(as_str(f[0]), as_str(f[1]))
            elif a.name == "insheader":
                self.addheader(as_str(f[1]), as_str(f[2]), int(f[0]))
            elif a.name == "chgheader":
                # Empty value deletes the header (None -> NULL).
                self.chgheader(as_str(f[1]), int(f[0]), as_str(f[2]) or None)
            elif a.name == "quarantine":
                self.quarantine(as_str(f[0]))
            elif a.name == "replbody":
                self.replacebody(f[0])
            elif a.name == "addrcpt":
                self.addrcpt(as_str(f[0]))
            elif a.name == "delrcpt":
                self.delrcpt(as_str(f[0]))
            elif a.name == "chgfrom":
                args = as_str(f[1]) if len(f) > 1 and f[1] else None
                self.chgfrom(as_str(f[0]), args)
        except (milter.error, ValueError, Milter.DisabledAction) as e:
            self.complain(a, e)
            return -1, None
        return 0, None

    def complain(self, a, e):
        sys.stderr.write("sfm_testmilter.py: conn %d: %s: %s\n"
                         % (self.num, a.spec, e))

    # -- callbacks -------------------------------------------------------

    def negotiate(self, opts):
        offered_actions, offered_proto = opts[0], opts[1]
        self._actions = offered_actions & USED_ACTIONS
        # Like libmilter's default, accept SKIP when offered and nothing
        # else: every step is wanted and every step gets a reply.
        self._protocol = offered_proto & Milter.P_SKIP
        opts[0], opts[1], opts[2], opts[3] = self._actions, self._protocol, 0, 0
        write_lines([self.line("negotiate", "0x%x" % offered_actions,
                               "0x%x" % offered_proto, "0x%x" % self._actions,
                               "0x%x" % self._protocol)])
        return Milter.CONTINUE

    def connect(self, hostname, family, hostaddr):
        port, addr, fam = "", "", "U"
        if family == socket.AF_INET and isinstance(hostaddr, tuple):
            fam, addr, port = "4", hostaddr[0], str(hostaddr[1])
        elif family == socket.AF_INET6 and isinstance(hostaddr, tuple):
            fam, addr, port = "6", hostaddr[0], str(hostaddr[1])
        elif family == socket.AF_UNIX:
            fam, addr = "L", hostaddr or ""
        return self.event("connect", [hostname, fam, port, addr],
                          hostname.encode("utf-8", "surrogateescape"))

    def hello(self, name):
        return self.event("helo", [name],
                          name.encode("utf-8", "surrogateescape"))

    @Milter.decode("bytes")
    def envfrom(self, addr, *params):
        return self.event("mail", [addr] + list(params), addr)

    @Milter.decode("bytes")
    def envrcpt(self, addr, *params):
        return self.event("rcpt", [addr] + list(params), addr)

    def data(self):
        return self.event("data", [])

    @Milter.decode("bytes")
    def header(self, name, value):
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        return self.event("header", [name, value], name + b": " + value)

    def eoh(self):
        return self.event("eoh", [])

    def body(self, chunk):
        return self.event("body", [str(len(chunk)), chunk], chunk)

    def eom(self):
        return self.event("eom", [])

    def unknown(self, cmd):
        if isinstance(cmd, str):
            cmd = cmd.encode("utf-8", "surrogateescape")
        return self.event("unknown", [cmd], cmd)

    def abort(self):
        self.event("abort", [])
        return Milter.CONTINUE

    def close(self):
        self.event("close", [])
        return Milter.CONTINUE


def parse_args(argv):
    try:
        opts, rest = getopt.getopt(argv, "p:l:m:a:h")
    except getopt.GetoptError as e:
        die(str(e))
    for o, v in opts:
        if o == "-p":
            OPTS.conn = v
        elif o == "-l":
            OPTS.logfile = v
        elif o == "-m":
            OPTS.macros = v.split()
        elif o == "-a":
            OPTS.actions.append(Action(v))
        else:
            die("usage: sfm_testmilter.py -p CONN [-l FILE] [-m MACROS] "
                "[-a STAGE[/SUBSTRING]=ACTION]...")
    if OPTS.conn is None or rest:
        die("usage: sfm_testmilter.py -p CONN [-l FILE] [-m MACROS] "
            "[-a STAGE[/SUBSTRING]=ACTION]...")


def main(argv):
    parse_args(argv)
    if OPTS.logfile:
        _transcript[0] = open(OPTS.logfile, "a", encoding="ascii")

    # This is Milter.runmilter() unrolled, so READY can be printed after
    # the socket is open and before milter.main() blocks.
    Milter.factory = TestMilter
    milter.set_flags(USED_ACTIONS)
    milter.set_connect_callback(Milter.connect_callback)
    milter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    milter.set_envfrom_callback(
        lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    milter.set_envrcpt_callback(
        lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    milter.set_header_callback(
        lambda ctx, f, v: ctx.getpriv().header_bytes(f, v))
    milter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    milter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    milter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    milter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    milter.set_close_callback(Milter.close_callback)
    milter.setconn(OPTS.conn)
    milter.register("sfm_testmilter.py",
                    data=lambda ctx: ctx.getpriv().data(),
                    unknown=lambda ctx, cmd: ctx.getpriv().unknown(cmd),
                    negotiate=Milter.negotiate_callback)
    try:
        milter.opensocket(True)
    except milter.error as e:
        die("cannot open %s: %s" % (OPTS.conn, e))
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    milter.main()


if __name__ == "__main__":
    main(sys.argv[1:])
