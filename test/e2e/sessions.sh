#!/usr/bin/env bash
# Guest sessions: a long-running command that outlives its clients and the
# daemon. Start one that prints a counter and echoes its stdin; list, logs,
# attach (replay, then live, stdin through), a killed client, kill -9 of
# bangerd and a fresh daemon (the agent still has it), stop, exit codes
# through attach, and the refusals.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

B=$BANGER_BIN_DIR/banger

# file_has FILE TEXT: FILE contains TEXT (fixed string).
file_has() { grep -qF -- "$2" "$1" 2>/dev/null; }
# last_tick FILE: the highest "tick N" in FILE, or -1.
last_tick() { { grep -o 'tick [0-9]*' "$1" 2>/dev/null || true; } | awk '{n=$2} END {print (n=="" ? -1 : n)}'; }
# attach_bg OUT: `session attach box counter` in the background, its stdin
# the fifo on fd 3; sets APID.
attach_bg() {
  "$B" vm session attach box counter <"$fifo" >"$1" 2>"$1.err" &
  APID=$!
  e2e_track_pid "$APID" "session attach"
}

expect_rc nonzero banger vm session list nosuchvm
expect_contains "$ERR" 'no VM named "nosuchvm"' "session list on an unknown VM"

must expect_rc 0 banger vm create --name box

counter='i=0; (while :; do echo "tick $i"; i=$((i+1)); sleep 0.2; done) & while read -r line; do echo "echo: $line"; done'
must expect_rc 0 banger vm session start box --name counter -- sh -c "$counter"
expect_eq "$OUT" $'counter\n' "session start prints the name"

expect_rc nonzero banger vm session start box --name counter -- true
expect_contains "$ERR" "'counter' is already running" "a duplicate name is refused"

expect_rc 0 banger vm session list box
expect_match "$OUT" $'(^|\n)counter +running +[0-9]+ +sh -c ' "session list"
expect_rc 0 banger vm session list box --json
expect_json "$OUT" 'd["sessions"][0]["state"]' running "list --json state"
expect_json "$OUT" 'd["sessions"][0]["argv"][0]' sh "list --json argv"
expect_json "$OUT" 'd["sessions"][0]["pid"] > 0' true "list --json pid"
expect_json "$OUT" 'd["sessions"][0]["started_at"][:2]' 20 "list --json started_at"

wait_until 20 bash -c "'$B' vm session logs box counter | grep -q 'tick 3'" ||
  fail "session logs never showed 'tick 3'"
expect_rc 0 banger vm session logs box counter
expect_contains "$OUT" $'tick 0\ntick 1\ntick 2\n' "session logs replays from the start"
seen=$(last_tick "$E2E_TMP/run.$E2E_RUNS.out")

# Attach: the replay first, then live output; stdin reaches the session.
fifo=$E2E_TMP/attach.fifo
mkfifo "$fifo"
exec 3<>"$fifo"
attach_bg "$E2E_TMP/attach1.out"
wait_until 20 file_has "$E2E_TMP/attach1.out" "tick 0" || fail "attach did not replay 'tick 0': $(head -c 300 "$E2E_TMP/attach1.out")"
wait_until 20 file_has "$E2E_TMP/attach1.out" "tick $((seen + 5))" || fail "attach showed no live output past tick $seen"
echo hello >&3
wait_until 20 file_has "$E2E_TMP/attach1.out" "echo: hello" || fail "stdin through attach did not reach the session"

# A client killed outright leaves the session running.
kill -9 "$APID"
wait "$APID" 2>/dev/null || true
expect_rc 0 banger vm session list box
expect_match "$OUT" $'(^|\n)counter +running ' "session after its attach client was killed"
before=$(last_tick "$E2E_TMP/attach1.out")

# kill -9 of bangerd: the agent keeps the session; a new daemon finds it.
dpid=$(tr -dc 0-9 <"$(daemon_pid_file)")
[[ $(proc_cmdline "$dpid") == *bangerd* ]] || abort "pid file names $dpid, not a bangerd"
kill -9 "$dpid"
must expect_proc_gone "$dpid" "bangerd after kill -9" 10
must expect_rc 0 banger daemon start
expect_rc 0 banger vm session list box
expect_match "$OUT" $'(^|\n)counter +running ' "session list after a daemon restart"
attach_bg "$E2E_TMP/attach2.out"
wait_until 20 file_has "$E2E_TMP/attach2.out" "echo: hello" || fail "attach after the restart did not replay the earlier output"
wait_until 20 file_has "$E2E_TMP/attach2.out" "tick $((before + 10))" || fail "attach after the restart saw no new output past tick $before"
echo again >&3
wait_until 20 file_has "$E2E_TMP/attach2.out" "echo: again" || fail "stdin after the restart did not reach the session"
# SIGTERM to the client detaches (exit 0); the session goes on.
kill -TERM "$APID"
arc=0
wait "$APID" || arc=$?
expect_eq "$arc" 0 "attach exit code after SIGTERM (a detach)"
expect_contains "$(cat "$E2E_TMP/attach2.out.err")" "detached from session counter" "attach says it detached"
exec 3>&-

# On a terminal: typed lines reach the session, Ctrl-P Ctrl-Q detaches.
tty_result=$(timeout -k 5 60 python3 - "$B" <<'PY' 2>&1 || true
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "vm", "session", "attach", "box", "counter"])
out = b""
def read_until(needle, secs):
    global out
    end = time.time() + secs
    while needle not in out and time.time() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
read_until(b"tick", 20)
os.write(fd, b"typed\n")
read_until(b"echo: typed", 20)
os.write(fd, b"\x10\x11")
read_until(b"detached from session", 20)
_, status = os.waitpid(pid, 0)
print("rc=%d echoed=%s detached=%s" % (os.waitstatus_to_exitcode(status),
      b"echo: typed" in out, b"detached from session counter" in out))
PY
)
expect_eq "$tty_result" "rc=0 echoed=True detached=True" "attach on a terminal: stdin, then Ctrl-P Ctrl-Q"
expect_rc 0 banger vm session list box
expect_match "$OUT" $'(^|\n)counter +running ' "session after a Ctrl-P Ctrl-Q detach"

expect_rc 0 banger vm session stop box counter
expect_eq "$OUT" $'counter killed by SIGTERM\n' "session stop"
expect_rc 0 banger vm session list box
expect_match "$OUT" $'(^|\n)counter +killed by SIGTERM ' "session list after stop"

# Attach ends with the session's own exit code; stdin goes through first.
must expect_rc 0 banger vm session start box --name later -- sh -c 'read x; echo "got $x"; exit 5'
expect_rc 5 banger vm session attach box later < <(echo line)
expect_eq "$OUT" $'got line\n' "attach output of a session that ends"
expect_rc 0 banger vm session list box
expect_match "$OUT" $'(^|\n)later +exited 5 ' "list shows the exit code"
# An ended one replays and exits with its code at once; its name is free.
expect_rc 5 banger vm session attach box later
expect_eq "$OUT" $'got line\n' "attach to an ended session replays"
expect_rc 0 banger vm session start box --name later -- true

# Generated names, the default directory, --cwd and --env.
expect_rc 0 banger vm session start box -- pwd
expect_eq "$OUT" $'s1\n' "a generated session name"
expect_rc 0 banger vm session start box --name envcwd --cwd /tmp --env FOO=bar -- sh -c 'echo "$PWD $FOO"'
wait_until 10 bash -c "'$B' vm session logs box s1 | grep -q /" || true
expect_rc 0 banger vm session logs box s1
expect_eq "$OUT" $'/root\n' "default directory of a session"
wait_until 10 bash -c "'$B' vm session logs box envcwd | grep -q bar" || true
expect_rc 0 banger vm session logs box envcwd
expect_eq "$OUT" $'/tmp bar\n' "--cwd and --env"
# -f on a session that ended replays and returns at once.
expect_rc 0 banger vm session logs -f box envcwd
expect_eq "$OUT" $'/tmp bar\n' "logs -f of an ended session"

expect_rc nonzero banger vm session attach box nosuch
expect_contains "$ERR" "no session named 'nosuch'" "attach to an unknown session"
expect_rc nonzero banger vm session stop box nosuch
expect_contains "$ERR" "no session named 'nosuch'" "stop of an unknown session"
expect_rc nonzero banger vm session start box --name 'bad name' -- true
expect_contains "$ERR" "bad name" "a bad session name"
expect_rc 2 banger vm session start box --env NOEQUALS -- true

# Sessions end with the VM; a stopped VM has none to start.
expect_rc 0 banger vm stop box
expect_rc nonzero banger vm session start box -- true
expect_contains "$ERR" "stopped" "session start on a stopped VM"
expect_rc nonzero banger vm session list box

expect_rc 0 banger vm delete box
expect_nothing_left
e2e_pass
