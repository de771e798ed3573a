#!/usr/bin/env bash
# Configures a debootstrapped Debian root (ROOT) for banger VMs; called by
# build-debian-image.sh. banger-init does per VM, at every boot: hostname,
# eth0, /etc/resolv.conf, /etc/hosts, root's authorized_keys and the SSH host
# key (fw_cfg). So the image must not fight it: no /etc/hostname (systemd
# would replace banger-init's hostname with it), no network manager, no host
# keys of its own; and nothing may wait for hardware a microVM lacks.
#   configure-debian-image.sh ROOT MIRROR SECURITY_MIRROR
set -euo pipefail

die() {
  echo "configure-debian-image: $*" >&2
  exit 1
}
[[ $# -eq 3 ]] || die "usage: $0 ROOT MIRROR SECURITY_MIRROR"
root="$1" mirror="$2" security_mirror="$3"
[[ -n "$root" && "$root" != / && -x "$root/lib/systemd/systemd" ]] \
  || die "$root is not a debootstrapped systemd root"

# apt: the same mirror, with updates and security, in deb822 form.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# Keep the image lean; `apt-get update` fetches the lists in the VM.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
find "$root/var/cache/apt/archives" -name '*.deb' -delete

# Identity comes from banger-init: the hostname from the kernel command line
# (systemd keeps a set hostname when /etc/hostname is absent), resolv.conf
# from banger.dns (debootstrap copied this machine's), a machine id per boot
# (an empty file makes systemd generate one).
rm -f "$root/etc/hostname" "$root/etc/resolv.conf" "$root/var/lib/dbus/machine-id"
: >"$root/etc/machine-id"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
HOSTS
# banger-init mounts / (the VM's disk) from the kernel command line; with no
# fstab systemd-remount-fs has nothing to do and is skipped.
rm -f "$root/etc/fstab"

# SSH: root by key only, with the ed25519 host key banger-init installs from
# fw_cfg. The keys openssh-server generated at install time would be the
# same in every VM: they go. Without banger's key (a VM booted by hand) the
# service makes one.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/ssh/sshd_config.d" "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/ssh/sshd_config.d/banger.conf" <<'SSHD'
# banger: keys only; the host key is the VM's own, from banger-init.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
SSHD
# (The empty ExecStartPre= drops Debian's `sshd -t`: one sshd run less per
# boot; the config is checked here, at build time.)
cat >"$root/etc/systemd/system/ssh.service.d/banger.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'test -s /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
UNIT

ssh-keygen -q -t ed25519 -N "" -f "$root/tmp/check_host_key" || die "ssh-keygen failed"
mkdir -p "$root/run/sshd"
# (It warns that the VM's own key is missing: banger-init installs it.)
chroot "$root" /usr/sbin/sshd -t -h /tmp/check_host_key 2>"$root/tmp/sshd-t.log" \
  || die "sshd -t rejects the configuration in $root/etc/ssh: $(cat "$root/tmp/sshd-t.log")"
rm -rf "$root"/tmp/check_host_key* "$root/tmp/sshd-t.log" "$root/run/sshd"

# systemd: boot to multi-user; mask what waits for or needs what a microVM
# does not have, or would load a disposable VM in the background.
ln -sfn /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
masked=(
  systemd-firstboot.service          # prompts on the console (empty machine-id = first boot)
  systemd-remount-fs.service         # no fstab; banger-init mounts / read-write
  getty@tty1.service                 # no virtual terminals; the serial getty stays
  # The image has no kernel modules (they live in banger's initramfs).
  systemd-modules-load.service modprobe@configfs.service modprobe@dm_mod.service
  modprobe@drm.service modprobe@efi_pstore.service modprobe@fuse.service
  modprobe@loop.service proc-sys-fs-binfmt_misc.automount
  dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount
  apt-daily.timer apt-daily-upgrade.timer
  e2scrub_all.timer e2scrub_reap.service
)
for unit in "${masked[@]}"; do
  ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done
# Without udev no device unit ever appears, so the serial getty must not wait
# for dev-ttyS0.device (its job would hold the boot for 90 s, then fail).
template="$root/lib/systemd/system/serial-getty@.service"
sed -e '/^BindsTo=dev-%i\.device$/d' -e 's/^After=dev-%i\.device /After=/' \
  "$template" >"$root/etc/systemd/system/serial-getty@.service"
! grep -q 'dev-%i\.device' "$root/etc/systemd/system/serial-getty@.service" \
  || die "$template changed: the serial getty still waits for its device"

# The journal lives in RAM (a disposable VM; no flush to disk at boot).
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' \
  >"$root/etc/systemd/journald.conf.d/banger.conf"
rm -rf "$root/var/log/journal"

# /etc and /var are up to date with /usr: without these stamps every new VM
# would run sysusers, ldconfig, hwdb and catalog updates at its first boot
# (ConditionNeedsUpdate), on the boot's critical path.
usr_ns="$(stat -c %.9Y "$root/usr" | tr -d .)"
for dir in etc var; do
  printf '# Written by banger (configure-debian-image.sh), as systemd-update-done would.\nTIMESTAMP_NSEC=%s\n' \
    "$usr_ns" >"$root/$dir/.updated"
  touch -r "$root/usr" "$root/$dir/.updated"
done

# Root's files: nothing of the build machine stays behind.
rm -rf "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.bash_history
find "$root/var/log" -type f \( -name '*.log' -o -name 'lastlog' -o -name '*tmp' \) -delete
