#!/usr/bin/env bash
# Leak check: N create/exec/delete cycles (N = $BANGER_LEAK_CYCLES, default
# 100), P at a time in parallel ($BANGER_LEAK_PARALLEL, default 4, distinct
# names). Under TCG on 2 cores the boots are CPU-bound: 48 cycles took 103 s
# in a CI run on an idle host (100: about 3.5 min), 6.5-9 min for 100 on a
# loaded one; CI runs the full 100 (TIMEOUT in test/e2e/CMakeLists.txt).
# Before and after (after one
# warm-up round, so that first-use allocations do not count) it records
# bangerd's open fds (/proc/PID/fd), its RSS (VmRSS) and the number of files
# in the state dir, prints them, and asserts: fds and files back to where
# they were, RSS grown by less than 20 MiB; plus no row, dir, VMM, TAP (but
# the warm pool's) or NAT rule left.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=resilience_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/resilience_lib.sh"
e2e_enter_netns "$@"
e2e_setup

cycles=${BANGER_LEAK_CYCLES:-100}
par=${BANGER_LEAK_PARALLEL:-4}
rss_bound_kib=$((20 * 1024))

fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
files() { find "$(state_dir)" -type f | wc -l; }

# cycle NAME: create, exec (the name back), delete; prints what failed.
cycle() {
  local name=$1 out
  out=$(timeout -k 5 180 "$BANGER_BIN_DIR/banger" vm create --name "$name" --nat --memory 128 2>&1) ||
    { echo "$name: create: $out"; return 1; }
  out=$(timeout -k 5 60 "$BANGER_BIN_DIR/banger" vm exec "$name" -- cat /proc/sys/kernel/hostname 2>&1)
  [[ $out == "$name" ]] || { echo "$name: exec said: $out"; timeout 60 "$BANGER_BIN_DIR/banger" vm delete -f "$name" >/dev/null 2>&1; return 1; }
  out=$(timeout -k 5 60 "$BANGER_BIN_DIR/banger" vm delete -f "$name" 2>&1) ||
    { echo "$name: delete: $out"; return 1; }
}

# round FIRST: cycles FIRST..FIRST+par-1 at once.
round() {
  local first=$1 j pids=() rc=0 logs=()
  for ((j = first; j < first + par && j <= cycles; j++)); do
    cycle "leak$j" >"$E2E_TMP/cycle.$j" 2>&1 &
    pids+=($!)
    logs+=("$E2E_TMP/cycle.$j")
  done
  for j in "${!pids[@]}"; do
    wait "${pids[$j]}" || { rc=1; fail "cycle: $(cat "${logs[$j]}")"; }
  done
  _e2e_record_pids
  return "$rc"
}

dpid=$(daemon_pid)
# Warm-up: one round, not counted.
saved=$cycles
cycles=$par
round 1 || abort "the warm-up round failed"
cycles=$saved
wait_until 10 taps_at_most 1 || true
fd0=$(fds "$dpid") rss0=$(rss_kib "$dpid") files0=$(files)
started=$SECONDS
for ((k = 1; k <= cycles; k += par)); do
  round "$k" || abort "round at cycle $k failed"
done
took=$((SECONDS - started))
expect_consistent "after $cycles cycles"
# fds of ended connections and agents close asynchronously: 10 s to settle.
fds_at_most() { [[ $(fds "$dpid") -le $1 ]]; }
wait_until 10 fds_at_most "$fd0" || true
fd1=$(fds "$dpid") rss1=$(rss_kib "$dpid") files1=$(files)
echo "  leak check: $cycles cycles ($par in parallel) in ${took}s; bangerd pid $dpid:" \
  "fds $fd0 -> $fd1, RSS ${rss0} KiB -> ${rss1} KiB ($(((rss1 - rss0) / 1024)) MiB)," \
  "state dir files $files0 -> $files1" >&2
expect_eq "$fd1" "$fd0" "bangerd's open fds after $cycles cycles (before: $fd0)"
expect_eq "$files1" "$files0" "files in the state dir after $cycles cycles"
((rss1 - rss0 < rss_bound_kib)) ||
  fail "bangerd's RSS grew by $(((rss1 - rss0) / 1024)) MiB over $cycles cycles (bound 20 MiB): $rss0 -> $rss1 KiB"
expect_eq "$(daemon_pid)" "$dpid" "the same daemon served every cycle"
expect_nothing_left
e2e_pass
