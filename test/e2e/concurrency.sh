#!/usr/bin/env bash
# Concurrency: 8 `vm create` at once (distinct names, 128 MiB each) all
# succeed with distinct addresses and TAPs, and all exec. Then on one VM
# `vm stop`, `vm exec` and `vm delete` at once: each ends with success or a
# sensible refusal (bad state / no such VM, never a hang or an internal
# error), the daemon still serves, and the VM ends gone or stopped with
# nothing of it running (no TAP, VMM or NAT rule beyond the others').
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=resilience_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/resilience_lib.sh"
e2e_enter_netns "$@"
e2e_setup

n=8
pids=()
for ((i = 1; i <= n; i++)); do
  timeout -k 5 240 "$BANGER_BIN_DIR/banger" vm create --name "p$i" --memory 128 \
    >"$E2E_TMP/create.$i" 2>&1 &
  pids+=($!)
done
for ((i = 1; i <= n; i++)); do
  wait "${pids[$((i - 1))]}" || fail "vm create p$i (one of $n at once): $(cat "$E2E_TMP/create.$i")"
done
_e2e_record_pids
must expect_rc 0 banger vm list --json
rows=$OUT
expect_json "$rows" 'len([v for v in d["vms"] if v["state"]=="running"])' "$n" "running VMs"
expect_json "$rows" 'len(set(v["ip"] for v in d["vms"] if v["ip"]))' "$n" "distinct addresses"
expect_eq "$(tap_count)" "$((n + 1))" "TAPs: one per VM plus the warm pool ($(tap_list))"
expect_eq "$(wc -w <<<"$(live_vmms)")" "$n" "live VMMs"
for ((i = 1; i <= n; i++)); do
  expect_rc 0 banger vm exec "p$i" -- cat /proc/sys/kernel/hostname
  expect_eq "$OUT" "p$i"$'\n' "exec in p$i"
done

# stop, exec and delete of p1 at once.
p1_id=$(vm_field p1 'd["id"]')
p1_pid=$(vm_field p1 'd["pid"]')
timeout -k 5 60 "$BANGER_BIN_DIR/banger" vm stop p1 >"$E2E_TMP/stop" 2>&1 &
s=$!
timeout -k 5 60 "$BANGER_BIN_DIR/banger" vm exec p1 -- echo hi >"$E2E_TMP/exec" 2>&1 &
e=$!
timeout -k 5 60 "$BANGER_BIN_DIR/banger" vm delete p1 >"$E2E_TMP/delete" 2>&1 &
d=$!
for v in stop:$s exec:$e delete:$d; do
  rc=0
  wait "${v#*:}" || rc=$?
  out=$(cat "$E2E_TMP/${v%%:*}")
  echo "  concurrent ${v%%:*} p1: rc $rc: $out" >&2
  [[ $rc -ne 124 && $rc -ne 137 ]] || fail "vm ${v%%:*} p1 hung"
  if [[ $rc -ne 0 ]]; then
    expect_match "$out" 'is (stopping|stopped|running|still starting)|no VM named "p1"|already stopp|agent connection was closed' \
      "vm ${v%%:*} p1's refusal"
    expect_not_contains "$out" "internal" "vm ${v%%:*} p1's refusal"
  fi
done
expect_rc 0 banger daemon status
st=$(json_get "$("$BANGER_BIN_DIR/banger" vm list --json)" "next((v['state'] for v in d['vms'] if v['name']=='p1'), 'gone')")
case $st in
  gone | stopped) ;;
  *) fail "p1 is '$st' after stop+exec+delete: neither gone nor stopped" ;;
esac
expect_proc_gone "$p1_pid" "p1's VMM"
[[ $st == gone ]] && { [[ ! -e $(vms_dir)/$p1_id ]] || fail "p1's dir remains after its delete"; }
expect_consistent "after stop+exec+delete of p1"
[[ $st == stopped ]] && expect_rc 0 banger vm delete p1

# The rest go at once too.
pids=()
for ((i = 2; i <= n; i++)); do
  timeout -k 5 120 "$BANGER_BIN_DIR/banger" vm delete -f "p$i" >"$E2E_TMP/del.$i" 2>&1 &
  pids+=($!)
done
for ((i = 2; i <= n; i++)); do
  wait "${pids[$((i - 2))]}" || fail "vm delete -f p$i: $(cat "$E2E_TMP/del.$i")"
done
expect_consistent "after all deletes"
expect_nothing_left
e2e_pass
