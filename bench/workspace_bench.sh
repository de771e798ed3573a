#!/usr/bin/env bash
# banger vm workspace prepare vs the usual pipeline, on the same generated
# repo, into the same running VM, in the same run:
#   baseline: git archive HEAD | ssh VM tar -x   (via `banger vm ssh`, i.e.
#             OpenSSH/dropbear over the bridge; files only, no .git)
#   banger:   banger vm workspace prepare VM REPO (one tar stream through
#             bangerd and the agent over virtio-serial, plus a .git with
#             HEAD's pack so the guest can use git)
# The repo: 10,000 files, ~100 MB of text in 100 directories, one commit.
# Runs alternate (base, banger, ...). Prints medians and the ratio; numbers
# only, never pass/fail.
#
#   bench/workspace_bench.sh [RUNS]     (as root; after scripts/build.sh)
#
# It borrows the e2e harness (test/e2e/lib.sh) for the namespace, the daemon
# and a teardown that kills only what it started.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"
export BANGER_BIN_DIR=${BANGER_BIN_DIR:-$repo_root/build/bin}
export BANGER_KERNEL_DIR=${BANGER_KERNEL_DIR:-$repo_root/build/kernel}
export BANGER_ROOTFS=${BANGER_ROOTFS:-$repo_root/build/image/rootfs.ext4}
export E2E_SCENARIO_TIMEOUT=${E2E_SCENARIO_TIMEOUT:-3000}
E2E_NAME=workspace_bench
E2E_CMD_TIMEOUT=900
# shellcheck source=../test/e2e/lib.sh
source "$here/../test/e2e/lib.sh"
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_enter_netns "$@"
runs=${1:-3}
files=${BANGER_BENCH_FILES:-10000}
mbytes=${BANGER_BENCH_MB:-100}
e2e_setup

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_CONFIG_NOSYSTEM=1 HOME=$E2E_TMP
repo=$E2E_TMP/repo
mkdir -p "$repo"
python3 - "$repo" "$files" "$mbytes" <<'PY'
import os, random, sys
root, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
words = ["%x" % rng.getrandbits(40) for _ in range(5000)]
per = mb * 1000000 // n
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    out, size = [], 0
    while size < per:
        line = " ".join(rng.choice(words) for _ in range(12)) + "\n"
        out.append(line)
        size += len(line)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write("".join(out))
PY
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m bench
content=$(du -sb --exclude=.git "$repo" | cut -f1)
count=$(git -C "$repo" ls-files | wc -l)

must expect_rc 0 banger vm create --name wsb --memory 512
# The first ssh learns nothing new (the host key is known) but starts sshd's
# path warm, like the agent's.
must expect_rc 0 banger vm ssh wsb -- true

ms() { date +%s%3N; }

baseline() {
  git -C "$repo" archive HEAD |
    banger vm ssh wsb -- sh -c 'rm -rf /root/arch && mkdir -p /root/arch && tar -x -C /root/arch && sync' ||
    return 1
}

prepare() {
  banger vm workspace prepare wsb "$repo" >/dev/null || return 1
}

base_ms=() banger_ms=()
for _ in $(seq 1 "$runs"); do
  t=$(ms); baseline || abort "git archive | ssh tar -x failed"; base_ms+=($(($(ms) - t)))
  t=$(ms); prepare || abort "banger vm workspace prepare failed"; banger_ms+=($(($(ms) - t)))
done
run banger vm exec wsb -- sh -c 'ls /root/repo/d00 | wc -l; ls /root/arch/d00 | wc -l'
echo "  check: files in d00 (workspace, archive): ${OUT//$'\n'/ }"

echo "workspace bench: $count files, $((content / 1048576)) MiB; $runs runs each; TCG guest, 512 MiB"
report_pair "(w0) git archive HEAD | ssh VM tar -x" "(w1) banger vm workspace prepare" "w1/w0"
banger vm delete -f wsb >/dev/null 2>&1
e2e_pass
