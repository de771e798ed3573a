#!/usr/bin/env bash
# NAT is opt-in and scoped to one guest: exactly one masquerade rule for its
# /32 while it runs, none after stop or delete (asserted on the ruleset; no
# traffic leaves the namespace). `vm ssh` reaches the guest with banger's key
# and keeps awkward arguments intact. The daemon survives a helper restart.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

# nat_rules IP: how many masquerade rules banger's table has for IP.
nat_rules() {
  local n
  n=$(nft list table ip banger 2>/dev/null | grep -c "ip saddr $1 .*masquerade") || true
  echo "${n:-0}"
}

must expect_rc 0 banger vm create --name natty --nat
ip=$(vm_field natty 'd["ip"]')
expect_eq "$(vm_field natty 'd["nat"]')" "true" "vm show nat"
expect_eq "$(nat_rules "$ip")" 1 "one rule while running"
must expect_rc 0 banger vm stop natty
expect_eq "$(nat_rules "$ip")" 0 "no rule while stopped"
must expect_rc 0 banger vm start natty
expect_eq "$(nat_rules "$ip")" 1 "one rule again after start (not two)"

# vm set only while stopped.
expect_rc nonzero banger vm set natty --no-nat
expect_contains "$ERR" "stop" "vm set on a running VM says to stop it"
must expect_rc 0 banger vm stop natty
expect_rc 0 banger vm set natty --no-nat
must expect_rc 0 banger vm start natty
expect_eq "$(nat_rules "$ip")" 0 "--no-nat: no rule"
must expect_rc 0 banger vm stop natty
expect_rc 0 banger vm set natty --nat
must expect_rc 0 banger vm start natty
expect_eq "$(nat_rules "$ip")" 1 "--nat again: one rule"

# ssh with banger's key and known_hosts; the arguments arrive as typed.
expect_rc 0 banger vm ssh natty -- printf '%s|' "a b" "it's" '$HOME' '' 'x"y' '*'
expect_eq "$OUT" 'a b|it'"'"'s|$HOME||x"y|*|' "vm ssh argument quoting"
expect_rc 3 banger vm ssh natty -- sh -c 'exit 3'
# `ssh natty.vm` through banger's ssh config (ProxyCommand via the daemon).
cfg=$(state_dir)/ssh/config
expect_rc 0 ssh -F "$cfg" -o BatchMode=yes natty.vm hostname
expect_eq "$OUT" $'natty\n' "ssh natty.vm with banger's config"

expect_rc 0 banger vm delete -f natty
expect_eq "$(nat_rules "$ip")" 0 "no rule after delete"
expect_eq "$(grep -c '^natty.vm ' "$(state_dir)/ssh/known_hosts" || true)" 0 "known_hosts entry dropped on delete"

# A recreated VM with the same name (and address) gets a new host key; ssh
# still works without prompting or complaining.
must expect_rc 0 banger vm create --name natty
expect_eq "$(vm_field natty 'd["ip"]')" "$ip" "the lowest free address is reused"
expect_rc 0 banger vm ssh natty -- true
expect_rc 0 banger vm delete -f natty

# The helper restarts (as after a crash); the daemon uses the new one.
hdir=$(helper_dir)
hpid=$(tr -dc '0-9' <"$hdir/helper.pid")
mapfile -d '' -t hargv <"/proc/$hpid/cmdline"
must expect_ne "${#hargv[@]}" 0 "helper command line"
# Restarted by hand, it has no daemon's lifeline to watch.
for i in "${!hargv[@]}"; do
  [[ ${hargv[$i]-} == --lifeline-fd ]] && unset 'hargv[i]' 'hargv[i+1]'
done
kill -TERM "$hpid"
wait_until 10 proc_gone "$hpid" || fail "helper $hpid did not stop"
"${hargv[@]}" >>"$hdir/helper.log" 2>&1 &
newpid=$!
echo "$newpid" >>"$E2E_TMP/helper_pids"
wait_until 10 test -S "$hdir/helper.sock" || fail "restarted helper has no socket"
expect_rc 0 banger vm run --rm --nat -- true
expect_eq "$(nft list table ip banger 2>/dev/null | grep -c masquerade || true)" 0 "no rule after vm run --rm --nat"

expect_nothing_left
e2e_pass
