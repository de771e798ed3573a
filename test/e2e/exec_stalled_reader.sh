#!/usr/bin/env bash
# A client that stops reading a stream (`banger vm exec box -- head -c 1G
# /dev/zero | a reader that sleeps`) must not make bangerd queue the guest's
# output: flow control (docs/protocol.md §6.2) makes the guest's writer block
# instead. bangerd's VmRSS is sampled while the reader stalls for 20 s and
# must grow by less than 64 MiB (before flow control it grew ~4.6 MB/s);
# meanwhile the same VM still answers another exec. Then the reader drains
# and the stream ends with every byte and exit code 0.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

B=$BANGER_BIN_DIR/banger
must expect_rc 0 banger vm create --name box

dpid=$(cat "$(daemon_pid_file)")
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$dpid/status"; }
base=$(rss_kib)
peak=$base
total=$((1024 * 1024 * 1024))
stall=20

# The reader takes nothing for $stall seconds, then counts what arrives.
(
  "$B" vm exec box -- head -c "$total" /dev/zero 2>"$E2E_TMP/flood.err" |
    { sleep "$stall"; wc -c >"$E2E_TMP/flood.count"; }
  echo "${PIPESTATUS[0]}" >"$E2E_TMP/flood.rc"
) &
e2e_track_pid "$!" "stalled exec"
started=$SECONDS

for ((i = 1; i < stall - 2; i++)); do
  sleep 1
  r=$(rss_kib)
  ((r > peak)) && peak=$r
  # Another stream of the same VM is not held up by the stalled one.
  if ((i == 5)); then
    expect_rc 0 banger vm exec box -- echo alive
    expect_eq "$OUT" $'alive\n' "an exec beside the stalled stream"
  fi
done
grown=$(((peak - base) / 1024))
echo "bangerd VmRSS: ${base} KiB before, peak ${peak} KiB while the reader stalled (+${grown} MiB)"
((peak - base < 64 * 1024)) ||
  fail "bangerd grew by ${grown} MiB while the client did not read (limit 64 MiB)"

# The reader drains: every byte arrives and the exit code is head's.
wait_until 200 test -s "$E2E_TMP/flood.rc" ||
  fail "the stream did not end within 200 s after the reader resumed"
echo "1 GiB streamed in $((SECONDS - started)) s (${stall} s of them stalled)"
expect_eq "$(cat "$E2E_TMP/flood.rc" 2>/dev/null)" 0 "exit code of the flooding exec"
expect_eq "$(tr -d ' ' <"$E2E_TMP/flood.count" 2>/dev/null)" "$total" "bytes the reader got"
r=$(rss_kib)
((r > peak)) && peak=$r
echo "bangerd VmRSS peak over the whole flood: ${peak} KiB"
((peak - base < 64 * 1024)) ||
  fail "bangerd grew by $(((peak - base) / 1024)) MiB during the flood (limit 64 MiB)"

must expect_rc 0 banger vm delete -f box
expect_nothing_left
e2e_pass
