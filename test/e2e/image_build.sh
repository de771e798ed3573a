#!/usr/bin/env bash
# A user makes an image by provisioning a VM of another one: the command's
# output streams back, the result boots with the change (and the size asked
# for), and a failing command, a taken name or a missing base publish
# nothing and leave no VM behind.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
# A [guest] file reaches the VMs of the built image, never the image itself.
E2E_EXTRA_CONFIG=$'[guest]\nfiles = ["/etc/os-release:.host-file"]'
e2e_setup

images_now() { find "$(state_dir)/images" -mindepth 1 -maxdepth 1 | sort; }

expect_rc 0 banger image build tools --from-image default --size 1536M -- \
  sh -c 'echo provisioned >/etc/built; mkdir /root/tools; echo home >/root/tools/rc; echo to-stdout; echo to-stderr >&2; ls -a /root'
expect_not_contains "$OUT" ".host-file" "the build VM gets no [guest] files"
expect_contains "$OUT" "to-stdout" "the provisioning command's stdout streams back"
expect_contains "$ERR" "to-stderr" "the provisioning command's stderr streams back"
expect_contains "$OUT" "image tools built from default" "build reports the new image"
run banger image show tools --json
expect_json "$OUT" 'd["source"]' "build:default" "the image records its base"
expect_json "$OUT" 'd["size_bytes"]' $((1536 * 1024 * 1024)) "the image has the size asked for"
expect_json "$OUT" 'd["kernel"]' default "the image keeps the base's kernel"
expect_eq "$(vm_count)" 0 "the build VM is gone"

expect_rc 0 banger vm run --rm --image tools -- cat /etc/built /root/tools/rc /root/.profile
expect_match "$OUT" $'^provisioned\nhome\nPS1=' "a VM of the new image has the changes, /root's included"
run banger image show tools --json
seed=$(json_get "$OUT" 'd["work_seed"]') && seed=${seed//\"/}
[[ -f $seed ]] || fail "the built image has no work seed ($seed)"
seed_bytes=$(stat -c %s "$seed")
((seed_bytes < 512 * 1048576)) || fail "the work seed was not shrunk: $seed_bytes bytes"
expect_rc 0 banger vm run --rm --image tools -- df -k /
blocks=$(awk 'NR==2 {print $2}' <<<"$OUT")
((blocks > 1300000)) || fail "the root filesystem did not grow to ~1.5 GiB: df says $blocks KiB"
expect_rc 0 banger vm run --rm --no-host-files --image tools -- ls -a /root
expect_not_contains "$OUT" ".host-file" "the built image holds no [guest] file"
expect_rc 0 banger vm run --rm --image tools -- cat /root/.host-file
expect_eq "$OUT" "$(cat /etc/os-release)"$'\n' "its VMs get the [guest] file"
# The base is untouched.
expect_rc 1 banger vm run --rm -- test -e /etc/built

before=$(images_now)
expect_rc 1 banger image build broken --from-image default -- sh -c 'echo half >/etc/half; exit 3'
expect_contains "$ERR" "exited with 3" "a failing command is reported with its exit code"
expect_contains "$ERR" "nothing was published" "and nothing is published"
expect_rc 1 banger image show broken
expect_eq "$(images_now)" "$before" "a failed build leaves nothing in the images dir"
expect_eq "$(vm_count)" 0 "a failed build leaves no VM"

expect_rc 1 banger image build tools --from-image default -- true
expect_contains "$ERR" '"tools" exists already' "a taken name is refused"
expect_rc 1 banger image build other --from-image nosuch -- true
expect_contains "$ERR" '"nosuch"' "a missing base is named"
expect_rc 2 banger image build other --from-image default
expect_eq "$(vm_count)" 0 "refused builds start no VM"

expect_rc 0 banger image rm tools
expect_nothing_left
e2e_pass
