#!/usr/bin/env bash
# The work disk: /root of every VM lives on its own ext4 disk of the VM's
# --disk-size, cloned from the image's work seed (or, for an image without
# one, filled from the image's /root on first boot), kept across stop/start
# and sparse on the host. Bad sizes are refused before anything exists.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

# -- bad sizes: refused, nothing made --------------------------------------------
expect_rc nonzero banger vm create --name tiny --disk-size 10M
expect_contains "$ERR" "out of range" "--disk-size 10M: error"
expect_contains "$ERR" "10MiB" "--disk-size 10M: error names the value"
expect_rc nonzero banger vm create --name lots --disk-size lots
expect_contains "$ERR" "expected a size like 4G" "--disk-size lots: error"
expect_nothing_left

# -- a VM with a 1 GiB work disk from the image's seed ----------------------------
must expect_rc 0 banger vm create --name box --disk-size 1G
expect_rc 0 banger vm show box --json
expect_json "$OUT" 'd["disk_bytes"]' 1073741824 "vm show --json disk_bytes"
expect_rc 0 banger vm show box
expect_match "$OUT" $'(^|\n)disk: +1GiB \\(/root\\)' "vm show: disk line"
dir=$(vm_field box 'd["dir"]') || abort "no dir for box: $dir"
expect_eq "$(stat -c %s "$dir/work.ext4")" 1073741824 "work disk file size on the host"
used_kib=$(du -k "$dir/work.ext4" | cut -f1)
((used_kib < 102400)) || fail "the work disk takes ${used_kib} KiB on the host: not sparse"

expect_rc 0 banger vm exec box -- grep ' /root ' /proc/mounts
expect_match "$OUT" '^/dev/vd[a-z] /root ext4 ' "/root is a mounted ext4 disk"
expect_rc 0 banger vm exec box -- df -k /root
total_kib=$(awk 'NR==2 {print $2}' <<<"$OUT")
((total_kib > 900000 && total_kib <= 1048576)) ||
  fail "df /root in the guest: ${total_kib} KiB, expected about 1 GiB (df: $OUT)"
# What the image's /root holds (scripts/build-image.sh) came with the seed.
expect_rc 0 banger vm exec box -- cat /root/.profile
expect_contains "$OUT" "PS1=" "/root/.profile from the work seed"
expect_rc 0 banger vm exec box -- stat -c '%a %u %g' /root /root/.profile
seeded_meta=$OUT
expect_eq "$(head -n1 <<<"$seeded_meta")" "700 0 0" "/root's mode and owner"
expect_rc 0 banger vm exec box -- sh -c 'test "$(stat -c %d /root)" != "$(stat -c %d /)"'

# Kept across stop/start; the seed is not cloned again.
expect_rc 0 banger vm exec box -- sh -c 'echo kept > /root/marker && echo edited >> /root/.profile && sync'
must expect_rc 0 banger vm stop box
must expect_rc 0 banger vm start box
expect_rc 0 banger vm exec box -- cat /root/marker
expect_eq "$OUT" $'kept\n' "/root/marker after stop/start"
expect_rc 0 banger vm exec box -- tail -n1 /root/.profile
expect_eq "$OUT" $'edited\n' "/root/.profile keeps the VM's edit after stop/start"

# -- vm set: only while stopped, validated, disks only grow ----------------------
expect_rc nonzero banger vm set box --disk-size 2G
expect_contains "$ERR" "stop" "vm set on a running VM says to stop it"
must expect_rc 0 banger vm stop box
expect_rc nonzero banger vm set box --disk-size 512M
expect_contains "$ERR" "only grow" "a smaller disk is refused"
expect_rc nonzero banger vm set box --vcpu 1000
expect_contains "$ERR" "--vcpu 1000 is too many" "too many vCPUs are refused"
expect_rc nonzero banger vm set box
expect_contains "$ERR" "nothing to change" "vm set without a change"
expect_eq "$(stat -c %s "$dir/work.ext4")" 1073741824 "refused sets leave the disk as it was"
expect_rc 0 banger vm set box --vcpu 2 --memory 320 --disk-size 2G
expect_contains "$OUT" "2 vCPU, 320MiB memory, 2GiB disk" "vm set says what changed"
expect_eq "$(stat -c %s "$dir/work.ext4")" 2147483648 "the work disk grew on the host"
must expect_rc 0 banger vm start box
expect_rc 0 banger vm exec box -- nproc
expect_eq "$OUT" $'2\n' "the guest sees the new vCPU count"
expect_rc 0 banger vm exec box -- df -k /root
total_kib=$(awk 'NR==2 {print $2}' <<<"$OUT")
((total_kib > 1900000 && total_kib <= 2097152)) ||
  fail "df /root after vm set --disk-size 2G: ${total_kib} KiB (df: $OUT)"
expect_rc 0 banger vm exec box -- cat /root/marker
expect_eq "$OUT" $'kept\n' "/root's files survive the growth"

# -- an image without a work seed: banger-init copies /root on first boot ---------
must expect_rc 0 banger image import noseed --rootfs "$BANGER_ROOTFS" --kernel default
expect_rc 0 banger image show noseed --json
expect_json "$OUT" 'd["work_seed"]' "" "image show --json work_seed of an image imported without one"
must expect_rc 0 banger vm create --name fresh --image noseed
expect_rc 0 banger vm show fresh --json
expect_json "$OUT" 'd["disk_bytes"]' 8589934592 "the default disk size"
expect_rc 0 banger vm exec fresh -- stat -c '%a %u %g' /root /root/.profile
expect_eq "$OUT" "$seeded_meta" "/root copied on first boot: modes and owners as in the seed"
expect_rc 0 banger vm exec fresh -- sh -c 'test ! -e /root/.banger-unseeded && grep " /root " /proc/mounts'
expect_match "$OUT" '^/dev/vd[a-z] /root ext4 ' "fresh: /root is the work disk"
expect_rc 0 banger vm exec fresh -- sh -c 'echo mine > /root/.profile && sync'
must expect_rc 0 banger vm stop fresh
must expect_rc 0 banger vm start fresh
expect_rc 0 banger vm exec fresh -- cat /root/.profile
expect_eq "$OUT" $'mine\n' "the first-boot copy happens once: the VM's edit stays"

expect_rc 0 banger vm delete -f box
expect_rc 0 banger vm delete -f fresh
expect_nothing_left
e2e_pass
