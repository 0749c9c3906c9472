#!/usr/bin/python3
"""Verify the DKIM-Signature of a message against a key written by
opendkim-genkey, without DNS.

    /usr/bin/python3 verify_dkim.py MESSAGE_FILE KEY_FILE

KEY_FILE is the DNS record file opendkim-genkey wrote (e.g. DIR/sfm.txt).
The private key file (DIR/sfm.private) also works: the sibling .txt file is
used if present, otherwise the public key is derived with `openssl pkey`.

MESSAGE_FILE is the message as the MTA would deliver it (the DKIM-Signature
header opendkim asked to insert, followed by the original headers and body).
Bare LF line endings are turned into CRLF first, since that is what opendkim
signed over the milter protocol.

Prints "pass" and exits 0 when the (first) signature verifies, otherwise
prints "fail: <reason>" and exits 1.  Needs python3-dkim (dkimpy); run it with
/usr/bin/python3 so the Debian package is found.
"""

import base64
import logging
import os
import re
import subprocess
import sys

import dkim


def read_key_record(path):
    """Return (selector, TXT record bytes) from a genkey .txt or .private."""
    with open(path, "rb") as f:
        data = f.read()
    if b"PRIVATE KEY" in data:
        txt = os.path.splitext(path)[0] + ".txt"
        if os.path.exists(txt):
            return read_key_record(txt)
        selector = os.path.splitext(os.path.basename(path))[0]
        der = subprocess.run(
            ["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
            check=True, stdout=subprocess.PIPE).stdout
        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
        return selector.encode(), record
    # The .txt is a zone-file line:
    #   sfm._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=..." ) ; ...
    # The record is the concatenation of the quoted strings.
    label = data.split(None, 1)[0]
    selector = label.split(b"._domainkey", 1)[0]
    record = b"".join(re.findall(rb'"([^"]*)"', data.split(b")", 1)[0]))
    return selector, record


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: verify_dkim.py MESSAGE_FILE KEY_FILE\n")
        return 2
    with open(argv[1], "rb") as f:
        message = f.read()
    # Normalise line endings to CRLF (leave existing CRLFs alone).
    message = re.sub(rb"\r?\n", b"\r\n", message)

    selector, record = read_key_record(argv[2])

    def dnsfunc(name, timeout=5):
        # name is e.g. b"sfm._domainkey.example.com."; answer only for the
        # selector we have a key for, like a real zone would.
        if name.lower().startswith(selector.lower() + b"._domainkey."):
            return record
        return None

    # Collect dkimpy's log output so a failure can say why.
    reasons = []

    class Collect(logging.Handler):
        def emit(self, rec):
            reasons.append(rec.getMessage())

    log = logging.getLogger("verify_dkim")
    log.setLevel(logging.DEBUG)
    log.addHandler(Collect())

    if b"dkim-signature:" not in message.lower():
        print("fail: no DKIM-Signature header")
        return 1
    try:
        d = dkim.DKIM(message, logger=log)
        ok = d.verify(dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        print("fail: %s" % e)
        return 1
    if ok:
        print("pass")
        return 0
    # dkimpy logs the computed hashes etc. at debug level; the last line
    # is usually the most telling one.
    print("fail: signature did not verify%s"
          % ((" (" + reasons[-1] + ")") if reasons else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
