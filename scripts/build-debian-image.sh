#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) dev image for banger with debootstrap (as
# root): systemd as init, OpenSSH, git, curl and the usual tools, configured
# for banger-init (which sets the hostname, network and SSH keys at every
# boot), written with `mke2fs -d` into sparse files:
#   OUTDIR/rootfs.ext4      the root filesystem
#   OUTDIR/work-seed.ext4   its /root, cloned into each VM's work disk
#   OUTDIR/manifest.json   {"kind":"image","name":"debian-bookworm",...}
# The downloaded packages are kept in build/cache/debian (BANGER_CACHE_DIR) as
# debootstrap's own tarball, so a rerun downloads nothing; --refresh fetches
# them again. The mirror is the one this machine's apt uses for bookworm
# (BANGER_DEBIAN_MIRROR overrides it).
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [--size 2G] [--refresh]" >&2
  exit 2
}
die() {
  echo "build-debian-image: $*" >&2
  exit 1
}

out="" size="2G" refresh=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="${2:-}"; shift 2 || usage ;;
    --refresh) refresh=1; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [[ -z "$out" ]] || usage; out="$1"; shift ;;
  esac
done
[[ -n "$out" ]] || usage
[[ "$size" =~ ^[0-9]+[KMGT]?$ ]] || die "--size $size: expected a size like 1500M or 2G"
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root (it chroots and creates device nodes): run it with sudo"
for tool in debootstrap mke2fs findmnt sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (install: apt-get install debootstrap e2fsprogs util-linux coreutils)"
done

suite=bookworm
arch=amd64
# What a dev VM needs on top of minbase; systemd-sysv makes systemd /sbin/init.
# No udev: its coldplug costs seconds of CPU per boot under TCG and buys
# nothing here (no modules in the image, devtmpfs already has every node).
packages=(
  systemd-sysv dbus kmod openssh-server sudo
  git curl wget ca-certificates gnupg netbase
  iproute2 iputils-ping procps psmisc less vim-tiny
  xz-utils bzip2 unzip file bash-completion
)

# The bookworm mirror apt uses here: deb822 .sources first, then .list lines.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ")) {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        types = uris = suites = ""; enabled = "yes"
      }
      BEGIN { enabled = "yes" }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      /^Enabled:/ { sub(/^Enabled:[ \t]*/, ""); enabled = tolower($0) }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?\([^ \t]\+\)[ \t]\+'"$suite"'[ \t].*/\2/p' "$f"
  done
}
mirror="${BANGER_DEBIAN_MIRROR:-$(host_mirror | head -n1)}"
[[ -n "$mirror" ]] || die "no apt source for $suite found in /etc/apt/sources.list(.d); set BANGER_DEBIAN_MIRROR (e.g. http://deb.debian.org/debian)"
mirror="${mirror%/}"
security_mirror="${BANGER_DEBIAN_SECURITY_MIRROR:-${mirror}-security}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BANGER_CACHE_DIR:-$repo/build/cache}/debian"
mkdir -p "$cache" "$out"
cache="$(cd "$cache" && pwd)"
out="$(cd "$out" && pwd)"

# The tarball holds exactly what this package list needs, and debootstrap
# finds its package index by the mirror's URL: its name says which.
include="$(IFS=,; echo "${packages[*]}")"
key="$(printf '%s\n' "$suite" "$arch" minbase "$include" "$mirror" | sha256sum | cut -c1-12)"
tarball="$cache/$suite-$arch-$key.tgz"

work="$(mktemp -d "$out/.build-debian.XXXXXX")"
[[ -d "$work" && "$work" == "$out"/.build-debian.* ]] || die "mktemp failed in $out"
# Never follow a mount left inside the chroot (debootstrap mounts /proc and
# /sys while it installs) when deleting it.
cleanup() {
  set +e
  local m
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r m; do
    umount -l "$m"
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
started=$SECONDS

if [[ $refresh -eq 1 || ! -s "$tarball" ]]; then
  echo "build-debian-image: downloading $suite packages from $mirror" >&2
  debootstrap --variant=minbase --arch="$arch" --include="$include" \
    --make-tarball="$work/debs.tgz" "$suite" "$work/download" "$mirror" \
    >"$work/download.log" 2>&1 \
    || die "debootstrap --make-tarball from $mirror failed: $(tail -n5 "$work/download.log")"
  mv -f "$work/debs.tgz" "$tarball"
fi

root="$work/root"
echo "build-debian-image: installing $suite into $root" >&2
debootstrap --variant=minbase --arch="$arch" --include="$include" \
  --unpack-tarball="$tarball" "$suite" "$root" "$mirror" >"$work/install.log" 2>&1 \
  || die "debootstrap from $tarball failed (delete it or pass --refresh if it is stale): $(tail -n5 "$work/install.log")"

"$repo/scripts/configure-debian-image.sh" "$root" "$mirror" "$security_mirror" \
  || die "configuring $root for banger failed"

img="$work/rootfs.ext4"
truncate -s "$size" "$img" || die "cannot create a $size file in $work"
mke2fs -q -t ext4 -L debian-root -d "$root" -F "$img" \
  || die "mke2fs -d $root into $img ($size) failed (is --size large enough for $(du -sh "$root" | cut -f1)?)"
version="$(cut -d. -f1 "$root/etc/debian_version")"
printf '{"kind":"image","name":"debian-%s","arch":"%s","kernel":"default","distro":"debian-%s","version":"%s"}\n' \
  "$suite" "$arch" "$suite" "$version" >"$work/manifest.json"
"$repo/scripts/make-work-seed.sh" "$root" "$work/work-seed.ext4"
mv -f "$img" "$out/rootfs.ext4"
mv -f "$work/work-seed.ext4" "$out/work-seed.ext4"
mv -f "$work/manifest.json" "$out/manifest.json"
echo "build-debian-image: $out/rootfs.ext4 ($size, $(du -sh "$root" | cut -f1) used) in $((SECONDS - started)) s" >&2
