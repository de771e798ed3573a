#!/usr/bin/env bash
# banger's libFuzzer targets (test/fuzz): built with clang in a directory of
# their own, run for a bounded time from their checked-in seed corpus.
#
#   scripts/fuzz.sh build [DIR]                 configure + build (default build/fuzz)
#   scripts/fuzz.sh run TARGET [SECONDS] [DIR]  fuzz one target (frame daemon vm
#                                               image helper agent layer bundle
#                                               untar dns registry settings),
#                                               20 s default
#   scripts/fuzz.sh list                        the targets
#
# A crash stops the run with exit 1 and leaves the input in
# DIR/artifacts/TARGET/; once the bug is fixed, copy the input into
# test/fuzz/corpus/TARGET/ so every later run replays it first
# (test/fuzz/make_seeds.py writes the seeds of the file and packet targets).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
targets=(frame daemon vm image helper agent layer bundle untar dns registry settings)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

need_clang() {
  command -v clang++ >/dev/null 2>&1 ||
    { echo "fuzz: clang++ not found; install clang and libclang-rt-14-dev (scripts/deps.sh)" >&2; exit 1; }
}

build() {
  local dir=${1:-$repo/build/fuzz}
  need_clang
  # One build at a time: ctest may start several fuzz tests together.
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [[ ! -f $dir/build.ninja ]]; then
    CXX=clang++ cmake -S "$repo/test/fuzz" -B "$dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/configure.log" 2>&1 ||
      { cat "$dir/configure.log" >&2; echo "fuzz: configuring $dir failed" >&2; exit 1; }
  fi
  ninja -C "$dir" -j "${BANGER_FUZZ_JOBS:-2}" >"$dir/build.log" 2>&1 ||
    { tail -50 "$dir/build.log" >&2; echo "fuzz: building $dir failed (log: $dir/build.log)" >&2; exit 1; }
}

run_target() {
  local target=${1:-} seconds=${2:-20} dir=${3:-$repo/build/fuzz}
  [[ " ${targets[*]} " == *" $target "* ]] ||
    { echo "fuzz: unknown target '$target'; one of: ${targets[*]}" >&2; exit 2; }
  [[ $seconds =~ ^[1-9][0-9]*$ ]] ||
    { echo "fuzz: SECONDS must be a whole number from 1 up, not '$seconds'" >&2; exit 2; }
  local bin=$dir/fuzz_$target seeds=$repo/test/fuzz/corpus/$target
  [[ -x $bin ]] || { echo "fuzz: $bin is missing; run: scripts/fuzz.sh build $dir" >&2; exit 1; }
  [[ -d $seeds ]] || { echo "fuzz: no seed corpus at $seeds" >&2; exit 1; }
  # Tarballs need room for a few headers and blocks; JSON, TOML and DNS
  # inputs stay small. Each family has its dictionary (dns: none).
  local max_len=8192 dict=()
  case $target in
    layer | bundle | untar) max_len=16384 dict=(-dict="$repo/test/fuzz/tar.dict") ;;
    settings) dict=(-dict="$repo/test/fuzz/toml.dict") ;;
    dns) ;;
    *) dict=(-dict="$repo/test/fuzz/json.dict") ;;
  esac
  # New inputs go to a scratch corpus; the checked-in seeds are only read.
  local work=$dir/corpus/$target artifacts=$dir/artifacts/$target
  mkdir -p "$work" "$artifacts"
  echo "fuzz: $target for ${seconds}s (seeds: $seeds)"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "${dict[@]}" \
      "$work" "$seeds" >"$dir/$target.log" 2>&1; then
    tail -40 "$dir/$target.log"
    echo "fuzz: $target FAILED; the input is in $artifacts/ (log: $dir/$target.log)"
    echo "fuzz: after the fix, copy it to test/fuzz/corpus/$target/ as a regression"
    exit 1
  fi
  grep -E '^stat::number_of_executed_runs|^Done|INFO: .*corpus' "$dir/$target.log" | tail -3
}

case ${1:-} in
  build) build "${2:-}" ;;
  run) shift; run_target "$@" ;;
  list) printf '%s\n' "${targets[@]}" ;;
  *) usage ;;
esac
