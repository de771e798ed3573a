#!/usr/bin/env bash
# Guests on banger's bridge send only as themselves and reach the host only
# on the bridge's DNS port (banger-helper's guard rules, helper/README.md):
# a --no-nat guest that takes the --nat guest's address gets no frame past
# the bridge (so no NAT, no impersonation), and a service listening on
# 0.0.0.0 in the host's namespace is out of the guests' reach while .vm DNS
# on the bridge still answers. Two VMs for every check.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

net=$(instance_net_prefix)
br=$(instance_bridge)
gw=${net}1
must expect_rc 0 banger vm create --name natg --nat
must expect_rc 0 banger vm create --name plain # no NAT (the default)
ip_n=$(vm_field natg 'd["ip"]')
ip_p=$(vm_field plain 'd["ip"]')
mac_p=$(vm_field plain 'd["mac"]')
must expect_match "$mac_p" '^02:62:67:' "plain's MAC"

# Counters where frames reach the host's IP stack (after the bridge's own
# prerouting, where the helper's guard drops spoofed frames): plain's NIC
# claiming natg's address, and plain as itself.
must expect_rc 0 nft -f - <<NFT
table inet e2e_watch {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname "$br" ether saddr $mac_p ip saddr $ip_n counter comment "spoofed"
    iifname "$br" ether saddr $mac_p ip saddr $ip_p counter comment "honest"
  }
}
NFT
packets() {
  nft list chain inet e2e_watch pre | sed -n "s/.*packets \([0-9]*\) .*comment \"$1\".*/\1/p"
}

# Guest to guest still works, as itself.
expect_rc 0 banger vm exec plain -- ping -c 1 -W 5 "$ip_n"
# The host itself answers no ping from a guest (only DNS), but the frames
# arrive: that is the control for the spoofed ones below.
expect_rc nonzero banger vm exec plain -- ping -c 2 -W 1 -I "$ip_p" "$gw"
honest=$(packets honest)
expect_ne "${honest:-0}" 0 "plain's own frames reach the host"

# The attack: plain takes natg's address and sends from it.
run banger vm exec plain -- sh -c "ip addr add $ip_n/32 dev eth0 && ping -c 3 -W 1 -I $ip_n $gw; ip addr del $ip_n/32 dev eth0"
expect_eq "$(packets spoofed)" 0 "frames from plain with natg's address are dropped at the bridge"
# (Dropped before routing, so it never reaches natg's masquerade rule.)
expect_rc 0 banger vm exec plain -- ping -c 1 -W 5 "$ip_n"

# A host service on every address (in this namespace), reachable from the
# host itself but not from a guest.
python3 -m http.server 8099 --bind 0.0.0.0 --directory "$E2E_TMP" >/dev/null 2>&1 &
srv=$!
e2e_track_pid "$srv" http.server
wait_until 10 python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], 8099), 1)' "$gw" ||
  fail "the host's test service did not start"
expect_rc nonzero banger vm exec natg -- wget -q -T 3 -O /dev/null "http://$gw:8099/"
expect_rc nonzero banger vm exec plain -- wget -q -T 3 -O /dev/null "http://$gw:8099/"
# DNS on the bridge still answers them.
expect_rc 0 banger vm exec plain -- nslookup natg.vm
expect_contains "$OUT" "$ip_n" "plain resolves natg.vm through the bridge's DNS"
kill "$srv" 2>/dev/null || true

nft delete table inet e2e_watch
expect_rc 0 banger vm delete -f natg
expect_rc 0 banger vm delete -f plain
# The guard of both TAPs left with them.
expect_eq "$(nft list table bridge banger 2>/dev/null | grep -c 'jump tap_' || true)" 0 "no TAP bindings left"
expect_nothing_left
e2e_pass
