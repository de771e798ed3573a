#!/usr/bin/env bash
# A state dir that fills up during a create: the daemon's state dir is a
# small tmpfs (mounted in this scenario's own mount namespace - `ip netns
# exec` gives it one - and lazily unmounted at exit). A VM of the default
# image fits. Then image "big", whose work seed holds 24 MiB of data, and a
# file filling the tmpfs but 12 MiB: a create from "big" fills the tmpfs
# while it copies the seed into the VM's work disk, and must fail with an
# error naming the state dir and saying there is no space, and leave nothing:
# no row, no dir, no TAP, the space back. The first VM still works (its
# guest's writes have the 12 MiB), and state.db passes `pragma
# integrity_check`. With room again, the same create works.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=resilience_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/resilience_lib.sh"
e2e_enter_netns "$@"

STATE_MNT=""
# The tmpfs must go before lib.sh's teardown removes the temp dir; the log
# tail is printed first, as the tmpfs takes it along.
eval "$(declare -f e2e_teardown | sed '1s/e2e_teardown/_e2e_teardown_lib/')"
e2e_teardown() {
  local rc=$?
  set +e # (exit "$rc") below must not end the trap under set -e
  if [[ -n $STATE_MNT ]]; then
    if ((rc != 0 || ${#E2E_FAILS[@]} != 0)); then
      echo "---- bangerd.log on the tmpfs (tail) ----" >&2
      tail -n 40 "$STATE_MNT/bangerd.log" >&2 2>/dev/null
    fi
    timeout -k 5 30 "$BANGER_BIN_DIR/banger" daemon stop >/dev/null 2>&1
    umount -l "$STATE_MNT" 2>/dev/null
  fi
  (exit "$rc")
  _e2e_teardown_lib
}
trap e2e_teardown EXIT

e2e_instance main
STATE_MNT=$(state_dir)
mkdir -p "$STATE_MNT"
mount -t tmpfs -o "size=256m,mode=0700,uid=$(id -u "$E2E_USER")" banger-e2e-state "$STATE_MNT" ||
  e2e_skip "cannot mount a tmpfs here"
must expect_rc 0 banger daemon start
must expect_rc 0 banger kernel import default --from "$BANGER_KERNEL_DIR"
must expect_rc 0 banger image import default --rootfs "$BANGER_ROOTFS" \
  --work-seed "$BANGER_WORK_SEED" --kernel default

# The big seed: 24 MiB of random data (no holes for cp --sparse to skip).
mkdir -p "$E2E_TMP/bigseed"
head -c 24M /dev/urandom >"$E2E_TMP/bigseed/blob"
mke2fs -q -t ext4 -d "$E2E_TMP/bigseed" -F "$E2E_TMP/big-seed.ext4" 48M ||
  abort "mke2fs of the big seed failed"
chmod 644 "$E2E_TMP/big-seed.ext4"
must expect_rc 0 banger image import big --rootfs "$BANGER_ROOTFS" \
  --work-seed "$E2E_TMP/big-seed.ext4" --kernel default

must expect_rc 0 banger vm create --name fits --memory 128
expect_rc 0 banger vm exec fits -- echo ok
expect_eq "$OUT" $'ok\n' "exec in the VM that fits"

# Fill the tmpfs to 12 MiB short of full: less than the big seed's data.
avail_kib=$(df --output=avail -k "$STATE_MNT" | tail -n1 | tr -d ' ')
fill_kib=$((avail_kib - 12 * 1024))
((fill_kib > 0)) || abort "the tmpfs has only ${avail_kib} KiB free after one VM"
dd if=/dev/zero of="$STATE_MNT/filler" bs=1K count="$fill_kib" status=none 2>/dev/null || true
echo "  small state dir: $(df -h --output=size,used,avail "$STATE_MNT" | tail -n1)" >&2

taps_before=$(tap_count)
avail_before=$(df --output=avail -k "$STATE_MNT" | tail -n1 | tr -d ' ')
expect_rc nonzero banger vm create --name toobig --image big --memory 128
err=$ERR
echo "  small state dir: the failed create said: $err" >&2
expect_contains "$err" "$STATE_MNT" "the error names the state dir"
expect_match "${err,,}" "no space" "the error says there is no space"
expect_eq "$(vm_count)" 1 "rows after the failed create"
expect_rc nonzero banger vm show toobig
expect_eq "$(find "$(vms_dir)" -mindepth 1 -maxdepth 1 | wc -l)" 1 "VM dirs after the failed create"
wait_until 10 taps_at_most "$taps_before" ||
  fail "TAPs after the failed create: $(tap_count), before: $taps_before ($(tap_list))"
expect_consistent "after the failed create"
avail_after=$(df --output=avail -k "$STATE_MNT" | tail -n1 | tr -d ' ')
# 1 MiB slack: the running VM's guest, the log and state.db's WAL write too;
# a kept partial copy of the seed would be megabytes.
((avail_after >= avail_before - 1024)) ||
  fail "the failed create kept space: ${avail_before} KiB free before, ${avail_after} KiB after"

# The first VM still works, the database is whole.
expect_rc 0 banger vm exec fits -- echo still
expect_eq "$OUT" $'still\n' "exec in the first VM while the state dir is full"
expect_eq "$(sqlite3 "$STATE_MNT/state.db" 'pragma integrity_check' 2>&1)" ok "state.db integrity_check"

# With room again, the same create works.
rm -f "$STATE_MNT/filler"
expect_rc 0 banger vm create --name toobig --image big --memory 128
expect_rc 0 banger vm delete -f toobig
expect_rc 0 banger vm delete -f fits
expect_nothing_left
e2e_pass
