# shellcheck shell=bash
# OCI helpers for e2e scenarios (source after lib.sh, call after e2e_setup):
# Debian's real docker-registry on 127.0.0.1 inside the scenario's network
# namespace, images built from directories with oci_layout.py and pushed with
# skopeo, and the registry's access log for counting requests.

OCI_HERE=$(dirname "${BASH_SOURCE[0]}")

# oci_registry_start: serves $E2E_TMP/registry on a free loopback port; sets
# OCI_REGISTRY (host:port) and OCI_REGISTRY_LOG. Teardown kills it by pid.
oci_registry_start() {
  local prog
  for prog in docker-registry skopeo zstd python3; do
    command -v "$prog" >/dev/null || abort "$prog is missing (scripts/deps.sh installs it)"
  done
  local dir=$E2E_TMP/registry port
  mkdir -p "$dir/storage"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  OCI_REGISTRY=127.0.0.1:$port
  OCI_REGISTRY_LOG=$dir/registry.log
  printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n' \
    "$dir/storage" "$OCI_REGISTRY" >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$OCI_REGISTRY_LOG" 2>&1 &
  e2e_track_pid $! docker-registry
  wait_until 20 _oci_registry_up ||
    abort "docker-registry did not answer on $OCI_REGISTRY: $(tail -n5 "$OCI_REGISTRY_LOG")"
}

_oci_registry_up() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen("http://" + sys.argv[1] + "/v2/", timeout=2)' \
    "$OCI_REGISTRY" 2>/dev/null
}

# oci_push LAYOUT TAG REPO: copies LAYOUT:TAG (an image or an index, all
# platforms) to $OCI_REGISTRY/REPO:TAG.
oci_push() {
  local out
  out=$(HOME=$E2E_TMP skopeo --insecure-policy copy --quiet --all \
    --dest-tls-verify=false "oci:$1:$2" "docker://$OCI_REGISTRY/$3:$2" 2>&1) ||
    abort "skopeo copy oci:$1:$2 failed: $out"
}

# oci_layer DIR OUT: a layer tarball of DIR's contents, numeric owners kept
# (OUT's suffix picks the compression: .tar.gz or .tar.zst).
oci_layer() {
  local dir=$1 out=$2 entries
  mapfile -t entries < <(cd "$dir" && ls -A)
  case $out in
    *.tar.gz) tar --numeric-owner --xattrs -C "$dir" -cf - "${entries[@]}" | gzip -n >"$out" ;;
    *.tar.zst) tar --numeric-owner --xattrs -C "$dir" -cf - "${entries[@]}" | zstd -q -o "$out" ;;
    *) abort "oci_layer: unknown suffix of $out" ;;
  esac
}

# oci_blob_gets DIGEST: how many GETs of that blob the registry served.
oci_blob_gets() {
  grep -c "\"GET /v2/[^ ]*/blobs/$1 HTTP" "$OCI_REGISTRY_LOG" || true
}

# oci_busybox DEST: the default image's static busybox, copied out of its
# ext4 file without mounting it.
oci_busybox() {
  debugfs -R "dump /bin/busybox $1" "$BANGER_ROOTFS" >/dev/null 2>&1 ||
    abort "cannot copy /bin/busybox out of $BANGER_ROOTFS"
  [[ -s $1 ]] || abort "no /bin/busybox in $BANGER_ROOTFS"
  chmod 755 "$1"
}
