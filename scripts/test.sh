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
# The installation's own catalog (bangerd reads build/bin/../share/banger/
# catalog.json): the Debian image as a bundle, so that `banger image pull
# debian-bookworm` works from this build.
share=build/share/banger
if [[ ! -f $share/catalog.json || build/debian/rootfs.ext4 -nt $share/catalog.json ]]; then
  mkdir -p "$share/bundles"
  scripts/make-bundle.sh image build/debian "$share/bundles/debian-bookworm-amd64.tar.zst" \
    --name debian-bookworm --kernel default --level 3 \
    --description "Debian 12 with systemd, OpenSSH, git and curl (scripts/build-debian-image.sh)" \
    --catalog "$share/catalog.json" --url bundles/debian-bookworm-amd64.tar.zst >/dev/null
fi
ctest --test-dir build --output-on-failure --timeout 900 "$@"
