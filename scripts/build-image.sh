#!/usr/bin/env bash
# Builds banger's default guest image from Debian packages, without
# debootstrap, loop mounts or root: busybox (static) as the userland and init,
# dropbear with the shared libraries it needs as the sshd (/etc/init.d/S50sshd,
# using the host key banger-init provisions from fw_cfg), assembled in
# a directory and written with `mke2fs -d` into sparse files:
#   OUTDIR/rootfs.ext4      the root filesystem
#   OUTDIR/work-seed.ext4   its /root, cloned into each VM's work disk
# The .debs are cached in build/cache (BANGER_CACHE_DIR).
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [--size 1G]" >&2
  exit 2
}
die() {
  echo "build-image: $*" >&2
  exit 1
}

out="" size="1G"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="${2:-}"; shift 2 || usage ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [[ -z "$out" ]] || usage; out="$1"; shift ;;
  esac
done
[[ -n "$out" ]] || usage
[[ "$size" =~ ^[0-9]+[KMGT]?$ ]] || die "--size $size: expected a size like 512M or 2G"
for tool in apt-get dpkg-deb mke2fs debugfs readelf ldconfig; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (install: apt-get install apt dpkg e2fsprogs binutils libc-bin)"
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BANGER_CACHE_DIR:-$repo/build/cache}/image"
mkdir -p "$cache" "$out"
out="$(cd "$out" && pwd)"

# dropbear-bin's libraries, spelled out: its Depends plus libtomcrypt's libgmp.
packages=(busybox-static dropbear-bin libc6 libcrypt1 libtomcrypt1 libtommath1 zlib1g libgmp10)
missing=()
for p in "${packages[@]}"; do
  ls "$cache/${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "build-image: downloading ${missing[*]}" >&2
  (cd "$cache" && apt-get download -q "${missing[@]}" >/dev/null 2>"$cache/apt.log") \
    || die "apt-get download ${missing[*]} failed: $(tail -n3 "$cache/apt.log")"
fi

work="$(mktemp -d "$out/.build-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"
for p in "${packages[@]}"; do
  deb="$(ls "$cache/${p}"_*.deb | sort -V | tail -n1)"
  dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x $deb failed"
done
# Documentation, locales and charset converters only cost space here.
rm -rf "$root"/usr/share/{doc,lintian,locale,man,bug} \
  "$root"/usr/lib/x86_64-linux-gnu/gconv

# busybox provides everything else, /sbin/init included.
"$root/bin/busybox" --list-full >"$work/applets" || die "cannot run the extracted busybox"
while read -r applet; do
  [[ -e "$root/$applet" || -L "$root/$applet" ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -s /bin/busybox "$root/$applet"
done <"$work/applets"
[[ -L "$root/sbin/init" ]] || die "busybox has no init applet"

# The soname links (libfoo.so.1 -> libfoo.so.1.2.3) come from ldconfig at
# install time, not from the packages.
ldconfig -n "$root"/lib/x86_64-linux-gnu "$root"/usr/lib/x86_64-linux-gnu \
  || die "ldconfig -n failed in $root"

# Every library dropbear needs must be in the image.
for bin in usr/sbin/dropbear usr/bin/dbclient usr/bin/dropbearkey; do
  for lib in $(readelf -d "$root/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ -e "$root/lib/x86_64-linux-gnu/$lib" || -e "$root/usr/lib/x86_64-linux-gnu/$lib" ]] \
      || die "$bin needs $lib, which no package in (${packages[*]}) provides"
  done
done

mkdir -p "$root"/{dev,proc,sys,run,tmp,root,home,mnt,var/log,var/tmp,etc/init.d,etc/dropbear}
ln -sfn /run "$root/var/run"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
# root's login shell setup; it lives in the work seed with the rest of /root.
printf '%s\n' "PS1='\\h:\\w\\\$ '" 'export PS1' >"$root/root/.profile"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
# '*': no password login; key-based SSH still works ('!' would lock it).
cat >"$root/etc/shadow" <<'SHADOW'
root:*:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
nobody:*:19700:0:99999:7:::
SHADOW
chmod 0600 "$root/etc/shadow"
cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
disk:x:6:
wheel:x:10:
shadow:x:42:
utmp:x:43:
users:x:100:
nogroup:x:65534:
GROUP
echo banger >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
HOSTS
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
cat >"$root/etc/profile" <<'PROFILE'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\h:\w\$ '
PROFILE
cat >"$root/etc/fstab" <<'FSTAB'
# banger-init mounts / from the kernel command line; see /etc/init.d/rcS.
FSTAB

cat >"$root/etc/inittab" <<'INITTAB'
# busybox init. banger-init has mounted /proc, /sys and /dev and started
# banger-agent before handing PID 1 over; rcS does the rest.
::sysinit:/etc/init.d/rcS
# A login prompt on the serial console (off: the console is a log file):
#ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
INITTAB

cat >"$root/etc/init.d/rcS" <<'RCS'
#!/bin/sh
# Mounts what banger-init has not, then starts /etc/init.d/S* in order.
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mounted /dev || mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mounted /dev/shm || mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
# banger-init sets the hostname from the command line; this is the fallback.
[ "$(hostname)" = "(none)" ] && hostname -F /etc/hostname
ip link set lo up 2>/dev/null
for script in /etc/init.d/S*; do
  [ -x "$script" ] && "$script" start
done
exit 0
RCS
chmod 0755 "$root/etc/init.d/rcS"

cat >"$root/etc/init.d/S50sshd" <<'SSHD'
#!/bin/sh
# SSH: dropbear as a daemon, keys only (-s: no password logins; root may log
# in). The host key is the one banger-init installed from fw_cfg, which the
# daemon already knows; a VM booted without one gets a key made on the first
# connection (-R).
key=/etc/dropbear/dropbear_ed25519_host_key
pidfile=/run/dropbear.pid
case "${1:-start}" in
  start)
    if [ -s "$key" ]; then
      exec /usr/sbin/dropbear -s -P "$pidfile" -r "$key"
    fi
    mkdir -p /etc/dropbear
    exec /usr/sbin/dropbear -s -P "$pidfile" -R
    ;;
  stop)
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
SSHD
chmod 0755 "$root/etc/init.d/S50sshd"

img="$work/rootfs.ext4"
truncate -s "$size" "$img" || die "cannot create a $size file in $work"
mke2fs -q -t ext4 -L banger-root -d "$root" -E root_owner=0:0 -F "$img" \
  || die "mke2fs -d $root into $img ($size) failed"
# mke2fs -d keeps the files' owners: without root they are ours, so give
# them to root inside the image (debugfs edits it without mounting).
if [[ "$(id -u)" != 0 ]]; then
  (cd "$root" && find . -mindepth 1 | sed 's|^\.||') \
    | awk '{ print "sif \"" $0 "\" uid 0"; print "sif \"" $0 "\" gid 0" }' >"$work/chown.cmds"
  debugfs -w -f "$work/chown.cmds" "$img" >/dev/null 2>"$work/debugfs.log" \
    || die "debugfs could not set owners in $img: $(tail -n3 "$work/debugfs.log")"
fi
"$repo/scripts/make-work-seed.sh" "$root" "$work/work-seed.ext4"
mv -f "$img" "$out/rootfs.ext4"
mv -f "$work/work-seed.ext4" "$out/work-seed.ext4"
echo "build-image: $out/rootfs.ext4 ($size, $(du -sh "$root" | cut -f1) used)" >&2
