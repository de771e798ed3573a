#!/usr/bin/env bash
# Two VMs on banger's bridge: each gets its own address, they ping each other
# and find each other as <name>.vm through the daemon's DNS; the host reaches
# a port a guest listens on, and `vm ports` lists it.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

net=$(instance_net_prefix)
run banger daemon status --json
must expect_json "$OUT" 'd["network"].split(",")[0]' "bridge $(instance_bridge) ${net}1/24" "daemon network"
expect_json "$OUT" 'd["uid"] != 0' "true" "daemon runs unprivileged"

must expect_rc 0 banger vm create --name alpha
must expect_rc 0 banger vm create --name beta
ip_a=$(vm_field alpha 'd["ip"]')
ip_b=$(vm_field beta 'd["ip"]')
expect_match "$ip_a" "^${net//./\\.}[0-9]+$" "alpha's address"
expect_match "$ip_b" "^${net//./\\.}[0-9]+$" "beta's address"
expect_ne "$ip_a" "$ip_b" "two VMs, two addresses"
expect_eq "$(vm_field alpha 'd["mac"]')" "$(printf '02:62:67:%02x:%02x:%02x' 231 "$(cut -d. -f3 <<<"$ip_a")" "$(cut -d. -f4 <<<"$ip_a")")" "alpha's MAC follows its address"

# Inside the guest: its own address on eth0, the bridge as gateway.
expect_rc 0 banger vm exec alpha -- ip -4 -o addr show dev eth0
expect_contains "$OUT" "inet ${ip_a}/24" "alpha's eth0"
expect_rc 0 banger vm exec alpha -- ip route
expect_contains "$OUT" "default via ${net}1" "alpha's default route"

# Guest to guest, by address and by name.
expect_rc 0 banger vm exec alpha -- ping -c 1 -W 5 "$ip_b"
expect_rc 0 banger vm exec beta -- ping -c 1 -W 5 "$ip_a"
expect_rc 0 banger vm exec alpha -- nslookup beta.vm
expect_contains "$OUT" "$ip_b" "alpha resolves beta.vm"
expect_rc 0 banger vm exec beta -- ping -c 1 -W 5 alpha.vm
expect_rc nonzero banger vm exec alpha -- nslookup nosuchvm.vm

# Host to guest: the daemon's DNS answers on the bridge address too.
dns_query() {
  python3 - "$1" "$2" <<'PY'
import random, socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, (server, 53))
r = s.recv(512)
rcode = r[3] & 0xF
if rcode:
    print("rcode=%d" % rcode)
else:
    print(".".join(str(b) for b in r[-4:]))
PY
}
expect_eq "$(dns_query "${net}1" beta.vm 2>&1)" "$ip_b" "host resolves beta.vm"
expect_eq "$(dns_query "${net}1" nosuchvm.vm 2>&1)" "rcode=3" "unknown .vm name is NXDOMAIN"

# A listener in the guest, seen by `vm ports` and reached from the host.
must expect_rc 0 banger vm exec beta -- sh -c 'mkdir -p /tmp/www && echo hello-from-beta >/tmp/www/index.html && httpd -p 8080 -h /tmp/www'
run banger vm ports beta --json
expect_json "$OUT" '[p["process"] for p in d["ports"] if p["port"] == 8080 and p["proto"] in ("tcp", "tcp6")][:1]' '["httpd"]' "vm ports lists httpd on 8080"
expect_json "$OUT" '[p["process"] for p in d["ports"] if p["port"] == 22][:1]' '["dropbear"]' "vm ports lists sshd on 22"
expect_rc 0 banger vm ports beta
expect_contains "$OUT" "beta.vm:8080" "vm ports table"
got=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen("http://%s:8080/" % sys.argv[1], timeout=5).read().decode().strip())' "$ip_b" 2>&1)
expect_eq "$got" "hello-from-beta" "host fetches the guest's port"

# A stopped VM no longer answers in DNS; its address stays its own.
must expect_rc 0 banger vm stop beta
expect_eq "$(dns_query "${net}1" beta.vm 2>&1)" "rcode=3" "stopped VM is not in DNS"
expect_eq "$(vm_field beta 'd["ip"]')" "$ip_b" "address kept while stopped"
must expect_rc 0 banger vm start beta
expect_eq "$(dns_query "${net}1" beta.vm 2>&1)" "$ip_b" "restarted VM is in DNS again"

expect_rc 0 banger vm delete -f alpha
expect_rc 0 banger vm delete -f beta
expect_nothing_left
e2e_pass
