#!/usr/bin/env bash
# A user boots guests that do not behave.
# 1. A container image built FROM scratch (a static busybox, /bin/cat, a
#    file; no /dev, /proc, /sys, /run, /tmp, /etc), pulled from a registry:
#    `vm run --rm --image ... -- cat /hello` prints the file, and the image's
#    own top level is not written (banger-init binds it into a tmpfs).
# 2. With a daemon whose boot timeout is short, three guests that never get
#    ready, booted at once: one whose agent holds its port open and never
#    reads it (the host's writes pile up), one with no agent at all, one
#    whose PID 1 exits (kernel panic, the VMM ends). Each `vm create` / `vm
#    run --rm` fails (never hangs) with an error naming the boot timeout or
#    the panic, the serial log and its last lines; nothing is left, and the
#    daemon's threads for those VMs are gone.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=oci.sh
source "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
e2e_enter_netns "$@"
command -v cc >/dev/null || e2e_skip "no C compiler (cc) to build the misbehaving guests"
command -v cpio >/dev/null || e2e_skip "no cpio to pack their initramfs"
e2e_setup
oci_registry_start

work=$E2E_TMP/bad
mkdir -p "$work"

# -- 1. a FROM-scratch image ---------------------------------------------------------
scratch=$work/scratch
mkdir -p "$scratch/bin"
oci_busybox "$scratch/bin/busybox"
ln -s busybox "$scratch/bin/cat"
echo "hello from scratch" >"$scratch/hello"
oci_layer "$scratch" "$work/scratch.tar.gz"
python3 "$OCI_HERE/oci_layout.py" "$work/layout" latest "amd64=$work/scratch.tar.gz" >/dev/null
oci_push "$work/layout" latest e2e/hello
must expect_rc 0 banger image pull "$OCI_REGISTRY/e2e/hello:latest" --name hello

expect_rc 0 banger vm run --rm --image hello -- cat /hello
expect_eq "$OUT" $'hello from scratch\n' "vm run --rm --image hello -- cat /hello"
expect_nothing_left

# Inside: the mount points exist, the image's own top level has none of them.
must expect_rc 0 banger vm create --name scratchy --image hello
bb=(banger vm exec scratchy -- /bin/busybox)
expect_rc 0 "${bb[@]}" sh -c 'test -c /dev/null && test -r /proc/self/stat && test -d /sys/class && test -d /run && test -d /tmp && echo ok'
expect_eq "$OUT" $'ok\n' "/dev, /proc, /sys, /run and /tmp in a scratch image"
expect_rc 0 "${bb[@]}" sh -c 'echo kept >/hello.new; echo edited >>/hello; cat /hello'
expect_eq "$OUT" $'hello from scratch\nedited\n' "the image's top-level file is writable"
# The root disk itself, mounted a second time (same flags, or the kernel
# refuses): only what the image has.
expect_rc 0 "${bb[@]}" sh -c 'dev=$(/bin/busybox awk '"'"'$2 == "/hello" {print $1}'"'"' /proc/mounts)
  /bin/busybox mkdir /tmp/disk && /bin/busybox mount "$dev" /tmp/disk && /bin/busybox ls -A /tmp/disk'
top=" $(tr '\n' ' ' <<<"$OUT")"
expect_contains "$top" " bin hello " "the root disk's top level"
for d in dev proc sys run tmp hello.new; do
  expect_not_contains "$top" " $d " "the root disk's top level (nothing created in it)"
done
expect_rc 0 banger vm delete -f scratchy

# -- 2. guests that never get ready ---------------------------------------------------
# The guests' pieces: real vmlinux, an initramfs of our own.
cc -static -O2 -o "$work/bad_guest" "$OCI_HERE/bad_guest.c" || abort "cc bad_guest.c failed"
mkkernel() { # NAME: a kernel dir with the real vmlinux and $work/NAME.d as initramfs
  mkdir -p "$work/$1.k"
  ln "$BANGER_KERNEL_DIR/vmlinux" "$work/$1.k/vmlinux" 2>/dev/null ||
    cp "$BANGER_KERNEL_DIR/vmlinux" "$work/$1.k/vmlinux"
  (cd "$work/$1.d" && find . | cpio -o -H newc --quiet) >"$work/$1.k/initrd.img" ||
    abort "cpio of $1 failed"
  chmod -R a+rX "$work/$1.k"
}
# panic: PID 1 exits. silent: PID 1 never starts an agent.
for k in panic silent; do
  mkdir -p "$work/$k.d"
  cp "$work/bad_guest" "$work/$k.d/init"
done
: >"$work/silent.d/silent"
# wedged: banger's own initramfs, its agent replaced.
mkdir -p "$work/wedged.d"
(cd "$work/wedged.d" && cpio -id --quiet <"$BANGER_KERNEL_DIR/initrd.img") ||
  abort "cannot unpack $BANGER_KERNEL_DIR/initrd.img"
cp "$work/bad_guest" "$work/wedged.d/banger-agent"
tiny=$work/tiny
mkdir -p "$tiny/bin"
cp "$scratch/bin/busybox" "$tiny/bin/busybox"
mke2fs -q -t ext4 -d "$tiny" -F "$work/tiny.ext4" 32M || abort "mke2fs -d $tiny failed"
chmod 644 "$work/tiny.ext4"
chmod 755 "$work"

# A second daemon, strict about boots.
E2E_EXTRA_CONFIG=$'[vm]\nboot_timeout = 60' e2e_setup_instance strict
for k in panic silent wedged; do
  mkkernel "$k"
  must expect_rc 0 banger kernel import "$k" --from "$work/$k.k"
  must expect_rc 0 banger image import "$k" --rootfs "$work/tiny.ext4" --kernel "$k"
done
dpid=$(tr -dc '0-9' <"$(daemon_pid_file)")
threads_before=$(ls "/proc/$dpid/task" | wc -l)

# All three at once; each must end by itself (the watchdog is far above).
started=$SECONDS
for k in silent panic; do
  timeout -k 5 150 "$BANGER_BIN_DIR/banger" vm create --name "$k" --image "$k" \
    >"$work/$k.out" 2>"$work/$k.err" &
  echo $! >"$work/$k.pid"
done
timeout -k 5 150 "$BANGER_BIN_DIR/banger" vm run --rm --name wedged --image wedged -- true \
  >"$work/wedged.out" 2>"$work/wedged.err" &
echo $! >"$work/wedged.pid"
for k in silent panic wedged; do
  rc=0
  wait "$(cat "$work/$k.pid")" || rc=$?
  err=$(cat "$work/$k.err")
  echo "  $k: rc $rc after $((SECONDS - started)) s: $err" >&2
  [[ $rc -ne 124 && $rc -ne 137 ]] || { fail "$k: the boot hung (killed after 150 s)"; continue; }
  [[ $rc -ne 0 ]] || fail "$k: expected the boot to fail, it succeeded"
  expect_contains "$err" "VM \"$k\" did not boot" "$k's error"
  expect_contains "$err" "/serial.log" "$k's error names the serial log"
  expect_not_contains "$err" $'\e' "$k's error (escaped for the terminal)"
done
expect_contains "$(cat "$work/silent.err")" "within the boot timeout of 60 s" "a guest with no agent"
expect_contains "$(cat "$work/wedged.err")" "within the boot timeout of 60 s" "a guest that never reads its channel"
expect_contains "$(cat "$work/wedged.err")" "bad_guest: holding /dev/vport" "the error quotes the console's last lines"
expect_contains "$(cat "$work/panic.err")" "Kernel panic" "a guest whose kernel panics: the console's last lines"

# The daemon answers, and nothing of these VMs is left: rows, dirs, VMMs,
# threads (the agent connections and their readers).
expect_rc 0 banger vm list
expect_nothing_left
threads_drop() { (($(ls "/proc/$dpid/task" | wc -l) <= threads_before)); }
wait_until 10 threads_drop ||
  fail "bangerd has $(ls "/proc/$dpid/task" | wc -l) threads, $threads_before before the failed boots"
e2e_pass
