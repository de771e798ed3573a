#!/usr/bin/env bash
# The lifecycle verbs around start/stop: restart boots the guest afresh,
# kill ends a VM stopped (not error) with its VMM gone and a reason, prune
# deletes only VMs that do not run (and asks first), logs prints and follows
# the serial console.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

must expect_rc 0 banger vm create --name box
must expect_rc 0 banger vm create --name keep

# -- logs -------------------------------------------------------------------------
expect_rc 0 banger vm logs box
expect_contains "$OUT" "banger-init" "vm logs: the serial console"
run timeout --preserve-status -s INT 3 "$BANGER_BIN_DIR/banger" vm logs -f keep
expect_eq "$RC" 0 "vm logs -f ends cleanly on Ctrl-C"
expect_contains "$OUT" "banger-init" "vm logs -f prints the console"
expect_rc nonzero banger vm logs nosuch
expect_contains "$ERR" '"nosuch"' "vm logs of a missing VM names it"

# -- restart ----------------------------------------------------------------------
expect_rc 0 banger vm exec box -- cat /proc/sys/kernel/random/boot_id
boot1=$OUT
qpid=$(vm_qemu_pid box) || abort "no VMM pid for box: $qpid"
must expect_rc 0 banger vm restart box
expect_contains "$OUT" "box restarted, ready in" "vm restart output"
expect_proc_gone "$qpid" "the old VMM after restart"
expect_rc 0 banger vm exec box -- cat /proc/sys/kernel/random/boot_id
expect_ne "$OUT" "$boot1" "a fresh boot id after vm restart"

# -- kill -------------------------------------------------------------------------
expect_rc nonzero banger vm kill box --signal USR1
expect_contains "$ERR" "KILL (default), TERM, INT or HUP" "an unknown signal is refused"
expect_eq "$(vm_field box 'd["state"]')" running "a refused kill leaves the VM running"
qpid=$(vm_qemu_pid box) || abort "no VMM pid for box: $qpid"
expect_rc 0 banger vm kill box
expect_contains "$OUT" "box killed (stopped)" "vm kill output"
expect_proc_gone "$qpid" "box's VMM after vm kill"
expect_eq "$(vm_field box 'd["state"]')" stopped "vm kill ends stopped, not error"
expect_contains "$(vm_field box 'd["last_error"]')" "SIGKILL" "vm show says how it ended"
expect_rc nonzero banger vm kill box
expect_contains "$ERR" "stopped" "kill of a stopped VM is refused"
must expect_rc 0 banger vm start box
qpid=$(vm_qemu_pid box) || abort "no VMM pid for box: $qpid"
expect_rc 0 banger vm kill box -s TERM
expect_proc_gone "$qpid" "box's VMM after vm kill -s TERM"
expect_contains "$(vm_field box 'd["last_error"]')" "SIGTERM" "kill -s TERM is recorded"

# -- prune ------------------------------------------------------------------------
run "$BANGER_BIN_DIR/banger" vm prune </dev/null
expect_eq "$RC" 1 "vm prune without a terminal and without -f"
expect_contains "$ERR" "box (stopped)" "vm prune lists what it would delete"
expect_contains "$ERR" "-f" "vm prune says how to go ahead"
expect_eq "$(vm_count)" 2 "nothing deleted without -f"
expect_rc 0 banger vm prune -f
expect_contains "$OUT" "deleted box" "vm prune -f deletes the stopped VM"
expect_not_contains "$OUT" "keep" "vm prune never touches a running VM"
expect_eq "$(vm_field keep 'd["state"]')" running "keep still runs"
expect_rc 0 banger vm prune -f
expect_contains "$OUT" "nothing to prune" "prune with only running VMs"

expect_rc 0 banger vm delete -f keep
expect_nothing_left
e2e_pass
