#!/usr/bin/env bash
# A client that stops reading a stream (`banger vm exec box -- head -c 1G
# /dev/zero` into a pipe nobody reads) must not make bangerd queue the
# guest's output: flow control (docs/protocol.md §6.2) makes the guest's
# writer block instead. bangerd's VmRSS is sampled while the reader stalls
# for 20 s and must grow by less than 64 MiB (before flow control it grew by
# ~4.6 MB/s, ~90 MB in 20 s); meanwhile the same VM still answers another
# exec. Then the reader drains for a while and gives up (1 GiB through TCG
# takes minutes: ~1.6 MB/s on a loaded 2-core machine), which cancels the
# exec; the daemon and the VM must still serve. A 16 MiB stream held at its
# window for a while must then arrive whole, with exit code 0.
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
sample() {
  local r
  r=$(rss_kib)
  ((r > peak)) && peak=$r
  return 0
}

# stalled_exec BYTES STALL DRAIN: `head -c BYTES /dev/zero` in the guest, its
# output into a fifo nobody reads for STALL s (sampling bangerd's RSS each
# second), then counted by a reader given DRAIN s. Sets COUNT ("" if the
# reader gave up) and XRC (the CLI's exit code).
stalled_exec() {
  local bytes=$1 stall=$2 drain=$3 fifo=$E2E_TMP/out.fifo i cpid
  rm -f "$fifo"
  mkfifo "$fifo"
  "$B" vm exec box -- head -c "$bytes" /dev/zero >"$fifo" 2>"$E2E_TMP/flood.err" &
  cpid=$!
  e2e_track_pid "$cpid" "stalled exec"
  exec 4<"$fifo" # the reader's end: open, never read while stalled
  for ((i = 1; i <= stall; i++)); do
    sleep 1
    sample
    # Another stream of the same VM is not held up by the stalled one.
    if ((i == 5)); then
      expect_rc 0 banger vm exec box -- echo alive
      expect_eq "$OUT" $'alive\n' "an exec beside the stalled stream"
    fi
  done
  local started=$SECONDS
  COUNT=$(timeout "$drain" wc -c <&4) || COUNT=""
  exec 4<&-
  [[ -n $COUNT ]] && echo "drained $bytes bytes in $((SECONDS - started)) s after a ${stall} s stall"
  XRC=0
  wait "$cpid" || XRC=$?
  sample
}

stalled_exec $((1024 * 1024 * 1024)) 20 10
grown=$(((peak - base) / 1024))
echo "bangerd VmRSS: ${base} KiB before, peak ${peak} KiB during the 1 GiB flood (+${grown} MiB)"
((peak - base < 64 * 1024)) ||
  fail "bangerd grew by ${grown} MiB while the client did not read (limit 64 MiB)"
if [[ -n $COUNT ]]; then
  expect_eq "$COUNT" $((1024 * 1024 * 1024)) "bytes of the 1 GiB flood the reader got"
  expect_eq "$XRC" 0 "exit code of the 1 GiB flood"
else
  echo "the reader took 10 s of the 1 GiB flood and gave up (the exec is cancelled)"
fi
# Whatever happened to the flood, the daemon and the VM still serve.
expect_rc 0 banger vm exec box -- echo still
expect_eq "$OUT" $'still\n' "an exec after the flood"

# Exactness: a stream held at its window for a while loses nothing.
stalled_exec $((16 * 1024 * 1024)) 6 120
expect_eq "$COUNT" $((16 * 1024 * 1024)) "bytes of a 16 MiB stream after a stall"
expect_eq "$XRC" 0 "exit code of the 16 MiB stream"
echo "bangerd VmRSS peak over the scenario: ${peak} KiB (base ${base} KiB)"
((peak - base < 64 * 1024)) ||
  fail "bangerd grew by $(((peak - base) / 1024)) MiB (limit 64 MiB)"

must expect_rc 0 banger vm delete -f box
expect_nothing_left
e2e_pass
