#!/usr/bin/env bash
# A user pulls a container image from a registry and boots a VM from it.
# The image (built here, pushed to Debian's docker-registry on loopback) is a
# multi-arch index; its amd64 image has a gzip and a zstd layer with a
# whiteout, an opaque directory, a hardlink, a symlink, a device node, a
# setuid file and files owned by another user, and no init and no sshd.
# Then: a second pull of the same reference downloads nothing; eight
# concurrent pulls of a new one share one download; bad references, a
# platform the registry lacks, a corrupt blob and a full disk each fail
# clearly and leave nothing behind.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=oci.sh
source "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
e2e_enter_netns "$@"
e2e_setup
oci_registry_start

work=$E2E_TMP/oci
mkdir -p "$work"
# -- the image ------------------------------------------------------------------
l1=$work/l1
# Like real container images: empty mount points for the API filesystems.
mkdir -p "$l1"/{bin,etc,root,opt/old,home/app,dev,proc,sys,tmp,run}
oci_busybox "$l1/bin/busybox"
ln -s busybox "$l1/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$l1/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$l1/etc/group"
echo amd64 >"$l1/etc/arch"
echo "to be whited out" >"$l1/etc/removed.txt"
echo "hidden by the opaque dir" >"$l1/opt/old/gone.txt"
echo "mine" >"$l1/home/app/owned.txt"
chown 1000:1000 "$l1/home/app" "$l1/home/app/owned.txt"
chmod 0640 "$l1/home/app/owned.txt"
chmod 0700 "$l1/root"
echo "root's own" >"$l1/root/.rootrc"
chown 1000:1000 "$l1/root/.rootrc"
chmod 0604 "$l1/root/.rootrc"
oci_layer "$l1" "$work/l1.tar.gz"

l2=$work/l2
mkdir -p "$l2"/{etc,opt/old,data}
: >"$l2/etc/.wh.removed.txt"
: >"$l2/opt/old/.wh..wh..opq"
echo "new in the opaque dir" >"$l2/opt/old/new.txt"
echo "linked" >"$l2/data/a"
ln "$l2/data/a" "$l2/data/b"
ln -s a "$l2/data/link"
mknod "$l2/data/null" c 1 3
echo "#!/bin/sh" >"$l2/data/suid"
chmod 4755 "$l2/data/suid"
oci_layer "$l2" "$work/l2.tar.zst"

arm=$work/arm
mkdir -p "$arm/etc"
echo arm64 >"$arm/etc/arch"
oci_layer "$arm" "$work/arm.tar.gz"

layout=$work/layout
mapfile -t digests < <(python3 "$OCI_HERE/oci_layout.py" "$layout" multi \
  "amd64=$work/l1.tar.gz,$work/l2.tar.zst" "arm64=$work/arm.tar.gz")
amd64_manifest=${digests[1]#amd64=}
python3 "$OCI_HERE/oci_layout.py" "$layout" armonly "arm64=$work/arm.tar.gz" >/dev/null
oci_push "$layout" multi e2e/tools
oci_push "$layout" armonly e2e/tools
ref=$OCI_REGISTRY/e2e/tools:multi

# -- pull, boot, look inside -------------------------------------------------------
must expect_rc 0 banger image pull "$ref"
expect_contains "$OUT" "image tools-multi pulled from $ref" "pull names the image and the source"
run banger image show tools-multi --json
expect_json "$OUT" 'd["digest"]' "$amd64_manifest" "the host's platform (amd64) was chosen from the index"
expect_json "$OUT" 'd["source"]' "$ref" "image show records the source"
expect_json "$OUT" 'd["kernel"]' default "a pulled image boots the default kernel"
seed=$(json_get "$OUT" 'd["work_seed"]') || abort "no work_seed: $seed"
seed=${seed//\"/}
[[ -f $seed ]] || fail "the pulled image has no work seed file ($seed)"

must expect_rc 0 banger vm create --name box --image tools-multi
bb=(banger vm exec box -- /bin/busybox)
expect_rc 0 "${bb[@]}" cat /etc/arch
expect_eq "$OUT" $'amd64\n' "the amd64 layers are in the VM"
expect_rc 1 "${bb[@]}" test -e /etc/removed.txt
expect_rc 0 "${bb[@]}" ls /opt/old
expect_eq "$OUT" $'new.txt\n' "the opaque dir hides the lower layer's files"
expect_rc 0 "${bb[@]}" stat -c '%u:%g %a' /home/app/owned.txt
expect_eq "$OUT" $'1000:1000 640\n' "owner and mode of an app file"
expect_rc 0 "${bb[@]}" stat -c '%i %h' /data/a
a_inode=$OUT
expect_rc 0 "${bb[@]}" stat -c '%i %h' /data/b
expect_eq "$OUT" "$a_inode" "the hardlink shares the inode (2 links)"
expect_eq "${a_inode##* }" $'2\n' "the hardlinked file has two links"
expect_rc 0 "${bb[@]}" readlink /data/link
expect_eq "$OUT" $'a\n' "the symlink's target"
expect_rc 0 "${bb[@]}" stat -c '%F %t:%T' /data/null
expect_eq "$OUT" $'character special file 1:3\n' "the device node"
expect_rc 0 "${bb[@]}" stat -c '%a %u' /data/suid
expect_eq "$OUT" $'4755 0\n' "the setuid bit and root owner"
# /root came with the image's work seed, on the VM's own work disk.
expect_rc 0 "${bb[@]}" stat -c '%u:%g %a %n' /root /root/.rootrc
expect_eq "$OUT" $'0:0 700 /root\n1000:1000 604 /root/.rootrc\n' "/root from the work seed"
expect_rc 0 "${bb[@]}" grep -c ' /root ext4 ' /proc/mounts
expect_eq "$OUT" $'1\n' "/root is the work disk"
expect_rc 0 banger vm exec box -- /bin/busybox cat /proc/1/comm
expect_eq "$OUT" $'init\n' "with no init in the image, banger-init stays PID 1"
# No sshd in the image either: banger-init's own dropbear answers.
expect_rc 0 banger vm ssh box -- /bin/busybox id -u
expect_eq "$OUT" $'0\n' "ssh into a container image without an sshd"
expect_rc 0 banger vm delete -f box

# -- the same reference again: nothing downloaded -----------------------------------
layer_gets=$(oci_blob_gets "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][1]["digest"])' "$layout/blobs/sha256/${amd64_manifest#sha256:}")")
expect_eq "$layer_gets" 1 "the zstd layer was downloaded once"
expect_rc 0 banger image pull "$ref"
expect_eq "$(oci_blob_gets "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][1]["digest"])' "$layout/blobs/sha256/${amd64_manifest#sha256:}")")" 1 \
  "pulling the same reference again downloads nothing"
expect_rc 1 banger image pull "$OCI_REGISTRY/e2e/tools:armonly" --name tools-multi
expect_contains "$ERR" '"tools-multi" exists already' "a name clash with another source is refused"

# -- eight concurrent pulls of one new reference ---------------------------------------
big=$work/big
mkdir -p "$big/blob"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$big/blob/random"
oci_layer "$big" "$work/big.tar.gz"
mapfile -t bd < <(python3 "$OCI_HERE/oci_layout.py" "$layout" big "amd64=$work/big.tar.gz")
oci_push "$layout" big e2e/big
big_layer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][0]["digest"])' "$layout/blobs/sha256/${bd[0]#sha256:}")
pids=()
for i in 1 2 3 4 5 6 7 8; do
  "$BANGER_BIN_DIR/banger" image pull "$OCI_REGISTRY/e2e/big:big" --json \
    >"$work/pull$i.out" 2>"$work/pull$i.err" &
  pids+=($!)
done
ok=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then ok=$((ok + 1)); else
    fail "concurrent pull $((i + 1)) failed: $(cat "$work/pull$((i + 1)).err")"
  fi
done
expect_eq "$ok" 8 "all eight concurrent pulls succeed"
results=$(for i in 1 2 3 4 5 6 7 8; do tail -n1 "$work/pull$i.out" |
  python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(r["name"], r["digest"], r["rootfs"])'; done | sort -u)
expect_eq "$(line_count "$results")" 1 "all eight got the same image: $results"
expect_eq "$(oci_blob_gets "$big_layer")" 1 "eight concurrent pulls made one download"
run banger image list --json
expect_json "$OUT" 'sorted(i["name"] for i in d["images"])' '["big-big", "default", "tools-multi"]' "one image per name"

# -- failures leave nothing ----------------------------------------------------------
images_now() { find "$(state_dir)/images" -mindepth 1 -maxdepth 1 | sort; }
before=$(images_now)

# Ctrl-C mid-download (loopback slowed to 16 Mbit/s in this namespace only):
# the pull stops, exits 130 and leaves no staging dir, file or row.
tc qdisc add dev lo root tbf rate 16mbit burst 64kb latency 2s ||
  abort "cannot slow down lo with tc"
"$BANGER_BIN_DIR/banger" image pull "$OCI_REGISTRY/e2e/big:big" --name interrupted \
  >"$work/int.out" 2>"$work/int.err" &
int_pid=$!
wait_until 20 grep -q '^download' "$work/int.err" || fail "the pull never reported a download"
sleep 1
kill -INT "$int_pid"
int_rc=0
wait "$int_pid" || int_rc=$?
tc qdisc del dev lo root
expect_eq "$int_rc" 130 "Ctrl-C: the pull exits 130 ($(cat "$work/int.err"))"
expect_contains "$(cat "$work/int.err")" "pull cancelled" "Ctrl-C: the pull says it was cancelled"
wait_until 10 bash -c "[[ \"\$(find '$(state_dir)/images' -mindepth 1 -maxdepth 1 | sort)\" == '$before' ]]" ||
  fail "a cancelled pull left files: $(images_now)"
expect_rc 1 banger image show interrupted
expect_rc 1 banger image pull "$OCI_REGISTRY/e2e/nosuch:1"
expect_contains "$ERR" "$OCI_REGISTRY/e2e/nosuch:1" "a missing repository: the error names the reference"
expect_rc 1 banger image pull "$OCI_REGISTRY/e2e/tools:armonly"
expect_contains "$ERR" "linux/amd64" "a missing platform: the error names the wanted platform"
expect_rc 1 banger image pull "127.0.0.1:1/e2e/tools:multi" --name unreachable
expect_contains "$ERR" "127.0.0.1:1" "an unreachable registry: the error names it"
expect_rc 1 banger image pull "Not A Ref"
expect_contains "$ERR" "Not A Ref" "a malformed reference is named"
# A disk that fills up mid-pull: a small tmpfs over the images dir.
full=$(state_dir)/images
mount -t tmpfs -o size=8m,mode=0755 tmpfs "$full" || abort "cannot mount a tmpfs on $full"
chown "$E2E_USER" "$full"
expect_rc 1 banger image pull "$OCI_REGISTRY/e2e/big:big" --name fills-up
expect_contains "$ERR" "$OCI_REGISTRY/e2e/big:big" "a full disk: the error names the reference"
expect_match "$ERR" "[Nn]o space|space left|ENOSPC|too small|full|enough free space" "a full disk: the error says why"
expect_eq "$(find "$full" -mindepth 1 | head -n3)" "" "a full disk leaves nothing behind"
umount "$full"
expect_rc 1 banger image show fills-up

# A corrupt blob on the registry's disk: the digest check catches it.
corrupt_blob=$(find "$E2E_TMP/registry/storage" -path "*${big_layer#sha256:}*/data")
[[ -f $corrupt_blob ]] || abort "cannot find the big layer in the registry's storage"
printf 'garbage' | dd of="$corrupt_blob" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_rc 1 banger image pull "$OCI_REGISTRY/e2e/big:big" --name big-corrupt
expect_contains "$ERR" "sha256" "a corrupt layer fails its digest check"
expect_eq "$(images_now)" "$before" "failed pulls leave nothing in the images dir"
expect_rc 1 banger image show big-corrupt

expect_rc 0 banger image rm big-big
expect_rc 0 banger image rm tools-multi
expect_nothing_left
e2e_pass
