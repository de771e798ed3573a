#!/usr/bin/env bash
# Workspaces on the default (busybox, no git) image: prepare sends the
# tracked files (odd names, a symlink out of the repo, an executable, a
# binary, a 6 MB file) to /root/repo, untracked ones only when asked and
# ignored ones never; --dry-run needs no VM; `vm exec` runs in /root/repo,
# warns when the host tree changed and --auto-prepare resyncs; a re-prepare
# replaces the old contents; stop/start keeps the workspace; full_copy brings
# submodules; `vm run PATH -- CMD` exits with the command's code; -d rules and
# the .mise.toml bootstrap precondition refuse before any VM exists; export
# names the missing git; nothing in the host repo changes.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.com
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.com
export GIT_CONFIG_NOSYSTEM=1 HOME=$E2E_TMP
git config --global protocol.file.allow always

repo=$E2E_TMP/repo
mkdir -p "$repo/src"
git -C "$repo" init -q -b main
printf '*.log\n' >"$repo/.gitignore"
printf 'hello\n' >"$repo/tracked.txt"
printf 'spaces\n' >"$repo/with space.txt"
printf 'newline\n' >"$repo/new"$'\n'"line"
printf 'utf8\n' >"$repo/ünïcødé.txt"
printf '#!/bin/sh\necho ran\n' >"$repo/src/run.sh"
chmod 755 "$repo/src/run.sh"
head -c 3000 /dev/urandom >"$repo/blob.bin"
head -c 6000000 /dev/urandom >"$repo/big.bin"
ln -s /etc/passwd "$repo/outside"
git -C "$repo" add -A
git -C "$repo" commit -q -m first
printf 'untracked\n' >"$repo/untracked.txt"
printf 'ignored\n' >"$repo/debug.log"
head_sha=$(git -C "$repo" rev-parse HEAD)

# What the host repo looks like; compared at the end.
repo_state() {
  (cd "$repo" && find .git -type f ! -name '*.lock' -print0 | sort -z | xargs -0 sha256sum &&
    git --no-optional-locks status --porcelain)
}
before=$(repo_state)

# --- dry-run: no VM, nothing sent -------------------------------------------
expect_rc 0 banger vm workspace prepare nosuchvm "$repo" --dry-run
expect_contains "$OUT" "tracked.txt" "dry-run lists tracked files"
expect_contains "$OUT" 'new\nline' "dry-run shows a newline in a name escaped"
expect_not_contains "$OUT" "untracked.txt" "dry-run: untracked only when asked"
expect_not_contains "$OUT" "debug.log" "dry-run: ignored never"
expect_contains "$OUT" "would send 9 files" "dry-run counts"
expect_rc 0 banger vm workspace prepare nosuchvm "$repo" --dry-run --include-untracked --json
expect_json "$OUT" 'd["count"]' 10 "dry-run --include-untracked count"
expect_json "$OUT" '"untracked.txt" in [f["path"] for f in d["files"]]' true "untracked listed"
expect_json "$OUT" '"debug.log" in [f["path"] for f in d["files"]]' false "ignored not listed"
expect_json "$OUT" 'd["head"]' "$head_sha" "dry-run head"
expect_json "$OUT" '[f["type"] for f in d["files"] if f["path"]=="outside"][0]' symlink "symlink listed as a symlink"
expect_eq "$(vm_count)" 0 "dry-run created no VM"

# Bad inputs: clear errors, nothing made.
mkdir -p "$E2E_TMP/plain"
expect_rc 1 banger vm workspace prepare box "$E2E_TMP/plain" --dry-run
expect_contains "$ERR" "is not in a git repository" "not a repo"
expect_rc 1 banger vm workspace prepare box "$E2E_TMP/nope" --dry-run
expect_contains "$ERR" "is not a directory" "missing path"
expect_rc 1 banger vm workspace prepare box "$repo" --mode copy --dry-run
expect_contains "$ERR" "unknown workspace mode 'copy'" "bad mode"
expect_rc 1 banger vm workspace prepare nosuchvm "$repo"
expect_contains "$ERR" "nosuchvm" "prepare into a VM that does not exist"

# --- prepare into a running VM ----------------------------------------------
must expect_rc 0 banger vm create --name box
must expect_rc 0 banger vm workspace prepare box "$repo"
expect_contains "$OUT" "box:/root/repo prepared from $repo" "prepare says where"
expect_rc 0 banger vm exec box -- pwd
expect_eq "$OUT" $'/root/repo\n' "exec runs in the prepared workspace"
expect_not_contains "$ERR" "changed since" "no warning on a fresh workspace"
expect_rc 0 banger vm exec box -- cat tracked.txt "with space.txt" "new"$'\n'"line" "ünïcødé.txt"
expect_eq "$OUT" $'hello\nspaces\nnewline\nutf8\n' "odd names arrive"
expect_rc 0 banger vm exec box -- src/run.sh
expect_eq "$OUT" $'ran\n' "the executable bit survives"
expect_rc 0 banger vm exec box -- readlink outside
expect_eq "$OUT" $'/etc/passwd\n' "a symlink out of the repo is sent as a symlink"
expect_rc 0 banger vm exec box -- md5sum blob.bin big.bin
expect_eq "$OUT" "$(cd "$repo" && md5sum blob.bin big.bin)"$'\n' "binary and big files arrive intact"
expect_rc 1 banger vm exec box -- test -e untracked.txt
expect_rc 1 banger vm exec box -- test -e debug.log
expect_rc 0 banger vm exec box -- cat .git/HEAD
expect_eq "$OUT" $'ref: refs/heads/main\n' ".git comes along with HEAD"
expect_rc 0 banger vm exec box -- cat .git/refs/heads/main
expect_eq "$OUT" "$head_sha"$'\n' "the branch points at the host's HEAD"

# A changed host tree: a warning; --auto-prepare resyncs.
printf 'changed\n' >"$repo/tracked.txt"
expect_rc 0 banger vm exec box -- cat tracked.txt
expect_eq "$OUT" $'hello\n' "the guest keeps the prepared files"
expect_contains "$ERR" "changed since it was prepared" "dirty-host warning"
expect_rc 0 banger vm exec box --auto-prepare -- cat tracked.txt
expect_eq "$OUT" $'changed\n' "--auto-prepare resyncs first"
expect_not_contains "$ERR" "changed since" "no warning after the resync"
expect_rc 0 banger vm exec box -- true
expect_not_contains "$ERR" "changed since" "no warning once in sync"

# Re-prepare replaces: untracked in, then out again.
expect_rc 0 banger vm workspace prepare box "$repo" --include-untracked
expect_rc 0 banger vm exec box -- cat untracked.txt
expect_eq "$OUT" $'untracked\n' "--include-untracked sends untracked files"
expect_rc 1 banger vm exec box -- test -e debug.log
expect_rc 0 banger vm exec box -- sh -c 'echo guest-only > scratch.txt'
expect_rc 0 banger vm workspace prepare box "$repo"
expect_rc 1 banger vm exec box -- test -e untracked.txt
expect_rc 1 banger vm exec box -- test -e scratch.txt
expect_rc 0 banger vm exec box -- sh -c 'ls -a /root | grep -c banger || true'
expect_eq "$OUT" $'0\n' "no staging dirs left next to /root/repo"

# export needs git in the guest: the busybox image has none.
expect_rc 1 banger vm workspace export box
expect_contains "$ERR" "has no git" "export names what is missing"

# stop/start keeps the workspace (the seed lost it once).
must expect_rc 0 banger vm stop box
must expect_rc 0 banger vm start box
expect_rc 0 banger vm exec box -- md5sum big.bin
expect_eq "$OUT" "$(cd "$repo" && md5sum big.bin)"$'\n' "the workspace survives stop/start"
expect_rc 0 banger vm exec box -- pwd
expect_eq "$OUT" $'/root/repo\n' "and exec still runs there"

printf 'hello\n' >"$repo/tracked.txt"
expect_eq "$(repo_state)" "$before" "prepares and exec checks left the host repo as it was"

# full_copy: history and submodules.
sub=$E2E_TMP/subrepo
git -C "$E2E_TMP" init -q -b main subrepo
printf 'in the submodule\n' >"$sub/subfile.txt"
git -C "$sub" add -A
git -C "$sub" commit -q -m sub
git -C "$repo" submodule add -q "$sub" vendor/sub
git -C "$repo" commit -q -am "add submodule"
before=$(repo_state)
expect_rc 0 banger vm workspace prepare box "$repo" --dry-run
expect_not_contains "$OUT" "subfile.txt" "overlay leaves submodules empty"
expect_rc 0 banger vm workspace prepare box "$repo" --mode full_copy
expect_rc 0 banger vm exec box -- cat vendor/sub/subfile.txt
expect_eq "$OUT" $'in the submodule\n' "full_copy brings the submodule's files"
expect_rc 0 banger vm exec box -- sh -c 'cat vendor/sub/.git; ls .git/modules/vendor/sub/HEAD'
expect_contains "$OUT" "gitdir:" "the submodule's .git file and git dir"
# A repo without commits (and no files) works too; a re-prepare replaces.
git -C "$E2E_TMP" init -q -b main empty
expect_rc 0 banger vm workspace prepare box "$E2E_TMP/empty" --json
expect_json "$OUT" 'd["count"]' 0 "an empty repo sends no files"
expect_json "$OUT" 'd["head"]' "" "and has no HEAD commit"
expect_rc 0 banger vm exec box -- sh -c 'ls -A; cat .git/HEAD'
expect_eq "$OUT" $'.git\nref: refs/heads/main\n' "an empty repo's workspace is just .git"
expect_rc 0 banger vm delete -f box

# --- vm run with a workspace -------------------------------------------------
# shellcheck disable=SC2016
expect_rc 7 banger vm run --rm "$repo" -- sh -c 'pwd; cat tracked.txt; exit 7'
expect_eq "$OUT" $'/root/repo\nhello\n' "vm run PATH runs the command in the workspace"
expect_eq "$(vm_count)" 0 "--rm removed the VM"

# A signal before the command runs (here: as soon as the VM is running, so
# during the prepare) cancels, and --rm still deletes the VM. Watched with
# `vm show`: an exec would queue behind the workspace stream.
"$BANGER_BIN_DIR/banger" vm run --rm --name intr "$repo" -- sleep 60 \
  >"$E2E_TMP/intr.out" 2>"$E2E_TMP/intr.err" &
intr_pid=$!
caught=
for _ in $(seq 1 600); do
  if [[ $(vm_field intr 'd["state"]' 2>/dev/null) == running ]]; then
    caught=1
    break
  fi
  sleep 0.1
done
kill -TERM "$intr_pid" 2>/dev/null || true
rc=0
wait "$intr_pid" || rc=$?
if [[ -n $caught ]]; then
  expect_eq "$rc" 130 "a signal during the prepare exits 130"
  expect_contains "$(cat "$E2E_TMP/intr.err")" "interrupted" "and says so"
else
  fail "VM intr never ran; vm run rc $rc: $(cat "$E2E_TMP/intr.err")"
fi
expect_eq "$(vm_count)" 0 "the interrupted vm run --rm deleted its VM"

# -d rules: refused before any VM exists.
expect_rc 2 banger vm run -d --rm "$repo"
expect_contains "$ERR" "do not go together" "-d --rm"
expect_rc 2 banger vm run -d "$repo" -- true
expect_contains "$ERR" "-d runs no command" "-d -- CMD"
expect_eq "$(vm_count)" 0 "refusals created no VM"
expect_rc 0 banger vm run -d --name dbox "$repo"
expect_contains "$OUT" "banger vm exec dbox" "-d prints how to reach the VM"
expect_eq "$(vm_field dbox 'd["state"]')" running "-d leaves the VM running"
expect_rc 0 banger vm exec dbox -- cat tracked.txt
expect_eq "$OUT" $'hello\n' "-d prepared the workspace"
expect_rc 0 banger vm delete -f dbox

# Bootstrap precondition: a .mise.toml needs --nat; --no-bootstrap skips.
mise=$E2E_TMP/mise
git -C "$E2E_TMP" init -q -b main mise
printf '[tools]\n' >"$mise/.mise.toml"
git -C "$mise" add -A
git -C "$mise" commit -q -m mise
expect_rc 125 banger vm run --rm "$mise" -- true
expect_contains "$ERR" "--nat" "a .mise.toml without --nat is refused"
expect_eq "$(vm_count)" 0 "the refusal created no VM"
expect_rc 0 banger vm run --rm --no-bootstrap "$mise" -- cat .mise.toml
expect_eq "$OUT" $'[tools]\n' "--no-bootstrap skips the precondition"

expect_eq "$(repo_state)" "$before" "the host repo is unchanged (index, objects, status)"
expect_nothing_left
e2e_pass
