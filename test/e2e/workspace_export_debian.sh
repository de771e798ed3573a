#!/usr/bin/env bash
# The workspace round trip on the Debian image (it has git; one VM for all
# checks, it boots slowly): prepare gives a clean `git status` at the host's
# HEAD; the guest commits, edits, renames, changes a binary file and adds a
# file; `workspace export` makes a patch that `git apply` on a clone of the
# host repo turns into exactly the guest's files, with and without
# --base-commit, and an mbox that `git am` replays as commits; neither the
# guest's index nor the host repo changes; the
# workspace and the guest's edits survive stop/start.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
debian=${BANGER_DEBIAN_ROOTFS:-}
[[ -n $debian && -f $debian ]] ||
  e2e_skip "no Debian image at '${debian}': run scripts/build-debian-image.sh build/debian (scripts/test.sh does)"
e2e_setup
# The daemon's user must read the image: a link (or sparse copy) in our dir.
ln "$debian" "$E2E_TMP/artifacts/debian.ext4" 2>/dev/null ||
  cp --sparse=always "$debian" "$E2E_TMP/artifacts/debian.ext4"
chmod a+r "$E2E_TMP/artifacts/debian.ext4"
E2E_CMD_TIMEOUT=600 must expect_rc 0 banger image import debian --rootfs "$E2E_TMP/artifacts/debian.ext4" --kernel default

export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.com
export GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.com
export GIT_CONFIG_NOSYSTEM=1 HOME=$E2E_TMP

repo=$E2E_TMP/repo
mkdir -p "$repo/docs"
git -C "$repo" init -q -b main
printf '*.log\n' >"$repo/.gitignore"
printf 'line 1\nline 2\n' >"$repo/a.txt"
seq 1 200 >"$repo/docs/old-name.txt"
head -c 4096 /dev/urandom >"$repo/data.bin"
git -C "$repo" add -A
git -C "$repo" commit -q -m "host one"
printf 'line 3\n' >>"$repo/a.txt"
git -C "$repo" commit -q -am "host two"
host_head=$(git -C "$repo" rev-parse HEAD)
repo_state() {
  (cd "$repo" && find .git -type f ! -name '*.lock' -print0 | sort -z | xargs -0 sha256sum &&
    git --no-optional-locks status --porcelain)
}
before=$(repo_state)

must expect_rc 0 banger vm create --name deb --image debian --memory 512
must expect_rc 0 banger vm workspace prepare deb "$repo"
expect_rc 0 banger vm exec deb -- git status --porcelain
expect_eq "$OUT" "" "a clean host tree is a clean git status in the guest"
expect_rc 0 banger vm exec deb -- git rev-parse HEAD
expect_eq "$OUT" "$host_head"$'\n' "the guest is at the host's HEAD"
expect_rc 0 banger vm exec deb -- git log --format=%s
expect_eq "$OUT" $'host two\n' "overlay: HEAD's commit only (shallow)"

# The guest's work: a commit, then uncommitted edits of every kind.
expect_rc 0 banger vm exec deb -- sh -c '
  git config user.name guest && git config user.email guest@example.com &&
  echo committed > c.txt && git add c.txt && git commit -q -m "guest commit" &&
  echo "line 4" >> a.txt &&
  git mv docs/old-name.txt docs/new-name.txt &&
  head -c 4096 /dev/urandom > data.bin &&
  printf "\000\001\002binary\377" > new.bin &&
  echo untracked > u.txt && echo ignored > x.log'
guest_commit=$(banger vm exec deb -- git rev-parse HEAD)
expect_rc 0 banger vm exec deb -- sha256sum .git/index
index_before=$OUT

# Default base: the prepared HEAD, so the guest's commit is in the patch.
expect_rc 0 banger vm workspace export deb -o "$E2E_TMP/all.patch"
expect_contains "$ERR" "git apply" "export says how to apply"
expect_rc 0 banger vm exec deb -- sha256sum .git/index
expect_eq "$OUT" "$index_before" "export leaves the guest's index alone"
patch=$(cat "$E2E_TMP/all.patch")
expect_contains "$patch" "rename from docs/old-name.txt" "the rename is a rename"
expect_contains "$patch" "GIT binary patch" "binary changes are in the patch"
expect_not_contains "$patch" "x.log" "ignored files are not exported"

# The guest's files (but the ignored *.log) with their hashes.
files_hash="find . -path ./.git -prune -o -type f ! -name '*.log' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum"
expect_rc 0 banger vm exec deb -- sh -c "$files_hash"
guest_files=$OUT
git clone -q "$repo" "$E2E_TMP/clone"
expect_rc 0 git -C "$E2E_TMP/clone" apply "$E2E_TMP/all.patch"
expect_eq "$(cd "$E2E_TMP/clone" && sh -c "$files_hash")"$'\n' "$guest_files" \
  "git apply of the export reproduces the guest's files"

# --base-commit: the same from the host's HEAD; only the uncommitted part
# from the guest's own commit.
expect_rc 0 banger vm workspace export deb --base-commit "$host_head"
expect_eq "$OUT" "$patch"$'\n' "--base-commit HEAD-at-prepare is the default"
expect_rc 0 banger vm workspace export deb --base-commit "$guest_commit"
expect_not_contains "$OUT" "c.txt" "a base after the guest commit leaves it out"
expect_contains "$OUT" "new.bin" "and keeps the uncommitted changes"
# --format mbox: `git am` on a clone at the host's HEAD makes the guest's
# commit (its message kept) and one more for the uncommitted changes, with
# exactly the guest's files; the guest's refs and index stay as they were.
expect_rc 0 banger vm workspace export deb --format mbox -o "$E2E_TMP/all.mbox"
expect_contains "$ERR" "git am" "an mbox export says to use git am"
expect_rc 0 banger vm exec deb -- sh -c 'git rev-parse HEAD && sha256sum .git/index'
expect_eq "$OUT" "$guest_commit"$'\n'"$index_before" "mbox export leaves HEAD and the index alone"
git clone -q "$repo" "$E2E_TMP/am"
expect_rc 0 git -C "$E2E_TMP/am" am -q "$E2E_TMP/all.mbox"
expect_rc 0 git -C "$E2E_TMP/am" log --format=%s
expect_eq "$OUT" $'Uncommitted changes in VM deb\nguest commit\nhost two\nhost one\n' \
  "git am replays the guest's commit and then its uncommitted work"
expect_eq "$(cd "$E2E_TMP/am" && sh -c "$files_hash")"$'\n' "$guest_files" \
  "git am of the mbox export reproduces the guest's files"

expect_rc 1 banger vm workspace export deb --base-commit 0123456789abcdef0123456789abcdef01234567
expect_contains "$ERR" "is not in the guest's repository" "an unknown base commit"

# The workspace and the guest's edits survive stop/start.
must expect_rc 0 banger vm stop deb
must expect_rc 0 banger vm start deb
expect_rc 0 banger vm exec deb -- sh -c "$files_hash"
expect_eq "$OUT" "$guest_files" "the guest's work survives stop/start"

expect_eq "$(repo_state)" "$before" "the host repo is unchanged"
expect_rc 0 banger vm delete -f deb
expect_nothing_left
e2e_pass
