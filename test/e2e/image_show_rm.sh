#!/usr/bin/env bash
# A user inspects and removes images and kernels: show prints what is
# stored, rm refuses while something uses it (naming what) and otherwise
# removes the row and the files.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

run banger image show default --json
expect_json "$OUT" 'd["kernel"]' default "image show kernel"
rootfs=$(json_get "$OUT" 'd["rootfs"]')
expect_match "$rootfs" "^$(state_dir)/images/" "image rootfs lives in the state dir"
expect_rc 0 banger image show default
expect_contains "$OUT" "rootfs" "image show text"
expect_rc 0 banger kernel show default
expect_contains "$OUT" "vmlinux" "kernel show text"
expect_rc 1 banger image show nosuch
expect_contains "$ERR" '"nosuch"' "image show names the missing image"

# In use: refused, and the refusal names the user.
expect_rc 1 banger kernel rm default
expect_contains "$ERR" 'image "default"' "kernel rm names the image using it"
must expect_rc 0 banger vm create --name user
expect_rc 1 banger image rm default
expect_contains "$ERR" 'VM "user"' "image rm names the VM using it"
expect_contains "$ERR" "banger image rm -f default" "the refusal offers rm -f"
expect_eq "$(vm_field user 'd["state"]')" running "the VM is untouched"
test -f "$rootfs" || fail "the refused image rm removed $rootfs"

# Unused: gone, row and files.
must expect_rc 0 banger image import spare --rootfs "$BANGER_ROOTFS" --kernel default
run banger image show spare --json
spare=$(json_get "$OUT" 'd["rootfs"]')
expect_rc 0 banger image rm spare
expect_eq "$OUT" $'image spare deleted\n' "image rm output"
[[ ! -e $spare && ! -e $(dirname "$spare") ]] || fail "image rm left $(dirname "$spare")"
expect_rc 1 banger image show spare

# rm -f says what it takes with it: the VMs that use the image.
must expect_rc 0 banger image import doomed --rootfs "$BANGER_ROOTFS" --kernel default
must expect_rc 0 banger vm create --name victim --image doomed
expect_rc 1 banger kernel rm -f default
expect_contains "$ERR" 'image "default"' "kernel rm -f still refuses while images use it"
expect_eq "$(vm_field victim 'd["state"]')" running "a refused kernel rm -f deletes no VM"
expect_rc 0 banger image rm -f doomed
expect_eq "$OUT" $'deleted VM victim (running), which used image doomed\nimage doomed deleted\n' "image rm -f lists the VMs it deleted"
expect_rc 1 banger vm show victim
expect_rc 1 banger image show doomed
expect_eq "$(vm_field user 'd["state"]')" running "VMs of other images are untouched"

expect_rc 0 banger vm delete -f user
expect_nothing_left
e2e_pass
