#!/usr/bin/env bash
# Builds banger's default guest kernel from Debian's package, without compiling:
#   OUTDIR/vmlinux     the ELF kernel (QEMU boots it via its PVH note, Firecracker too)
#   OUTDIR/initrd.img  uncompressed newc cpio: /init = banger-init, /banger-agent,
#                      the modules a microVM needs and /lib/modules/load-order,
#                      /dropbear: the SSH fallback for images without sshd
#                      (dropbear + its glibc, see guest/init/ssh_fallback.hpp)
#   OUTDIR/version     the kernel release (uname -r)
# The .deb and its extraction are cached in build/cache (BANGER_CACHE_DIR).
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR --init PATH --agent PATH" >&2
  exit 2
}
die() {
  echo "build-kernel: $*" >&2
  exit 1
}

out="" init="" agent=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --init) init="${2:-}"; shift 2 || usage ;;
    --agent) agent="${2:-}"; shift 2 || usage ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [[ -z "$out" ]] || usage; out="$1"; shift ;;
  esac
done
[[ -n "$out" && -n "$init" && -n "$agent" ]] || usage
[[ -x "$init" ]] || die "--init $init is not an executable file (build banger-init first)"
[[ -x "$agent" ]] || die "--agent $agent is not an executable file (build banger-agent first)"
for tool in apt-cache apt-get dpkg-deb depmod modprobe xz cpio strip grep readelf ldconfig patchelf; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (install: apt-get install apt dpkg kmod xz-utils cpio binutils grep libc-bin patchelf)"
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BANGER_CACHE_DIR:-$repo/build/cache}/kernel"
mkdir -p "$cache" "$out"
out="$(cd "$out" && pwd)"

# The kernel linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64.
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null \
  | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)"
[[ -n "$pkg" ]] || die "apt-cache knows no linux-image-amd64 (run 'apt-get update' first)"
ver="${pkg#linux-image-}"

# Download once; apt-get download writes into the current directory.
deb="$(ls "$cache"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)"
if [[ -z "$deb" ]]; then
  echo "build-kernel: downloading $pkg" >&2
  (cd "$cache" && apt-get download -q "$pkg" >/dev/null 2>"$cache/apt.log") \
    || die "apt-get download $pkg failed: $(tail -n3 "$cache/apt.log")"
  deb="$(ls "$cache"/"${pkg}"_*.deb | head -n1)"
fi

root="$cache/$ver"
if [[ ! -f "$root/.complete" ]]; then
  rm -rf "$root"
  mkdir -p "$root"
  dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x $deb failed"
  depmod -b "$root" "$ver" || die "depmod for $ver failed"
  touch "$root/.complete"
fi
moddir="$root/lib/modules/$ver"
bzimage="$root/boot/vmlinuz-$ver"
[[ -f "$bzimage" ]] || die "$bzimage is missing from $deb"

work="$(mktemp -d "$out/.build-kernel.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# vmlinux: the bzImage's payload is an XZ stream; the first XZ magic is it.
offset="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bzimage" | head -n1 | cut -d: -f1)"
[[ -n "$offset" ]] || die "no XZ payload found in $bzimage"
# (tail dies of SIGPIPE when xz stops at the end of the stream: expected.)
{ tail -c +"$((offset + 1))" "$bzimage" || true; } \
  | xz -dc --single-stream >"$work/vmlinux" 2>"$work/xz.log" \
  || die "decompressing the XZ payload of $bzimage failed: $(cat "$work/xz.log")"
[[ "$(head -c4 "$work/vmlinux" | od -An -c | tr -d ' ')" == '177ELF' ]] \
  || die "the payload of $bzimage is not an ELF kernel"

# Modules: what a microVM needs, dependencies (and softdeps) first. The early
# ones mount the root and reach the agent; banger-init loads the rest
# (after "#late") while the agent already answers.
early_modules=(virtio_mmio virtio_blk virtio_console ext4 crc32c_generic)
late_modules=(virtio_net qemu_fw_cfg button evdev vmw_vsock_virtio_transport)
initrd="$work/initrd"
mkdir -p "$initrd/lib/modules/$ver" "$initrd"/{dev,proc,sys,newroot}
show_depends() {
  modprobe -d "$root" -S "$ver" --show-depends -a "$@" \
    || die "modprobe --show-depends failed for: $*"
}
{
  show_depends "${early_modules[@]}"
  echo "#late"
  show_depends "${late_modules[@]}"
} | awk '$1 == "#late" || ($1 == "insmod" && !seen[$2]++) { print ($1 == "#late" ? $1 : $2) }' \
  >"$work/modpaths"
: >"$initrd/lib/modules/load-order"
while read -r path; do
  if [[ "$path" == "#late" ]]; then
    echo "#late" >>"$initrd/lib/modules/load-order"
    continue
  fi
  rel="${path#"$moddir"/}"
  rel="${rel%.xz}"
  rel="${rel%.zst}"
  dest="$initrd/lib/modules/$ver/$rel"
  mkdir -p "$(dirname "$dest")"
  case "$path" in
    *.ko.xz) xz -dc "$path" >"$dest" ;;
    *.ko.zst) zstd -qdc "$path" >"$dest" ;;
    *) cp "$path" "$dest" ;;
  esac
  # Drops the appended signature too: checking it is slow under TCG, and
  # the kernel does not enforce signatures (MODULE_SIG_FORCE is off).
  strip --strip-debug "$dest"
  echo "$rel" >>"$initrd/lib/modules/load-order"
done <"$work/modpaths"
grep -q "/ext4.ko$" "$initrd/lib/modules/load-order" || die "no ext4 module found for kernel $ver"

# The SSH fallback: dropbear and every library it loads, glibc's ld.so
# included, so that it runs in any image (other glibc, musl, no libc). Its
# interpreter and RPATH name the place banger-init mounts this directory at
# in the VM: a plain exec works, and so does dropbear's re-exec of itself
# for each connection (which `ld.so --library-path` would not survive).
bundle_at=/run/banger/dropbear
dropbear_pkgs=(dropbear-bin libc6 libcrypt1 libtomcrypt1 libtommath1 zlib1g libgmp10)
debs="$cache/dropbear-debs"
mkdir -p "$debs"
missing=()
for p in "${dropbear_pkgs[@]}"; do
  ls "$debs/${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "build-kernel: downloading ${missing[*]}" >&2
  (cd "$debs" && apt-get download -q "${missing[@]}" >/dev/null 2>"$debs/apt.log") \
    || die "apt-get download ${missing[*]} failed: $(tail -n3 "$debs/apt.log")"
fi
pkgroot="$work/dropbear-root"
mkdir -p "$pkgroot" "$initrd/dropbear/lib"
for p in "${dropbear_pkgs[@]}"; do
  deb="$(ls "$debs/${p}"_*.deb | sort -V | tail -n1)"
  dpkg-deb -x "$deb" "$pkgroot" || die "dpkg-deb -x $deb failed"
done
ldconfig -n "$pkgroot"/lib/x86_64-linux-gnu "$pkgroot"/usr/lib/x86_64-linux-gnu \
  || die "ldconfig -n failed in $pkgroot"
find_lib() {
  local dir
  for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
    [[ -e "$pkgroot/$dir/$1" ]] && { echo "$pkgroot/$dir/$1"; return 0; }
  done
  return 1
}
# Every library in the NEEDED closure of dropbear, breadth first.
queue=("$pkgroot/usr/sbin/dropbear")
while [[ ${#queue[@]} -gt 0 ]]; do
  obj="${queue[0]}"
  queue=("${queue[@]:1}")
  for lib in $(readelf -d "$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    # ld.so is the interpreter (below), already loaded when libc asks.
    [[ "$lib" == ld-linux-x86-64.so.2 || -e "$initrd/dropbear/lib/$lib" ]] && continue
    path="$(find_lib "$lib")" || die "dropbear needs $lib, which no package in (${dropbear_pkgs[*]}) provides"
    cp -L "$path" "$initrd/dropbear/lib/$lib"
    queue+=("$path")
  done
done
cp -L "$pkgroot/lib64/ld-linux-x86-64.so.2" "$initrd/dropbear/ld-linux-x86-64.so.2" \
  || die "libc6 has no /lib64/ld-linux-x86-64.so.2"
cp "$pkgroot/usr/sbin/dropbear" "$initrd/dropbear/dropbear"
patchelf --set-interpreter "$bundle_at/ld-linux-x86-64.so.2" --force-rpath \
  --set-rpath "$bundle_at/lib" "$initrd/dropbear/dropbear" \
  || die "patchelf on dropbear failed"
chmod 0755 "$initrd/dropbear" "$initrd/dropbear/lib" "$initrd/dropbear/dropbear" \
  "$initrd/dropbear/ld-linux-x86-64.so.2"

cp "$init" "$initrd/init"
cp "$agent" "$initrd/banger-agent"
strip "$initrd/init" "$initrd/banger-agent"
chmod 0755 "$initrd/init" "$initrd/banger-agent"

# Uncompressed: unpacking beats decompressing under TCG; owners are root.
(cd "$initrd" && find . -mindepth 1 | LC_ALL=C sort \
  | cpio --quiet -o -H newc -R 0:0 >"$work/initrd.img") || die "cpio failed"

mv -f "$work/vmlinux" "$out/vmlinux"
mv -f "$work/initrd.img" "$out/initrd.img"
echo "$ver" >"$out/version"
echo "build-kernel: $out: vmlinux, initrd.img ($(grep -vc "^#" "$initrd/lib/modules/load-order") modules, dropbear $(du -sh "$initrd/dropbear" | cut -f1)), kernel $ver" >&2
