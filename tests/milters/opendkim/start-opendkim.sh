#!/bin/sh
# Start opendkim as a DKIM signing milter for tests.
#
#   start-opendkim.sh DIR PORT
#
# Generates a 1024-bit key for selector "sfm", domain example.com into DIR
# (DIR/sfm.private, DIR/sfm.txt), writes DIR/opendkim.conf from the template
# next to this script and then execs opendkim in the foreground listening
# on inet:PORT@127.0.0.1.  Because of exec, the PID of this script is the
# PID of opendkim: send it SIGTERM to stop it.  The harness should poll the
# port (opendkim prints nothing when ready).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 DIR PORT" >&2
    exit 2
fi
dir=$1
port=$2
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Reuse an existing key so several starts in one DIR keep verifying.
if [ ! -f "$dir/sfm.private" ]; then
    opendkim-genkey -b 1024 -d example.com -s sfm -D "$dir"
fi

sed -e "s|@KEYFILE@|$dir/sfm.private|g" \
    -e "s|@PORT@|$port|g" \
    -e "s|@PIDFILE@|$dir/opendkim.pid|g" \
    "$here/opendkim.conf.template" > "$dir/opendkim.conf"

# -x: configuration file; -f: foreground (also set in the file).
exec opendkim -f -x "$dir/opendkim.conf"
