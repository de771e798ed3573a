#!/usr/bin/env bash
# Boots the default kernel + image under QEMU microvm (TCG) with a NIC, the
# network keys on the kernel command line and SSH material over fw_cfg, the
# way bangerd does, and checks: the guest answers ping, `ssh root@GUEST true`
# works with the provisioned host key checked strictly, and the agent's
# "ports" lists dropbear on port 22.
#   scripts/net-smoke.sh KERNEL_DIR IMAGE_DIR BIN_DIR
# KERNEL_DIR from build-kernel.sh, IMAGE_DIR from build-image.sh, BIN_DIR
# holds banger-agent-probe and banger-vm-hostkey (build/bin).
#
# Needs root for `ip netns`. Everything network happens inside a network
# namespace this script creates (bridge 10.231.0.1/24, TAP, the guest at
# 10.231.0.2) and deletes on exit, success or not; the default namespace is
# never touched. Only the QEMU this script started is killed, by its pid.
set -euo pipefail

die() {
  echo "net-smoke: FAIL: $*" >&2
  if [[ -n "${tmp:-}" && -f "$tmp/serial.log" ]]; then
    echo "--- serial console ---" >&2
    tail -n 40 "$tmp/serial.log" >&2
  fi
  exit 1
}

[[ $# -eq 3 ]] || { echo "usage: $0 KERNEL_DIR IMAGE_DIR BIN_DIR" >&2; exit 2; }
kernel_dir="$(cd "$1" && pwd)"
image_dir="$(cd "$2" && pwd)"
bin_dir="$(cd "$3" && pwd)"
probe="$bin_dir/banger-agent-probe"
hostkey="$bin_dir/banger-vm-hostkey"
for f in "$kernel_dir/vmlinux" "$kernel_dir/initrd.img" "$image_dir/rootfs.ext4"; do
  [[ -f "$f" ]] || die "$f is missing"
done
[[ -x "$probe" ]] || die "$probe is missing (build banger-agent-probe)"
[[ -x "$hostkey" ]] || die "$hostkey is missing (build banger-vm-hostkey)"
for tool in qemu-system-x86_64 qemu-img ip ssh ssh-keygen; do
  command -v "$tool" >/dev/null || die "'$tool' is missing"
done
# iputils' ping, or busybox's (busybox-static).
if command -v ping >/dev/null; then
  ping=(ping)
elif command -v busybox >/dev/null; then
  ping=(busybox ping)
else
  die "no ping (install iputils-ping or busybox-static)"
fi
[[ "$(id -u)" == 0 ]] || die "needs root (ip netns add)"

bridge_ip=10.231.0.1 guest_ip=10.231.0.2 prefix=24
mac=52:54:00:e7:00:02
ns="bgtest-$RANDOM-$$"
tmp="$(mktemp -d /tmp/banger-net-smoke.XXXXXX)"
qemu_pid=""
cleanup() {
  if [[ -n "$qemu_pid" ]]; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
in_ns() { ip netns exec "$ns" "$@"; }

# The namespace: lo, a bridge with the gateway address, a TAP on it.
ip netns add "$ns" || die "ip netns add $ns failed"
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns ip addr add "$bridge_ip/$prefix" dev br0
in_ns ip link set br0 up
in_ns ip tuntap add dev tap0 mode tap
in_ns ip link set tap0 master br0
in_ns ip link set tap0 up

# Per-VM SSH material, as the daemon makes it.
ssh-keygen -q -t ed25519 -N "" -C net-smoke -f "$tmp/id_ed25519" || die "ssh-keygen failed"
host_pub="$("$hostkey" "$tmp")" || die "banger-vm-hostkey failed"
echo "$guest_ip $host_pub" >"$tmp/known_hosts"
cp "$tmp/id_ed25519.pub" "$tmp/authorized_keys"

qemu-img create -q -f qcow2 -b "$image_dir/rootfs.ext4" -F raw "$tmp/overlay.qcow2" \
  || die "qemu-img create failed"
mhz="$(awk -F: '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)"
khz="$(awk -v m="$mhz" 'BEGIN { printf "%d", m * 1000 }')"
[[ "$khz" -gt 0 ]] || die "cannot read the CPU MHz from /proc/cpuinfo"

cd "$tmp"
start_ms="$(date +%s%3N)"
# ip netns exec execs QEMU: $! is QEMU's pid.
ip netns exec "$ns" qemu-system-x86_64 \
  -M microvm,x-option-roms=off,isa-serial=on,rtc=on -accel tcg -cpu max -m 256 -smp 1 \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kernel_dir/vmlinux" -initrd "$kernel_dir/initrd.img" \
  -append "console=ttyS0 reboot=t panic=-1 quiet cryptomgr.notests pci=off tsc_early_khz=$khz root=/dev/vda rootfstype=ext4 rw banger.hostname=box banger.ip=$guest_ip/$prefix banger.gw=$bridge_ip banger.dns=$bridge_ip banger.mac=$mac" \
  -drive id=d0,file=overlay.qcow2,format=qcow2,if=none -device virtio-blk-device,drive=d0 \
  -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
  -device virtio-net-device,netdev=n0,mac=$mac \
  -fw_cfg name=opt/banger/authorized_keys,file=authorized_keys \
  -fw_cfg name=opt/banger/ssh_host_ed25519_key,file=ssh_host_ed25519_key \
  -fw_cfg name=opt/banger/ssh_host_ed25519_key.pub,file=ssh_host_ed25519_key.pub \
  -fw_cfg name=opt/banger/dropbear_ed25519_host_key,file=dropbear_ed25519_host_key \
  -device virtio-serial-device -chardev socket,id=c0,path=agent.sock,server=on,wait=off \
  -device virtserialport,chardev=c0,name=org.banger.agent \
  -serial file:serial.log -qmp unix:qmp.sock,server=on,wait=off \
  </dev/null >qemu.log 2>&1 &
qemu_pid=$!

# 1. The agent answers.
"$probe" agent.sock --timeout-ms 60000 >/dev/null 2>probe.err \
  || die "the agent did not answer: $(cat probe.err)"
agent_ms=$(( $(date +%s%3N) - start_ms ))

# 2. The guest answers ping (banger-init configures the NIC right after the
#    agent starts).
ok=""
for _ in $(seq 1 20); do
  if in_ns "${ping[@]}" -c 1 -W 1 "$guest_ip" >/dev/null 2>&1; then ok=1; break; fi
done
[[ -n "$ok" ]] || die "$guest_ip does not answer ping from the namespace"
grep -q "banger-init: network: eth0 ($mac) $guest_ip/$prefix, default via $bridge_ip" serial.log \
  || die "banger-init did not log the network setup"

# 3. SSH with the provisioned host key, checked strictly (dropbear starts
#    from the image's rcS, a little after the network).
ssh_opts=(-F /dev/null -i "$tmp/id_ed25519" -o "UserKnownHostsFile=$tmp/known_hosts"
  -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes
  -o ConnectTimeout=5)
ok=""
for _ in $(seq 1 30); do
  if in_ns ssh "${ssh_opts[@]}" "root@$guest_ip" true 2>ssh.err; then ok=1; break; fi
  sleep 0.5
done
[[ -n "$ok" ]] || die "ssh root@$guest_ip true failed: $(cat ssh.err)"
ssh_ms=$(( $(date +%s%3N) - start_ms ))
out="$(in_ns ssh "${ssh_opts[@]}" "root@$guest_ip" 'hostname; cat /etc/resolv.conf /etc/hosts; ls -ld /root/.ssh /root/.ssh/authorized_keys')" \
  || die "ssh command failed"
grep -q "^nameserver $bridge_ip$" <<<"$out" || die "resolv.conf lacks nameserver $bridge_ip: $out"
grep -q "^search vm$" <<<"$out" || die "resolv.conf lacks 'search vm': $out"
grep -q "^$guest_ip box$" <<<"$out" || die "/etc/hosts lacks '$guest_ip box': $out"
grep -q "^drwx------ .* /root/.ssh$" <<<"$out" || die "/root/.ssh is not 0700: $out"
grep -q "^-rw------- .* /root/.ssh/authorized_keys$" <<<"$out" || die "authorized_keys is not 0600: $out"

# 4. The agent's ports list dropbear on 22.
"$probe" agent.sock --quiet --ports >ports.txt 2>probe.err || die "ports failed: $(cat probe.err)"
grep -Eq "^tcp6? [^ ]+ 22 [1-9][0-9]* dropbear$" ports.txt \
  || die "ports does not list dropbear on 22: $(cat ports.txt)"

echo "net-smoke: OK (agent after ${agent_ms} ms, ssh after ${ssh_ms} ms)"
echo "banger-init said:"
grep "banger-init:" serial.log | sed 's/^/  /'
echo "ports:"
sed 's/^/  /' ports.txt
