#!/usr/bin/env bash
# The README's first command: installs what banger needs, builds it, builds
# the default kernel and image, starts the daemon, registers the defaults and
# runs the main job: a real VM answering `uname -a`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/build.sh
banger=build/bin/banger
$banger daemon start
# (Re)register the defaults when they are missing.
$banger kernel list --json | grep -q '"name": "default"' \
  || $banger kernel import default --from build/kernel
$banger image list --json | grep -q '"name": "default"' \
  || $banger image import default --rootfs build/image/rootfs.ext4 \
    --work-seed build/image/work-seed.ext4 --kernel default
echo "+ banger vm run --rm -- uname -a"
$banger vm run --rm -- uname -a
