#!/usr/bin/env bash
# Runs banger-bench (bench/boot_bench.cpp) inside a network namespace of its
# own, so that nothing it starts touches the default namespace's network.
#
#   scripts/bench.sh [banger-bench options...]     e.g. --runs 10 --json
#
# Expects scripts/build.sh to have run (build/bin, build/kernel, build/image).
# Builds banger-bench if needed, in $BANGER_BENCH_BUILD_DIR (default: build).
# Needs root (ip netns). Prints numbers only; exits non-zero only when a
# measurement could not be taken.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build_dir="${BANGER_BENCH_BUILD_DIR:-build}"

die() {
  echo "bench.sh: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "needs root to create a network namespace (ip netns add)"
command -v ip >/dev/null || die "ip not found; install iproute2"
for f in build/bin/banger build/bin/bangerd build/kernel/vmlinux build/kernel/initrd.img \
         build/image/rootfs.ext4; do
  [[ -e "$f" ]] || die "$f is missing; run scripts/build.sh first"
done

# Build (or bring up to date) the benchmark itself.
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
fi
ninja -C "$build_dir" banger-bench >/dev/null || die "building banger-bench failed"
bench="$repo/$build_dir/bin/banger-bench"
[[ "$build_dir" = /* ]] && bench="$build_dir/bin/banger-bench"

ns="banger-bench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d /tmp/banger-bench.XXXXXX)"
bench_pid=""
rc=1

# True if PID runs and is not a zombie (PID 1 here never reaps orphans, so a
# dead process can linger in state Z: that counts as gone).
alive() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ -n "$stat" && "$stat" != Z* ]]
}

# SIGKILLs PID (and the process group it leads) if it is alive and its
# command line or environment contains NEEDLE (a path inside $work), which
# guards against a reused PID.
kill_if_ours() {
  local pid="$1" needle="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  alive "$pid" || return 0
  cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' '\n' \
    | grep -qF -- "$needle" || return 0
  echo "bench.sh: killing leftover pid $pid ($needle)" >&2
  if [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" == "$pid" ]]; then
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  set +e
  if [[ -n "$bench_pid" ]] && alive "$bench_pid"; then
    kill -TERM "$bench_pid" 2>/dev/null
    # banger-bench finishes its current step, then stops what it started.
    for _ in $(seq 1 600); do alive "$bench_pid" || break; sleep 0.1; done
    alive "$bench_pid" && kill -KILL "$bench_pid" 2>/dev/null
  fi
  # Anything banger-bench could not stop (it was SIGKILLed, say): by PID only.
  # Each QEMU was started with -pidfile DIR/qemu.pid: that path identifies it.
  for pidfile in "$work"/raw*/qemu.pid "$work"/d/state/banger/vms/*/qemu.pid; do
    [[ -f "$pidfile" ]] || continue
    kill_if_ours "$(cat "$pidfile")" "$pidfile"
  done
  if [[ -f "$work/d/run/banger/bangerd.pid" ]]; then
    # bangerd runs with XDG_RUNTIME_DIR=$work/d/run in its environment.
    kill_if_ours "$(cat "$work/d/run/banger/bangerd.pid")" "XDG_RUNTIME_DIR=$work/d/run"
  fi
  ip netns del "$ns" 2>/dev/null
  if [[ $rc -eq 0 ]]; then
    rm -rf "$work"
  else
    echo "bench.sh: kept $work for inspection" >&2
  fi
}
trap cleanup EXIT

forward() {
  [[ -n "$bench_pid" ]] && kill -TERM "$bench_pid" 2>/dev/null || true
}
trap forward INT TERM HUP

ip netns add "$ns" || die "cannot create network namespace $ns"
ip -n "$ns" link set lo up

# In the background so that the traps above can forward signals by PID;
# `ip netns exec` execs the command, so $! is banger-bench itself.
ip netns exec "$ns" "$bench" --bin-dir build/bin --kernel-dir build/kernel \
  --rootfs build/image/rootfs.ext4 --work-dir "$work" "$@" &
bench_pid=$!
while :; do
  set +e
  wait "$bench_pid"
  rc=$?
  set -e
  # wait returns early when a trapped signal arrives; go on waiting then.
  alive "$bench_pid" || break
done
bench_pid=""
exit "$rc"
