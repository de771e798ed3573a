#!/usr/bin/env bash
# A daemon killed with SIGKILL leaves its VMs running; the next daemon adopts
# them. A VM whose VMM died while no daemon ran is found stopped, and boots
# again.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

must expect_rc 0 banger vm create --name box
qpid=$(vm_qemu_pid box) || abort "no VMM pid for box: $qpid"
box_id=$(vm_field box 'd["id"]') || abort "no id for box: $box_id"

dpid=$(tr -dc 0-9 <"$(daemon_pid_file)")
[[ $(proc_cmdline "$dpid") == *bangerd* ]] || abort "pid file names $dpid, not a bangerd"
kill -9 "$dpid"
must expect_proc_gone "$dpid" "bangerd after kill -9" 10
expect_proc_alive "$qpid" "box's VMM after bangerd was killed"

must expect_rc 0 banger daemon start
dpid2=$(tr -dc 0-9 <"$(daemon_pid_file)")
expect_ne "$dpid2" "$dpid" "new daemon pid"
expect_rc 0 banger vm list
expect_match "$OUT" $'(^|\n)box +running( |\n)' "vm list after adopt"
expect_eq "$(vm_field box 'd["pid"]' 2>&1)" "$qpid" "box pid after adopt"
expect_rc 0 banger vm exec box -- echo ok
expect_eq "$OUT" $'ok\n' "exec after adopt"

# The VMM dies while no daemon runs (it stays a zombie here: PID 1 does not
# reap); the next daemon must see it dead.
expect_rc 0 banger daemon stop
expect_daemon_exits "$dpid2"
expect_proc_alive "$qpid" "box's VMM after daemon stop"
[[ $(proc_cmdline "$qpid") == *"banger-$box_id"* ]] || abort "pid $qpid is not box's VMM"
kill -9 "$qpid"
must expect_proc_gone "$qpid" "box's VMM after kill -9" 10

must expect_rc 0 banger daemon start
expect_rc 0 banger vm show box --json
expect_json "$OUT" 'd["state"]' stopped "box state after its VMM died unobserved"
expect_rc nonzero banger vm exec box -- true

must expect_rc 0 banger vm start box
expect_eq "$(vm_field box 'd["state"]' 2>&1)" running "box state after vm start"
qpid3=$(vm_qemu_pid box) || fail "no VMM pid after vm start: $qpid3"
expect_ne "${qpid3:-}" "$qpid" "VMM pid after vm start"
expect_rc 0 banger vm exec box -- echo ok
expect_eq "$OUT" $'ok\n' "exec after vm start"

expect_rc 0 banger vm delete -f box
expect_nothing_left
e2e_pass
