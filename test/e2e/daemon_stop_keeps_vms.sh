#!/usr/bin/env bash
# Stopping the daemon leaves VMs running; the next daemon finds them again.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

must expect_rc 0 banger vm create --name box
qpid=$(vm_qemu_pid box) || abort "no VMM pid for box: $qpid"
dpid=$(tr -dc 0-9 <"$(daemon_pid_file)")

expect_rc 0 banger daemon stop
expect_daemon_exits "$dpid"
expect_proc_alive "$qpid" "box's VMM after daemon stop"
expect_rc nonzero banger daemon status

must expect_rc 0 banger daemon start
expect_eq "$(vm_field box 'd["state"]' 2>&1)" running "box state after daemon restart"
expect_eq "$(vm_field box 'd["pid"]' 2>&1)" "$qpid" "box pid after daemon restart"
expect_rc 0 banger vm exec box -- echo ok
expect_eq "$OUT" $'ok\n' "exec after daemon restart"
expect_proc_alive "$qpid" "box's VMM after daemon restart"

expect_rc 0 banger vm delete -f box
expect_proc_gone "$qpid" "box's VMM after delete -f"
expect_nothing_left
e2e_pass
