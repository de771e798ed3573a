#!/usr/bin/env bash
# Packs an image or kernel directory as a catalog bundle (docs/catalog.md):
#   make-bundle.sh KIND DIR OUT.tar.zst [--name N] [--arch A] [--version V]
#                  [--kernel K] [--distro D] [--description TEXT] [--level N]
#                  [--catalog catalog.json --url URL]
# KIND image: DIR holds rootfs.ext4 (+ work-seed.ext4); kernel: DIR holds
# vmlinux or vmlinuz (+ initrd.img, modules/, version), e.g. the output of
# scripts/build-kernel.sh or a kernel dir banger imported. DIR's manifest.json
# is used when present, else one is written into the bundle (DIR is never
# changed). Sparse files stay sparse (tar --sparse); zstd uses every core.
# Prints "sha256 HEX" and "size BYTES"; with --catalog, adds or replaces the
# (name, arch) entry in that catalog (created if missing) with URL.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "make-bundle: $*" >&2
  exit 1
}

kind="" dir="" out="" name="" arch="" version="" kernel="" distro=""
description="" level=9 catalog="" url=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name="${2:-}"; shift 2 || usage ;;
    --arch) arch="${2:-}"; shift 2 || usage ;;
    --version) version="${2:-}"; shift 2 || usage ;;
    --kernel) kernel="${2:-}"; shift 2 || usage ;;
    --distro) distro="${2:-}"; shift 2 || usage ;;
    --description) description="${2:-}"; shift 2 || usage ;;
    --level) level="${2:-}"; shift 2 || usage ;;
    --catalog) catalog="${2:-}"; shift 2 || usage ;;
    --url) url="${2:-}"; shift 2 || usage ;;
    -h|--help) usage ;;
    -*) usage ;;
    *)
      if [[ -z "$kind" ]]; then kind="$1"
      elif [[ -z "$dir" ]]; then dir="$1"
      elif [[ -z "$out" ]]; then out="$1"
      else usage
      fi
      shift ;;
  esac
done
[[ -n "$kind" && -n "$dir" && -n "$out" ]] || usage
[[ "$kind" == image || "$kind" == kernel ]] || die "KIND must be image or kernel, not '$kind'"
[[ -d "$dir" ]] || die "$dir is not a directory"
[[ -z "$catalog" || -n "$url" ]] || die "--catalog needs --url (where the bundle will be downloaded from)"
[[ "$kind" == image || -z "$kernel" ]] || die "--kernel is for images (the kernel they boot with)"
[[ "$level" =~ ^[0-9]+$ ]] || die "--level must be a number (zstd level 1-19)"
for tool in tar zstd sha256sum python3 od stat; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (run scripts/deps.sh)"
done
dir="$(cd "$dir" && pwd)"

# A value from DIR/manifest.json ("" when absent).
manifest_value() {
  [[ -f "$dir/manifest.json" ]] || return 0
  python3 -c 'import json,sys
v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
print(v if isinstance(v, str) else "")' "$dir/manifest.json" "$1" \
    || die "$dir/manifest.json is not valid JSON"
}

files=()
if [[ "$kind" == image ]]; then
  [[ -f "$dir/rootfs.ext4" ]] || die "$dir has no rootfs.ext4"
  for f in rootfs.ext4 work-seed.ext4; do
    [[ -f "$dir/$f" ]] || continue
    [[ "$(od -An -tx1 -j1080 -N2 "$dir/$f" | tr -d ' \n')" == 53ef ]] \
      || die "$dir/$f is not an ext2/3/4 image"
    files+=("$f")
  done
else
  if [[ -f "$dir/vmlinux" ]]; then
    [[ "$(head -c4 "$dir/vmlinux" | od -An -c | tr -d ' \n')" == '177ELF' ]] \
      || die "$dir/vmlinux is not an ELF kernel"
    files+=(vmlinux)
  elif [[ -f "$dir/vmlinuz" ]]; then
    files+=(vmlinuz)
  else
    die "$dir has neither vmlinux nor vmlinuz"
  fi
  [[ -f "$dir/initrd.img" ]] && files+=(initrd.img)
  if [[ -d "$dir/modules" ]]; then
    odd="$(find "$dir/modules" ! -type f ! -type d ! -type l | head -n3)"
    [[ -z "$odd" ]] || die "modules/ holds something that is not a file, directory or symlink: $odd"
    files+=(modules)
  fi
  [[ -n "$version" || ! -f "$dir/version" ]] || version="$(head -n1 "$dir/version")"
fi

# Symlinks leaving modules/ are left out: unpacking refuses them.
excludes=()
if [[ " ${files[*]} " == *" modules "* ]]; then
  while IFS= read -r -d '' link; do
    excludes+=("--exclude=${link#"$dir"/}")
    echo "make-bundle: leaving out $link -> $(readlink "$link") (points out of modules/)" >&2
  done < <(python3 -c 'import os,sys
root = os.path.join(sys.argv[1], "modules")
for base, dirs, names in os.walk(root):
    for n in dirs + names:
        p = os.path.join(base, n)
        if not os.path.islink(p):
            continue
        t = os.readlink(p)
        parts = t.split("/")
        # What unpacking accepts: relative, ".." only as a prefix, inside.
        depth = len(os.path.relpath(base, root).split(os.sep)) if base != root else 0
        ok = not t.startswith("/")
        seen = False
        for c in parts:
            if c in ("", "."):
                continue
            if c == "..":
                ok = ok and not seen
                depth -= 1
                ok = ok and depth >= 0
            else:
                seen = True
                depth += 1
        if not ok:
            sys.stdout.write(p + "\0")' "$dir")
fi

[[ -n "$name" ]] || name="$(manifest_value name)"
[[ -n "$name" ]] || name="$(basename "$dir")"
[[ "$name" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] \
  || die "name '$name' is not valid: 1-63 of a-z, 0-9 and '-', not starting or ending with '-' (use --name)"
if [[ -z "$arch" ]]; then
  arch="$(manifest_value arch)"
  [[ -n "$arch" ]] || arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
  case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
fi
[[ "$arch" == amd64 || "$arch" == arm64 ]] || die "arch '$arch' must be amd64 or arm64"
[[ -n "$version" ]] || version="$(manifest_value version)"
[[ -n "$distro" ]] || distro="$(manifest_value distro)"
[[ "$kind" == kernel || -n "$kernel" ]] || kernel="$(manifest_value kernel)"

out_dir="$(cd "$(dirname "$out")" && pwd)" || die "the directory of $out does not exist"
out="$out_dir/$(basename "$out")"
stage="$(mktemp -d "$out_dir/.make-bundle.XXXXXX")"
tmp_out="$stage/bundle.tar.zst"
trap 'if [[ -n "${stage:-}" && -d "$stage" ]]; then rm -rf -- "$stage"; fi' EXIT

# The manifest: DIR's own (its kind must match) or a fresh one.
own_manifest=""
[[ ! -f "$dir/manifest.json" ]] || own_manifest="$dir/manifest.json"
python3 -c 'import json,sys
kind, name, arch, version, kernel, distro, src, dst = sys.argv[1:9]
m = {}
if src:
    m = json.load(open(src))
    if m.get("kind", kind) != kind:
        sys.exit("make-bundle: %s says kind %r, not %r" % (src, m.get("kind"), kind))
m.update({"kind": kind, "name": name, "arch": arch})
for k, v in (("version", version), ("kernel", kernel), ("distro", distro)):
    if v:
        m[k] = v
json.dump(m, open(dst, "w"), indent=2, sort_keys=True)
open(dst, "a").write("\n")' "$kind" "$name" "$arch" "$version" "$kernel" "$distro" \
  "$own_manifest" "$stage/manifest.json"

tar --create --sparse --format=posix --hard-dereference --sort=name \
    --owner=0 --group=0 --numeric-owner --pax-option=delete=atime,delete=ctime \
    "${excludes[@]}" -C "$stage" manifest.json -C "$dir" "${files[@]}" \
  | zstd -q -T0 "-$level" -o "$tmp_out" \
  || die "packing $dir failed"
# Read it back once: a bundle that does not list cleanly is never published.
zstd -dc "$tmp_out" | tar -t >/dev/null || die "the bundle just written does not read back"

sha="$(sha256sum "$tmp_out" | cut -d' ' -f1)"
size="$(stat -c %s "$tmp_out")"
mv -f -- "$tmp_out" "$out"
echo "sha256 $sha"
echo "size $size"

if [[ -n "$catalog" ]]; then
  python3 -c 'import json,os,sys
path, kind, name, arch, url, sha, size, version, kernel, desc = sys.argv[1:11]
cat = {"version": 1, "images": [], "kernels": []}
if os.path.exists(path):
    cat = json.load(open(path))
    if cat.get("version") != 1:
        sys.exit("make-bundle: %s is not a version 1 catalog" % path)
key = kind + "s"
entries = [e for e in cat.get(key, []) if not (e.get("name") == name and e.get("arch") == arch)]
e = {"name": name, "url": url, "sha256": sha, "size": int(size), "arch": arch}
for k, v in (("version", version), ("kernel", kernel), ("description", desc)):
    if v:
        e[k] = v
entries.append(e)
cat[key] = sorted(entries, key=lambda x: (x.get("name", ""), x.get("arch", "")))
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(cat, f, indent=2)
    f.write("\n")
os.replace(tmp, path)' "$catalog" "$kind" "$name" "$arch" "$url" "$sha" "$size" \
    "$version" "$kernel" "$description" \
    || die "cannot update the catalog $catalog"
  echo "make-bundle: $catalog: $kind $name ($arch) -> $url" >&2
fi
