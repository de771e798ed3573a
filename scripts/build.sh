#!/usr/bin/env bash
# Builds everything into build/ (programs in build/bin), then the default
# guest kernel (build/kernel) and image (build/image) from Debian packages.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
"$repo/scripts/deps.sh"
# ccache (when CMake finds it) keys objects by paths relative to the checkout,
# so another clone of the tree reuses them.
export CCACHE_BASEDIR="$repo" CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
ninja -C build
scripts/build-kernel.sh build/kernel --init build/bin/banger-init --agent build/bin/banger-agent
scripts/build-image.sh build/image
