#!/usr/bin/env bash
# Crash safety: bangerd killed with SIGKILL in the middle of vm create, vm
# stop and vm delete -f, at the pause points of services/pause_point.hpp
# ($BANGER_PAUSE_AT makes the daemon block at one named stage and say so in
# $BANGER_PAUSE_FILE). For each stage: start the daemon with the pause point,
# run the verb, wait until it is paused, kill -9 the daemon (pid file),
# start a new daemon, and check that the VM is whole or gone:
#   create stages: the VM is gone (an unfinished create is undone) or
#                  running with exec working;
#   stop stages:   the VM is stopped (the next daemon finishes the stop) or
#                  running; either way `vm start` + exec work afterwards;
#   delete stages: the VM is gone (the next daemon finishes the delete) or
#                  stopped and whole (starts, execs);
# and always (expect_consistent): every row has its dir and every dir its
# row, the live VMMs in the namespace are exactly the running rows' pids, the
# TAPs are the running VMs' plus the warm pool, the NAT rules the running
# --nat VMs'. Last, banger-helper killed with SIGKILL while it answers a
# create's NAT request: the create fails with an error naming the helper and
# leaves no row or dir; after a daemon restart (which starts a new helper and
# drops the dead one's TAP and rule) the next create works.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=resilience_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/resilience_lib.sh"
e2e_enter_netns "$@"
e2e_setup

PAUSE_FILE=$XDG_RUNTIME_DIR/pause.log
: >"$PAUSE_FILE"
chown "$E2E_USER" "$PAUSE_FILE"
chmod 666 "$PAUSE_FILE"
VERB_OUT=$E2E_TMP/verb.out

# restart_daemon [STAGE]: stops (or finds dead) the daemon and starts a new
# one, with the pause point STAGE if given.
restart_daemon() {
  local stage=${1:-} pid
  pid=$(daemon_pid)
  if [[ -n $pid ]] && proc_alive "$pid"; then
    expect_rc 0 banger daemon stop
    expect_daemon_exits "$pid"
  fi
  if [[ -n $stage ]]; then
    export BANGER_PAUSE_AT=$stage BANGER_PAUSE_FILE=$PAUSE_FILE
  fi
  run banger daemon start
  unset BANGER_PAUSE_AT BANGER_PAUSE_FILE
  [[ $RC -eq 0 ]] || abort "daemon start${stage:+ with pause point $stage}: $(_e2e_describe_run)"
}

# crash_at STAGE VERB ARGS...: a daemon paused at STAGE, the verb run until
# the daemon pauses, kill -9, a new daemon.
crash_at() {
  local stage=$1 vpid
  shift
  restart_daemon "$stage"
  : >"$PAUSE_FILE"
  timeout -k 5 120 "$BANGER_BIN_DIR/banger" "$@" >"$VERB_OUT" 2>&1 &
  vpid=$!
  if ! wait_until 90 grep -q "^paused $stage " "$PAUSE_FILE"; then
    kill "$vpid" 2>/dev/null
    abort "$stage: the daemon never paused there ('$*' said: $(cat "$VERB_OUT"))"
  fi
  _e2e_record_pids
  kill9_daemon
  # The verb loses its daemon: it must end (with an error), not hang.
  local rc=0
  wait "$vpid" || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] || fail "$stage: '$*' exited $rc after its daemon died: $(cat "$VERB_OUT")"
  restart_daemon
  echo "  $stage: crashed during '$*'; new daemon up" >&2
}

# state_of NAME: its state, or "gone" when no row names it.
state_of() {
  local rows
  rows=$("$BANGER_BIN_DIR/banger" vm list --json) || { echo "vm-list-failed"; return 0; }
  json_get "$rows" "next((v['state'] for v in d['vms'] if v['name']=='$1'), 'gone')"
}

not_stopping() { [[ $(state_of "$1") != stopping ]]; }

expect_exec_ok() {
  expect_rc 0 banger vm exec "$1" -- echo ok
  expect_eq "$OUT" $'ok\n' "$2: exec in $1"
}

# -- create -------------------------------------------------------------------
i=0
for stage in create.after_row create.after_tap create.after_disks \
             create.after_launch create.before_ready; do
  i=$((i + 1))
  crash_at "$stage" vm create --name "c$i" --nat --memory 128
  st=$(state_of "c$i")
  case $st in
    gone) ;;
    running) expect_exec_ok "c$i" "$stage" ;;
    *) fail "$stage: VM c$i is '$st' after the restart: neither gone nor running" ;;
  esac
  expect_consistent "$stage"
  if [[ $st != gone ]]; then
    expect_rc 0 banger vm delete -f "c$i"
  fi
  # The name is free again, and a create works.
  [[ $i -eq 1 ]] && { expect_rc 0 banger vm create --name "c$i" --nat --memory 128; expect_exec_ok "c$i" "create after $stage"; expect_rc 0 banger vm delete -f "c$i"; }
done

# -- stop -----------------------------------------------------------------------
must expect_rc 0 banger vm create --name s --nat --memory 128
for stage in stop.after_sync stop.after_poweroff stop.after_vmm_exit; do
  [[ $(state_of s) == running ]] || must expect_rc 0 banger vm start s
  crash_at "$stage" vm stop s
  # The next daemon may still be finishing the stop.
  wait_until 30 not_stopping s || true
  st=$(state_of s)
  case $st in
    stopped | running) ;;
    *) fail "$stage: VM s is '$st' after the restart: neither stopped nor running" ;;
  esac
  expect_consistent "$stage"
  [[ $st == running ]] || expect_rc 0 banger vm start s
  expect_exec_ok s "$stage"
done
expect_rc 0 banger vm delete -f s

# -- delete -f ------------------------------------------------------------------
i=0
for stage in delete.after_vmm_kill delete.after_tap_release \
             delete.after_disk_removal delete.before_row_delete; do
  i=$((i + 1))
  must expect_rc 0 banger vm create --name "d$i" --nat --memory 128
  crash_at "$stage" vm delete -f "d$i"
  st=$(state_of "d$i")
  case $st in
    gone) ;;
    stopped)
      expect_consistent "$stage (d$i kept)"
      expect_rc 0 banger vm start "d$i"
      expect_exec_ok "d$i" "$stage"
      expect_rc 0 banger vm delete -f "d$i"
      ;;
    *) fail "$stage: VM d$i is '$st' after the restart: neither gone nor stopped" ;;
  esac
  expect_consistent "$stage"
done

# -- banger-helper killed mid-create --------------------------------------------
# The helper ends with its daemon: stop it, then start a daemon (and so a
# new helper) with the helper's pause point in its environment.
pid=$(daemon_pid)
expect_rc 0 banger daemon stop
expect_daemon_exits "$pid"
hpid=$(tr -dc 0-9 <"$(helper_dir)/helper.pid")
must expect_proc_gone "$hpid" "banger-helper after its daemon stopped" 10
restart_daemon helper.after_nat_add
: >"$PAUSE_FILE"
timeout -k 5 120 "$BANGER_BIN_DIR/banger" vm create --name h --nat --memory 128 >"$VERB_OUT" 2>&1 &
vpid=$!
wait_until 90 grep -q "^paused helper.after_nat_add " "$PAUSE_FILE" ||
  { kill "$vpid"; abort "the helper never paused ($(cat "$VERB_OUT"))"; }
_e2e_record_pids
hpid=$(tr -dc 0-9 <"$(helper_dir)/helper.pid")
[[ $(proc_cmdline "$hpid") == *banger-helper* ]] || abort "helper pid file names '$hpid', not a banger-helper"
kill -9 "$hpid"
must expect_proc_gone "$hpid" "banger-helper after kill -9" 10
rc=0
wait "$vpid" || rc=$?
expect_ne "$rc" 0 "vm create whose helper died"
expect_contains "$(cat "$VERB_OUT")" "banger-helper" "vm create error when the helper died"
expect_eq "$(state_of h)" gone "VM h after its create failed"
# The dead helper's TAP and rule stay until a helper runs again (only root
# can remove them); a daemon restart starts one and drops them.
restart_daemon
expect_consistent "after the helper died and the daemon restarted"
expect_rc 0 banger vm create --name h --nat --memory 128
expect_exec_ok h "create after the helper was replaced"
expect_rc 0 banger vm delete -f h
expect_consistent "the end"
expect_nothing_left
e2e_pass
