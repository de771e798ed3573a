#!/usr/bin/env bash
# Boots the default kernel + image under QEMU microvm (TCG) and checks that
# banger-agent answers and runs commands. Builds nothing; no networking.
#   scripts/boot-smoke.sh KERNEL_DIR IMAGE_DIR BIN_DIR
# KERNEL_DIR from build-kernel.sh, IMAGE_DIR from build-image.sh, BIN_DIR
# holds banger-agent-probe (build/bin).
set -euo pipefail

die() {
  echo "boot-smoke: FAIL: $*" >&2
  if [[ -n "${tmp:-}" && -f "$tmp/serial.log" ]]; then
    echo "--- serial console ---" >&2
    tail -n 40 "$tmp/serial.log" >&2
  fi
  exit 1
}

[[ $# -eq 3 ]] || { echo "usage: $0 KERNEL_DIR IMAGE_DIR BIN_DIR" >&2; exit 2; }
kernel_dir="$(cd "$1" && pwd)"
image_dir="$(cd "$2" && pwd)"
probe="$(cd "$3" && pwd)/banger-agent-probe"
for f in "$kernel_dir/vmlinux" "$kernel_dir/initrd.img" "$image_dir/rootfs.ext4"; do
  [[ -f "$f" ]] || die "$f is missing"
done
[[ -x "$probe" ]] || die "$probe is missing (build banger-agent-probe)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing"

tmp="$(mktemp -d /tmp/banger-boot-smoke.XXXXXX)"
qemu_pid=""
cleanup() {
  if [[ -n "$qemu_pid" ]]; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

qemu-img create -q -f qcow2 -b "$image_dir/rootfs.ext4" -F raw "$tmp/overlay.qcow2" \
  || die "qemu-img create failed"

# Under TCG the guest needs the TSC frequency given (see ENVIRONMENT.md).
mhz="$(awk -F: '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)"
khz="$(awk -v m="$mhz" 'BEGIN { printf "%d", m * 1000 }')"
[[ "$khz" -gt 0 ]] || die "cannot read the CPU MHz from /proc/cpuinfo"

cd "$tmp"
start_ms="$(date +%s%3N)"
qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on,rtc=on -accel tcg -cpu max -m 256 -smp 1 \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kernel_dir/vmlinux" -initrd "$kernel_dir/initrd.img" \
  -append "console=ttyS0 reboot=t panic=-1 quiet cryptomgr.notests pci=off tsc_early_khz=$khz root=/dev/vda rootfstype=ext4 rw banger.hostname=box banger.id=abc123" \
  -drive id=d0,file=overlay.qcow2,format=qcow2,if=none -device virtio-blk-device,drive=d0 \
  -device virtio-serial-device -chardev socket,id=c0,path=agent.sock,server=on,wait=off \
  -device virtserialport,chardev=c0,name=org.banger.agent \
  -serial file:serial.log -qmp unix:qmp.sock,server=on,wait=off \
  </dev/null >qemu.log 2>&1 &
qemu_pid=$!

# 1. The agent answers; uname shows the guest's kernel and hostname.
out="$("$probe" agent.sock --timeout-ms 60000 -- uname -a 2>probe.err)" \
  || die "uname -a through the agent failed: $(cat probe.err)"
answered_ms="$(sed -n 's/.*agent answered after \([0-9]*\) ms.*/\1/p' probe.err)"
version="$(cat "$kernel_dir/version" 2>/dev/null || echo)"
[[ "$out" == "Linux box "* ]] || die "uname -a printed '$out', expected 'Linux box ...'"
[[ -z "$version" || "$out" == *"$version"* ]] || die "uname -a printed '$out', expected kernel $version"
grep -q "banger-init: handing over to /sbin/init" serial.log \
  || die "banger-init did not hand over to /sbin/init"

# 2. Exit codes come back as they are.
set +e
"$probe" agent.sock --quiet -- sh -c 'exit 42'
code=$?
"$probe" agent.sock --quiet -- no-such-program 2>nf.err
nf_code=$?
set -e
[[ $code -eq 42 ]] || die "sh -c 'exit 42' gave exit code $code"
[[ $nf_code -eq 127 ]] || die "a missing program gave exit code $nf_code, expected 127"
grep -q "no-such-program: command not found" nf.err || die "no 'command not found' message: $(cat nf.err)"

# 3. stdout and stderr are kept apart, argv is not re-split.
out="$("$probe" agent.sock --quiet -- sh -c 'echo "$1"; echo err >&2' sh 'a  b' 2>err.txt)"
[[ "$out" == "a  b" ]] || die "argv was mangled: got '$out'"
[[ "$(cat err.txt)" == "err" ]] || die "stderr was '$(cat err.txt)', expected 'err'"

total_ms=$(( $(date +%s%3N) - start_ms ))
echo "boot-smoke: OK (agent answered ${answered_ms:-?} ms after QEMU start; all checks ${total_ms} ms)"
