#!/usr/bin/env bash
# Root never follows a user's path, peers are checked both ways, client
# strings cannot forge log lines, and a root `daemon start`'s banger-helper
# lives in root's own directory and ends with its daemon. Each block is an
# attack that worked before (see docs/security.md); no VM is booted.
#   uids: root (the CLI), $E2E_USER (the daemons' owner), and two uids without
#   an account: VICTIM (a user without XDG_RUNTIME_DIR) and ATTACKER.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"

VICTIM=$((61000 + RANDOM % 1000))
ATTACKER=$((VICTIM + 1000))
trap '_rc=$?; rm -rf -- "/tmp/banger-${VICTIM:?}"; (exit $_rc); e2e_teardown' EXIT
as_uid() {
  local u=$1
  shift
  setpriv --reuid="$u" --regid="$u" --clear-groups -- "$@"
}
# start_fake UID SOCKET RECORD [vmshow NAME]: a planted peer, as UID.
start_fake() {
  local u=$1 sock=$2
  shift 2
  # setpriv execs python: $! is the server's pid, for teardown to kill.
  setpriv --reuid="$u" --regid="$u" --clear-groups -- \
    /usr/bin/python3 "$E2E_TMP/att/trust_peer.py" serve "$sock" "$@" </dev/null >/dev/null 2>&1 &
  e2e_track_pid $! trust_peer.py
  wait_until 10 test -S "$sock" || abort "fake peer on $sock did not start"
}
owner_uid=$(id -u "$E2E_USER")
daemon_pid() { tr -dc 0-9 <"$(daemon_pid_file)" 2>/dev/null || true; }

e2e_instance main
mkdir -p "$E2E_TMP/att"
cp "$(dirname "$E2E_SCRIPT")/trust_peer.py" "$E2E_TMP/att/"
chown "$ATTACKER:$ATTACKER" "$E2E_TMP/att"
chmod 755 "$E2E_TMP/att"
echo precious >"$E2E_TMP/root-file"
chmod 644 "$E2E_TMP/root-file"

# -- a symlinked helper.pid where root used to write it ---------------------
# The owner plants $XDG_RUNTIME_DIR/banger/helper/helper.pid -> a root file.
as_uid "$owner_uid" mkdir -p "$XDG_RUNTIME_DIR/banger/helper"
as_uid "$owner_uid" ln -s "$E2E_TMP/root-file" "$XDG_RUNTIME_DIR/banger/helper/helper.pid"
must expect_rc 0 banger daemon start
expect_eq "$(cat "$E2E_TMP/root-file")" precious "root file behind a planted helper.pid"
hdir=$(helper_dir)
must expect_ne "$hdir" "" "banger-helper's directory under $BANGER_ROOT_RUN_DIR"
expect_eq "$(stat -c '%u %a' "$hdir")" "0 755" "owner and mode of $hdir"
expect_eq "$(stat -c '%u' "$hdir/helper.log")" 0 "owner of helper.log"
expect_eq "$(stat -c '%U' "$(state_dir)/bangerd.log")" "$E2E_USER" "owner of bangerd.log"

# -- newline injection into bangerd.log through a request type ---------------
forged='2030-01-01T00:00:00.000 error [bangerd] forged by a client'
run python3 "$E2E_TMP/att/trust_peer.py" call "$(daemon_socket)" $'vm.list\n'"$forged"
expect_contains "$OUT" '"type":"error"' "reply to a request type with a newline"
expect_eq "$(awk -v f="$forged" 'index($0, f) == 1' "$(state_dir)/bangerd.log" | wc -l)" 0 \
  "forged lines in bangerd.log"
expect_contains "$(cat "$(state_dir)/bangerd.log")" 'vm.list\x0a2030-01-01' "the type, escaped, in bangerd.log"

# -- the daemon refuses a third uid even when the socket's mode lets it in ---
chmod 755 "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/banger"
chmod 777 "$(daemon_socket)"
run setpriv --reuid="$VICTIM" --regid="$VICTIM" --clear-groups -- \
  /usr/bin/python3 "$E2E_TMP/att/trust_peer.py" call "$(daemon_socket)" vm.list
expect_contains "$OUT" "serves only its owner" "bangerd's answer to uid $VICTIM"
expect_not_contains "$OUT" '"vms"' "bangerd's answer to uid $VICTIM"
expect_contains "$(cat "$(state_dir)/bangerd.log")" "refused a connection" "bangerd.log"
chmod 700 "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/banger"

# -- the helper ends with its daemon, start after start ----------------------
for cycle in 1 2 3; do
  hpid=$(tr -dc 0-9 <"$(helper_dir)/helper.pid")
  [[ $(proc_cmdline "$hpid") == *banger-helper* ]] ||
    fail "cycle $cycle: helper.pid names '$hpid', not a running banger-helper"
  dpid=$(daemon_pid)
  expect_rc 0 banger daemon stop
  expect_daemon_exits "$dpid"
  expect_proc_gone "$hpid" "cycle $cycle: banger-helper after daemon stop" 10
  expect_rc 0 banger daemon start
done
expect_eq "$(_e2e_netns_helpers | wc -l)" 1 "banger-helpers running after 3 start/stop cycles"

# -- a symlinked state directory: root hands nothing behind it to the owner ---
e2e_instance symtop
mkdir -p "$E2E_TMP/rootdir"
echo root >"$E2E_TMP/rootdir/f"
ln -s "$E2E_TMP/rootdir" "$XDG_STATE_HOME/banger"
chown -h "$E2E_USER" "$XDG_STATE_HOME/banger"
expect_rc nonzero banger daemon start --no-network
expect_contains "$ERR" "$XDG_STATE_HOME/banger" "daemon start with a symlinked state dir"
expect_contains "$ERR" "symlink" "daemon start with a symlinked state dir"
expect_eq "$(stat -c '%u' "$E2E_TMP/rootdir" "$E2E_TMP/rootdir/f" | sort -u)" 0 \
  "owner of the directory behind the symlink and of its file"

# -- a symlinked bangerd.log: root neither writes nor shows the target -------
e2e_instance logsym
echo "top secret" >"$E2E_TMP/secret"
chmod 600 "$E2E_TMP/secret"
as_uid "$owner_uid" mkdir -p "$XDG_STATE_HOME/banger"
as_uid "$owner_uid" ln -s "$E2E_TMP/secret" "$XDG_STATE_HOME/banger/bangerd.log"
expect_rc nonzero banger daemon start --no-network
expect_contains "$ERR" "bangerd.log" "daemon start with a symlinked log"
expect_not_contains "$ERR" "top secret" "daemon start with a symlinked log"
expect_eq "$(cat "$E2E_TMP/secret")" "top secret" "root file behind a symlinked bangerd.log"
expect_eq "$(stat -c '%u %a' "$E2E_TMP/secret")" "0 600" "owner and mode of that file"

# -- /tmp/banger-UID taken by another user, with a fake daemon in it ---------
vdir=$E2E_TMP/victim
mkdir -p "$vdir"
chown "$VICTIM:$VICTIM" "$vdir"
as_uid "$ATTACKER" mkdir -m 0777 "/tmp/banger-$VICTIM"
start_fake "$ATTACKER" "/tmp/banger-$VICTIM/bangerd.sock" "$E2E_TMP/att/got-fallback"
run env -u XDG_RUNTIME_DIR HOME="$vdir" XDG_STATE_HOME="$vdir/state" XDG_CONFIG_HOME="$vdir/config" \
  setpriv --reuid="$VICTIM" --regid="$VICTIM" --clear-groups -- "$BANGER_BIN_DIR/banger" vm list
expect_ne "$RC" 0 "vm list with /tmp/banger-$VICTIM made by uid $ATTACKER"
expect_contains "$ERR" "/tmp/banger-$VICTIM belongs to uid $ATTACKER" "vm list error"
expect_eq "$(cat "$E2E_TMP/att/got-fallback" 2>/dev/null)" "" "what the fake daemon received"

# -- a shared runtime dir: the CLI talks only to a daemon of its own uid ------
mkdir -m 1777 "$E2E_TMP/shared"
as_uid "$ATTACKER" mkdir -m 0777 "$E2E_TMP/shared/banger"
start_fake "$ATTACKER" "$E2E_TMP/shared/banger/bangerd.sock" "$E2E_TMP/att/got-shared"
run env HOME="$vdir" XDG_RUNTIME_DIR="$E2E_TMP/shared" XDG_STATE_HOME="$vdir/state" \
  XDG_CONFIG_HOME="$vdir/config" \
  setpriv --reuid="$VICTIM" --regid="$VICTIM" --clear-groups -- "$BANGER_BIN_DIR/banger" vm list
expect_ne "$RC" 0 "vm list against uid $ATTACKER's socket"
expect_contains "$ERR" "runs as uid $ATTACKER" "vm list error"
expect_eq "$(cat "$E2E_TMP/att/got-shared" 2>/dev/null)" "" "what the fake daemon received"

# -- bangerd talks only to a root banger-helper ------------------------------
e2e_instance fakehelper
start_fake "$ATTACKER" "$E2E_TMP/att/helper.sock" "$E2E_TMP/att/got-helper"
as_uid "$owner_uid" env "$BANGER_BIN_DIR/bangerd" --helper-socket "$E2E_TMP/att/helper.sock" \
  --log-file "$XDG_STATE_HOME/bangerd.log" </dev/null >/dev/null 2>&1 &
e2e_track_pid $! bangerd
wait_until 30 test -S "$(daemon_socket)" || fail "bangerd with a fake helper did not start"
run banger daemon status --json
expect_contains "$OUT" "runs as uid $ATTACKER" "daemon status: network with a non-root helper"
expect_eq "$(cat "$E2E_TMP/att/got-helper" 2>/dev/null)" "" "what the fake helper received"
expect_rc 0 banger daemon stop

# -- root runs only a root-owned banger-helper -------------------------------
e2e_instance badbin
bad=$E2E_TMP/bin-bad
mkdir -p "$bad"
cp "$BANGER_BIN_DIR/banger" "$BANGER_BIN_DIR/bangerd" "$BANGER_BIN_DIR/banger-helper" "$bad/"
chown "$ATTACKER" "$bad/banger-helper"
run "$bad/banger" daemon start --owner "$E2E_USER"
expect_ne "$RC" 0 "daemon start with banger-helper owned by uid $ATTACKER"
expect_contains "$ERR" "$bad/banger-helper is owned by uid $ATTACKER" "daemon start error"
expect_contains "$ERR" "install -o root" "daemon start error"
chown root "$bad/banger-helper"
chmod g+w "$bad/banger-helper"
run "$bad/banger" daemon start --owner "$E2E_USER"
expect_ne "$RC" 0 "daemon start with a group-writable banger-helper"
expect_contains "$ERR" "writable by group or others" "daemon start error"
for pid in $(_e2e_netns_helpers); do
  [[ $(readlink "/proc/$pid/exe") != "$bad/banger-helper" ]] ||
    fail "a banger-helper from $bad runs (pid $pid)"
done

# -- a VM name from a reply never becomes an ssh option ----------------------
mkdir -m 700 -p "$E2E_TMP/fakeroot/banger"
start_fake 0 "$E2E_TMP/fakeroot/banger/bangerd.sock" "$E2E_TMP/att/got-ssh" \
  vmshow "-oProxyCommand=touch $E2E_TMP/pwned"
run env XDG_RUNTIME_DIR="$E2E_TMP/fakeroot" "$BANGER_BIN_DIR/banger" vm ssh box -- true
expect_ne "$RC" 0 "vm ssh to a VM named like an option"
expect_contains "$ERR" "VM name" "vm ssh error"
[[ ! -e $E2E_TMP/pwned.vm ]] || fail "ssh ran a ProxyCommand from a VM name in a reply"

e2e_pass
