#!/usr/bin/env bash
# Writes an image's work seed: a small ext4 file holding the image's /root
# (ROOT/root), which banger clones and grows into each VM's work disk.
#   scripts/make-work-seed.sh ROOT OUT [SIZE]     (SIZE default 64M)
# Without root privileges the files keep our uid in `mke2fs -d`, so they are
# given to root inside the file with debugfs (no mount).
set -euo pipefail
die() {
  echo "make-work-seed: $*" >&2
  exit 1
}
[[ $# -ge 2 && $# -le 3 ]] || { echo "usage: $0 ROOT OUT [SIZE]" >&2; exit 2; }
root=$1 out=$2 size=${3:-64M}
home="$root/root"
[[ -d $home && ! -L $home ]] || die "$home is not a directory"
tmp="$out.tmp"
rm -f -- "$tmp"
trap 'rm -f -- "$tmp" "$tmp.cmds" "$tmp.log"' EXIT
truncate -s "$size" "$tmp" || die "cannot create a $size file at $tmp"
mke2fs -q -t ext4 -T default -m 0 -L banger-work -d "$home" -E root_owner=0:0 \
  -F "$tmp" || die "mke2fs -d $home into $tmp ($size) failed"
# mke2fs -d leaves the top directory 0755: it is /root, give it /root's mode.
printf 'sif / mode 0%o\n' "$((0x$(stat -c %f "$home")))" >"$tmp.cmds"
if [[ "$(id -u)" != 0 ]]; then
  (cd "$home" && find . -mindepth 1 | sed 's|^\.||') \
    | awk '{ print "sif \"" $0 "\" uid 0"; print "sif \"" $0 "\" gid 0" }' >>"$tmp.cmds"
fi
debugfs -w -f "$tmp.cmds" "$tmp" >/dev/null 2>"$tmp.log" \
  || die "debugfs could not set modes and owners in $tmp: $(tail -n3 "$tmp.log")"
mv -f -- "$tmp" "$out"
