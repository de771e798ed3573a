#!/usr/bin/env bash
# The README's second command: builds everything (as install.sh does, without
# touching the user's daemon) and runs the whole suite with ctest: unit,
# actor and e2e tests (real QEMU VMs in private network namespaces). The
# Debian image e2e.debian_image boots is built once (build/debian; its
# packages are cached in build/cache/debian).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/build.sh
# Rebuilt only when missing or when its scripts changed.
debian_inputs="$(cat scripts/build-debian-image.sh scripts/configure-debian-image.sh | sha256sum | cut -c1-16)"
if [[ ! -f build/debian/rootfs.ext4 || "$(cat build/debian/.inputs 2>/dev/null)" != "$debian_inputs" ]]; then
  scripts/build-debian-image.sh build/debian
  echo "$debian_inputs" >build/debian/.inputs
fi
ctest --test-dir build --output-on-failure --timeout 900 "$@"
