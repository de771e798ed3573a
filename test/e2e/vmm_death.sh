#!/usr/bin/env bash
# A VMM that dies on its own (kill -9 of the qemu pid from `vm show --json`):
# the VM is marked stopped, with a last_error saying the VMM exited, within
# 1 s - checked with a 1.5 s deadline (the property is 1 s; 0.5 s slack for a
# host loaded by TCG guests) - and its TAP and NAT rule are released; then
# `vm start` boots it again and exec works.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=resilience_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/resilience_lib.sh"
e2e_enter_netns "$@"
e2e_setup

must expect_rc 0 banger vm create --name box --nat --memory 128
qpid=$(vm_field box 'd["pid"]') || abort "no pid for box: $qpid"
id=$(vm_field box 'd["id"]') || abort "no id for box: $id"
[[ $(proc_cmdline "$qpid") == *"banger-$id"* ]] || abort "pid $qpid is not box's VMM: $(proc_cmdline "$qpid")"
expect_eq "$(nat_count)" 1 "box's NAT rule"
expect_eq "$(tap_count)" 2 "box's TAP and the warm pool's"

start_ns=$(date +%s%N)
kill -9 "$qpid"
state="" ms=0
while :; do
  state=$(vm_field box 'd["state"]' 2>&1) || true
  ms=$((($(date +%s%N) - start_ns) / 1000000))
  [[ $state == stopped || $ms -gt 1500 ]] && break
  sleep 0.02
done
echo "  vmm death: box marked '$state' ${ms} ms after kill -9 of its VMM" >&2
expect_eq "$state" stopped "box's state within 1.5 s of its VMM's death (took ${ms} ms)"
expect_contains "$(vm_field box 'd["last_error"]' 2>&1)" "VMM exited" "box's last_error"
expect_eq "$(vm_field box 'd["pid"]' 2>&1)" 0 "box's pid once stopped"
wait_until 2 taps_are 1 || fail "box's TAP not released: $(tap_list)"
wait_until 2 nat_rules_are 0 || fail "box's NAT rule not removed"
expect_consistent "after the VMM died"

must expect_rc 0 banger vm start box
expect_rc 0 banger vm exec box -- echo ok
expect_eq "$OUT" $'ok\n' "exec after vm start"
expect_rc 0 banger vm delete -f box
expect_nothing_left
e2e_pass
