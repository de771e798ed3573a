#!/usr/bin/env bash
# An image like a container's: busybox's shell and applets, /etc/passwd, and
# NO init and NO sshd. banger-init stays PID 1, the agent answers, and SSH
# works through the dropbear banger-init carries (with ptys), restarted when
# it dies; the image file itself is not changed by running it. The same image
# with an init (busybox's) but still no sshd: SSH works too, PID 1 is the
# image's init.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
command -v busybox >/dev/null || e2e_skip "no busybox (apt-get install busybox-static)"
e2e_setup

# The image: /bin/busybox + applet links, passwd, the mount points banger-init
# moves /dev, /proc and /sys to. No /sbin/init, /run, /tmp or /root.
tiny=$E2E_TMP/tiny
mkdir -p "$tiny/bin" "$tiny/etc" "$tiny/dev" "$tiny/proc" "$tiny/sys"
cp "$(command -v busybox)" "$tiny/bin/busybox"
LC_ALL=C readelf -l "$tiny/bin/busybox" | grep -q "program interpreter" &&
  abort "$(command -v busybox) is dynamically linked: install busybox-static (scripts/deps.sh)"
for applet in $("$tiny/bin/busybox" --list); do
  case $applet in init | linuxrc | busybox) continue ;; esac
  ln -s busybox "$tiny/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tiny/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' >"$tiny/etc/group"
must test ! -e "$tiny/sbin/init"
mke2fs -q -t ext4 -d "$tiny" -F "$E2E_TMP/tiny.ext4" 64M || abort "mke2fs -d $tiny failed"
chmod 644 "$E2E_TMP/tiny.ext4"

must expect_rc 0 banger image import tiny --rootfs "$E2E_TMP/tiny.ext4" --kernel default
run banger image show tiny --json
stored=$(json_get "$OUT" 'd["rootfs"]') || abort "image show tiny: $stored"
before=$(sha256sum <"$stored")

must expect_rc 0 banger vm create --name bare --image tiny
# PID 1 is banger-init itself (the kernel ran it as /init), not an image init.
expect_rc 0 banger vm exec bare -- sh -c "tr '\\0' ' ' </proc/1/cmdline"
expect_eq "$OUT" "/init " "PID 1's command line"
id=$(vm_field bare 'd["id"]')
expect_contains "$(cat "$(vms_dir)/$id/serial.log" 2>/dev/null)" "no init in image, staying PID 1" \
  "the console says banger-init stays PID 1"
expect_rc 0 banger vm exec bare -- sh -c 'echo $PATH'
expect_contains "$OUT" "/usr/sbin:/usr/bin:/sbin:/bin" "the agent's commands get a full PATH"

# What a container image expects to find mounted.
expect_rc 0 banger vm exec bare -- cat /proc/mounts
for want in " /dev/pts devpts " " /dev/shm tmpfs " " /run tmpfs "; do
  expect_contains "$OUT" "$want" "/proc/mounts"
done
expect_rc 0 banger vm exec bare -- test -d /tmp -a -c /dev/pts/ptmx -a -L /dev/fd
expect_rc 0 banger vm exec bare -- sh -c 'echo hi >/tmp/x && cat /tmp/x'
expect_eq "$OUT" $'hi\n' "/tmp is writable"

# SSH through the fallback dropbear, with banger's key and the VM's host key.
expect_rc 0 banger vm ssh bare -- echo ok
expect_eq "$OUT" $'ok\n' "vm ssh bare -- echo ok"
expect_rc 0 banger vm ssh bare -- id -u
expect_eq "$OUT" $'0\n' "ssh logs in as root"
cfg=$(state_dir)/ssh/config
expect_rc 0 ssh -F "$cfg" -o BatchMode=yes -tt bare.vm tty
expect_match "$OUT" '^/dev/pts/[0-9]+' "an ssh session with a pty"

# Killed, the fallback comes back (banger-init supervises it as PID 1).
run banger vm exec bare -- cat /run/banger/dropbear.pid
dpid=$(tr -dc '0-9' <<<"$OUT")
must expect_ne "$dpid" "" "dropbear's pid file"
expect_rc 0 banger vm exec bare -- kill "$dpid"
restarted() {
  run banger vm exec bare -- cat /run/banger/dropbear.pid
  [[ $RC -eq 0 && $(tr -dc '0-9' <<<"$OUT") != "$dpid" && -n $(tr -dc '0-9' <<<"$OUT") ]]
}
wait_until 20 restarted || fail "dropbear was not restarted within 20 s after kill $dpid"
expect_rc 0 banger vm ssh bare -- echo again
expect_eq "$OUT" $'again\n' "ssh after dropbear was restarted"

must expect_rc 0 banger vm stop bare
expect_rc 0 banger vm delete bare
expect_eq "$(sha256sum <"$stored")" "$before" "the image file is unchanged by running a VM of it"

# With an init but no sshd: banger-init starts dropbear, then hands over.
mkdir -p "$tiny/sbin"
ln -s ../bin/busybox "$tiny/sbin/init"
printf '::ctrlaltdel:/bin/reboot\n' >"$tiny/etc/inittab"
mke2fs -q -t ext4 -d "$tiny" -F "$E2E_TMP/tiny-init.ext4" 64M || abort "mke2fs -d $tiny failed"
chmod 644 "$E2E_TMP/tiny-init.ext4"
must expect_rc 0 banger image import tiny-init --rootfs "$E2E_TMP/tiny-init.ext4" --kernel default
must expect_rc 0 banger vm create --name withinit --image tiny-init
expect_rc 0 banger vm ssh withinit -- echo ok
expect_eq "$OUT" $'ok\n' "vm ssh withinit -- echo ok"
expect_rc 0 banger vm exec withinit -- readlink /proc/1/exe
expect_eq "$OUT" $'/bin/busybox\n' "PID 1 is the image's init (busybox)"
expect_rc 0 banger vm delete -f withinit
expect_nothing_left
e2e_pass
