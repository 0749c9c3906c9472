#!/bin/bash
# stop.sh DIR -- stop the private Postfix instance and smtp-sink started by start.sh DIR.
# Leaves DIR (logs, sink dumps) in place. Safe to run twice / on a stopped instance.
set -u
DIR=${1:?usage: stop.sh DIR}
[ -d "$DIR" ] || { echo "stop.sh: no such dir $DIR"; exit 0; }
DIR=$(cd "$DIR" && pwd -P)
PATH=$PATH:/usr/sbin:/sbin

# A dead process stays a zombie until PID 1 reaps it; in this container PID 1
# is not a real init and reaps only every second or two, so "kill -0" and a
# plain "ps" would report dead processes as alive. Ignore zombies.
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
session_alive() { ps -o stat= --sid "$1" 2>/dev/null | grep -qv '^Z'; }

PIDF=$DIR/queue/pid/master.pid
if [ -f "$PIDF" ]; then
    pid=$(tr -dc 0-9 < "$PIDF")
    if [ -n "$pid" ] && alive "$pid"; then
        # Same as "postfix -c DIR/conf stop" (= kill master, then poll with
        # "sleep 1", ~1-3 s) but polling every 20 ms. master -w runs as a
        # session leader (sid = pid); on SIGTERM it kills its process group
        # and exits at once.
        echo "$(date '+%b %d %H:%M:%S') stop.sh: stopping master $pid" >> "$DIR/log/postfix-start.log"
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 250); do session_alive "$pid" || break; sleep 0.02; done
        if session_alive "$pid"; then
            echo "stop.sh: postfix processes of session $pid still alive after 5 s, sending KILL"
            pkill_list=$(ps -o pid= --sid "$pid")
            kill -KILL $pkill_list 2>/dev/null
        fi
    fi
fi
if [ -f "$DIR/sink.pid" ]; then
    spid=$(cat "$DIR/sink.pid")
    if alive "$spid"; then
        kill -TERM "$spid" 2>/dev/null
        for i in $(seq 1 250); do alive "$spid" || break; sleep 0.02; done
        alive "$spid" && kill -KILL "$spid" 2>/dev/null
    fi
    rm -f "$DIR/sink.pid"
fi
echo "stopped: $DIR"
exit 0
