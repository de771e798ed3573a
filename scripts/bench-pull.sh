#!/usr/bin/env bash
# The pull benchmark (bench/pull_bench.sh): banger image pull of a ~100 MB
# image from a local registry vs skopeo copy + tar -x + mke2fs -d, in a
# network namespace of its own. As root, after scripts/build.sh.
#   scripts/bench-pull.sh [RUNS]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BANGER_BIN_DIR="$repo/build/bin"
export BANGER_KERNEL_DIR="$repo/build/kernel"
export BANGER_ROOTFS="$repo/build/image/rootfs.ext4"
export E2E_SCENARIO_TIMEOUT=3000
exec bash "$repo/bench/pull_bench.sh" "$@"
