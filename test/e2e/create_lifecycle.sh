#!/usr/bin/env bash
# A long-lived dev box: create with resources, list/show, exec (exit codes,
# stdin), stop, exec refused while stopped, start again with the disk kept,
# delete refused while running unless -f.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

must expect_rc 0 banger vm create --name box --vcpu 2 --memory 320
expect_match "$OUT" '(^|[^0-9.])ready in [0-9.]+s' "vm create output"

expect_rc 0 banger vm list
expect_match "$OUT" $'(^|\n)box +running( |\n)' "vm list table row of box"

expect_rc 0 banger vm list --json
expect_json "$OUT" '[v["name"] for v in d["vms"]]' '["box"]' "vm list --json names"
expect_json "$OUT" '[(v["vcpu"], v["memory_mib"], v["state"]) for v in d["vms"]]' \
  '[[2, 320, "running"]]' "vm list --json vcpu/memory_mib/state"

expect_rc 0 banger vm show box --json
show=$OUT
expect_json "$show" 'd["name"]' box "vm show --json name"
expect_json "$show" 'd["state"]' running "vm show --json state"
expect_json "$show" 'd["vcpu"]' 2 "vm show --json vcpu"
expect_json "$show" 'd["memory_mib"]' 320 "vm show --json memory_mib"
expect_json "$show" 'sorted(d)' \
  '["boot_ms", "created_at", "dir", "disk_bytes", "host_files", "id", "image", "ip", "kernel", "last_error", "mac", "memory_mib", "name", "nat", "pid", "root_disk_used", "stages", "started_at", "state", "vcpu", "work_disk_used"]' \
  "vm show --json fields"

qpid=$(vm_qemu_pid box) || abort "no VMM pid for box: $qpid"
expect_proc_alive "$qpid" "box's VMM"
expect_json "$show" 'd["pid"]' "$qpid" "vm show --json pid vs qemu.pid"

expect_rc 0 banger vm exec box -- nproc
expect_eq "$OUT" $'2\n' "guest nproc"
expect_rc 7 banger vm exec box -- sh -c 'exit 7'
expect_rc 0 banger vm exec box -i -- cat < <(echo hi)
expect_eq "$OUT" $'hi\n' "echo hi | vm exec -i -- cat"

# A file written before the stop must survive it.
expect_rc 0 banger vm exec box -- sh -c 'echo kept > /root/e2e-marker && sync'

expect_rc 0 banger vm stop box
expect_eq "$(vm_field box 'd["state"]' 2>&1)" stopped "state after vm stop"
expect_proc_gone "$qpid" "box's VMM after vm stop"

expect_rc nonzero banger vm exec box -- true
expect_eq "$(line_count "$ERR")" 1 "lines on stderr of exec on a stopped VM (stderr: $ERR)"
expect_contains "$ERR" stopped "exec on a stopped VM: error"
expect_contains "$ERR" box "exec on a stopped VM: error"

must expect_rc 0 banger vm start box
expect_eq "$(vm_field box 'd["state"]' 2>&1)" running "state after vm start"
expect_rc 0 banger vm exec box -- cat /root/e2e-marker
expect_eq "$OUT" $'kept\n' "file written before stop, read after start"
expect_rc 0 banger vm exec box -- nproc
expect_eq "$OUT" $'2\n' "guest nproc after restart"
qpid2=$(vm_qemu_pid box) || fail "no VMM pid after restart: $qpid2"

expect_rc nonzero banger vm delete box
expect_eq "$(line_count "$ERR")" 1 "lines on stderr of delete on a running VM (stderr: $ERR)"
expect_eq "$(vm_field box 'd["state"]' 2>&1)" running "state after refused delete"
expect_proc_alive "$qpid2" "box's VMM after refused delete"

expect_rc 0 banger vm delete -f box
expect_proc_gone "$qpid2" "box's VMM after delete -f"
expect_nothing_left
e2e_pass
