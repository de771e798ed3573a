#!/usr/bin/env bash
# banger image pull vs the usual pipeline, on the same image in the same run:
#   baseline: skopeo copy docker://… oci:DIR  +  tar -x of every layer (as
#             root)  +  mke2fs -t ext4 -d ROOT  (sized like banger's)
#   banger:   banger image pull REF (the daemon as an unprivileged user:
#             download, digest checks, whiteouts, owners, ext4 without root)
# The image (~100 MB of headers from /usr/include, gzip) sits in Debian's
# docker-registry on loopback inside a private network namespace. Runs
# alternate (base, banger, base, banger, ...). Prints medians and the ratio.
#
#   scripts/bench-pull.sh [RUNS]      (as root; after scripts/build.sh)
#
# It borrows the e2e harness (test/e2e/lib.sh) for the namespace, the
# daemon, the registry and a teardown that kills only what it started.
E2E_NAME=pull_bench
E2E_CMD_TIMEOUT=900
# shellcheck source=../test/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/e2e/lib.sh"
# shellcheck source=../test/e2e/oci.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/e2e/oci.sh"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
runs=${1:-3}
e2e_setup
oci_registry_start

work=$E2E_TMP/bench
mkdir -p "$work/src"
src=${BANGER_BENCH_PULL_SRC:-/usr/include}
cp -a "$src" "$work/src/include"
oci_busybox "$work/src/busybox"
oci_layer "$work/src" "$work/layer.tar.gz"
mapfile -t d < <(python3 "$OCI_HERE/oci_layout.py" "$work/layout" v1 "amd64=$work/layer.tar.gz")
oci_push "$work/layout" v1 bench/dev
ref=$OCI_REGISTRY/bench/dev:v1
content=$(du -sb "$work/src" | cut -f1)
layer=$(stat -c %s "$work/layer.tar.gz")
files=$(find "$work/src" | wc -l)
rm -rf "$work/src"

ms() { date +%s%3N; }

baseline() {
  local d=$work/base
  rm -rf "$d"
  mkdir -p "$d/root"
  HOME=$E2E_TMP skopeo --insecure-policy copy --quiet --src-tls-verify=false \
    "docker://$ref" "oci:$d/layout:v1" || return 1
  local m blob
  m=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); print(i["manifests"][0]["digest"].split(":")[1])' "$d/layout")
  for blob in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join(l["digest"].split(":")[1] for l in m["layers"]))' "$d/layout/blobs/sha256/$m"); do
    tar --numeric-owner -xzf "$d/layout/blobs/sha256/$blob" -C "$d/root" || return 1
  done
  local bytes
  bytes=$(du -sb "$d/root" | cut -f1)
  # banger's default size: content + 30% + 64 MiB, in MiB.
  mke2fs -q -F -t ext4 -d "$d/root" "$d/rootfs.ext4" "$(((bytes * 13 / 10) / 1048576 + 64))M" >/dev/null || return 1
  rm -rf "$d"
}

banger_pull() {
  local name=bench-$1
  banger image pull "$ref" --name "$name" >/dev/null 2>&1 || return 1
  banger image rm "$name" >/dev/null
}

base_ms=() banger_ms=()
for i in $(seq 1 "$runs"); do
  t=$(ms); baseline || abort "the baseline pipeline failed"; base_ms+=($(($(ms) - t)))
  t=$(ms); banger_pull "$i" || abort "banger image pull failed"; banger_ms+=($(($(ms) - t)))
done

echo "pull bench: $files files, $((content / 1048576)) MiB content, $((layer / 1048576)) MiB gzip layer; $runs runs each"
report_pair "(p0) skopeo copy + tar -x + mke2fs -d" "(p1) banger image pull" "p1/p0"
e2e_pass
