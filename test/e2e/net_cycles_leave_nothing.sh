#!/usr/bin/env bash
# 50 create/delete cycles (vm run --rm --nat: a TAP lease, an address, a NAT
# rule and a DNS name each) leave no TAP, rule, address or process behind.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

prefix=$(sed -n 's/^tap_prefix = "\(.*\)"$/\1/p' "$XDG_CONFIG_HOME/banger/config.toml")
taps() { ip -o link show type tun 2>/dev/null | grep -c ": ${prefix}" || true; }
qemus() { _e2e_netns_vmms | grep -c . || true; }

cycles=${E2E_CYCLES:-50}
for ((i = 1; i <= cycles; i++)); do
  run banger vm run --rm --nat --name "cycle$i" -- cat /proc/sys/kernel/hostname
  if [[ $RC -ne 0 || $OUT != "cycle$i"$'\n' ]]; then
    fail "cycle $i: $(_e2e_describe_run)"
    break
  fi
done

expect_eq "$(vm_count)" 0 "no VM rows"
expect_eq "$(nft list table ip banger 2>/dev/null | grep -c masquerade || true)" 0 "no NAT rules"
wait_until 10 test "$(qemus)" -eq 0 || fail "VMMs still run: $(_e2e_netns_vmms | tr '\n' ' ')"
# Only the warm pool (tap_pool = 1) may hold a TAP while the daemon runs...
wait_until 10 test "$(taps)" -le 1 || fail "$(taps) TAPs left while the pool keeps 1: $(ip -o link show type tun)"
# ...and the first address is free again: nothing kept a lease.
must expect_rc 0 banger vm create --name last
expect_eq "$(vm_field last 'd["ip"]')" "$(instance_net_prefix)2" "the first address is free again"
expect_rc 0 banger vm delete -f last
# A stopped daemon deletes its idle TAPs too.
must expect_rc 0 banger daemon stop
wait_until 10 test "$(taps)" -eq 0 || fail "TAPs left after daemon stop: $(ip -o link show type tun)"
expect_rc 0 banger daemon start
expect_nothing_left
e2e_pass
