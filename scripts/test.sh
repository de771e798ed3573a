#!/usr/bin/env bash
# The README's second command: builds everything (as install.sh does, without
# touching the user's daemon) and runs the whole suite with ctest: unit,
# actor and e2e tests (real QEMU VMs in private network namespaces).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900 "$@"
