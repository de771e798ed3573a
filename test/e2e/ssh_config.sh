#!/usr/bin/env bash
# `banger ssh-config --install` twice and `--uninstall` on a seeded
# ~/.ssh/config in a temporary HOME: one Include at the top, the user's bytes
# untouched, the round trip exact. Then `banger doctor` against the running
# daemon: PASS for qemu and the state dirs, exit 1 exactly when a line FAILs.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

# The real user's ~/.ssh must come out untouched.
real_home=$HOME
real_before=$(stat -c '%i %s %Y' "$real_home/.ssh/config" 2>/dev/null || echo none)

export HOME=$E2E_TMP/home
mkdir -p "$HOME/.ssh"
chmod 700 "$HOME/.ssh"
seed=$E2E_TMP/seed_config
# Comments, a CRLF line, an Include of the user's own, no final newline.
printf '# my settings\nHost work\n  User me\r\n\nInclude ~/.ssh/conf.d/*\nHost *\n  ServerAliveInterval 30' >"$seed"
cp "$seed" "$HOME/.ssh/config"
chmod 640 "$HOME/.ssh/config"
cfg=$HOME/.ssh/config
banger_cfg=$(state_dir)/ssh/config
key=$(state_dir)/ssh/id_ed25519

expect_rc 0 banger ssh-config
expect_contains "$OUT" "no; run: banger ssh-config --install" "ssh-config before --install"

must expect_rc 0 banger ssh-config --install
expect_contains "$OUT" "added Include $banger_cfg" "first --install"
cp "$cfg" "$E2E_TMP/after_one"
expect_eq "$(head -n 2 "$cfg")" "# added by banger ssh-config --install
Include \"$banger_cfg\"" "the first two lines after --install"
tail -n +3 "$cfg" | cmp -s - "$seed" || fail "--install changed the user's own bytes: $(od -c "$cfg" | head -n 20)"
expect_eq "$(grep -c "^Include \"$banger_cfg\"" "$cfg")" 1 "Include lines for banger's config"
expect_eq "$(stat -c %a "$cfg")" 640 "mode of ~/.ssh/config after --install"
expect_eq "$(stat -c %a "$key")" 600 "mode of banger's private key"
[[ $(cat "$key.pub") == "ssh-ed25519 "* ]] || fail "banger's public key is not ed25519: $(cat "$key.pub")"
grep -qx "Host \*.vm" "$banger_cfg" || fail "banger's ssh config has no 'Host *.vm': $(cat "$banger_cfg")"

expect_rc 0 banger ssh-config --install
expect_contains "$OUT" "nothing changed" "second --install"
cmp -s "$cfg" "$E2E_TMP/after_one" || fail "the second --install changed ~/.ssh/config"

expect_rc 0 banger ssh-config
expect_contains "$OUT" "yes (included by $cfg)" "ssh-config after --install"

# ssh itself resolves box.vm through the Include (ssh reads the passwd home,
# not $HOME, so the file is named with -F).
if command -v ssh >/dev/null; then
  resolved=$(ssh -F "$cfg" -G box.vm </dev/null 2>/dev/null || true)
  expect_contains "$resolved" "identityfile $key" "ssh -G box.vm"
  expect_contains "$resolved" "userknownhostsfile $(state_dir)/ssh/known_hosts" "ssh -G box.vm"
  expect_contains "$resolved" "user root" "ssh -G box.vm"
  other=$(ssh -F "$cfg" -G example.com </dev/null 2>/dev/null || true)
  expect_not_contains "$other" "identityfile $key" "ssh -G example.com (not a VM)"
fi

expect_rc 0 banger ssh-config --uninstall
expect_contains "$OUT" "removed banger's Include" "--uninstall"
cmp -s "$cfg" "$seed" || fail "--uninstall did not restore the seeded bytes: $(od -c "$cfg" | head -n 20)"
expect_eq "$(stat -c %a "$cfg")" 640 "mode of ~/.ssh/config after --uninstall"
expect_rc 0 banger ssh-config --uninstall
expect_contains "$OUT" "nothing changed" "second --uninstall"
cmp -s "$cfg" "$seed" || fail "the second --uninstall changed ~/.ssh/config"
expect_rc 2 banger ssh-config --install --uninstall

# A HOME without ~/.ssh: created private.
export HOME=$E2E_TMP/fresh_home
mkdir -p "$HOME"
expect_rc 0 banger ssh-config --install
expect_eq "$(stat -c %a "$HOME/.ssh")" 700 "mode of a new ~/.ssh"
expect_eq "$(stat -c %a "$HOME/.ssh/config")" 600 "mode of a new ~/.ssh/config"

export HOME=$real_home
expect_eq "$(stat -c '%i %s %Y' "$real_home/.ssh/config" 2>/dev/null || echo none)" "$real_before" \
  "the real ~/.ssh/config"

# doctor_rule: exit 1 exactly when some line says FAIL.
doctor_rule() {
  local what=$1
  if grep -q '^FAIL ' <<<"$OUT"; then
    expect_eq "$RC" 1 "$what exit code with a FAIL line"
  else
    expect_eq "$RC" 0 "$what exit code without FAIL lines"
  fi
  [[ -z $ERR ]] || fail "$what wrote to stderr: $ERR"
}
expect_doctor() {
  local status=$1 check=$2
  grep -Eq "^$status +$check " <<<"$OUT" || fail "doctor: no '$status $check' line in: $OUT"
}

run banger doctor
doctor_rule "doctor"
for check in qemu-system-x86_64 qemu-img state-dir config-dir runtime-dir daemon default-kernel default-image tun bridge helper network; do
  expect_doctor PASS "$check"
done
expect_match "$OUT" "accel +(kvm|tcg): " "doctor accel line"
expect_eq "$(line_count "$OUT")" 14 "doctor lines"
printf %s "$OUT" | grep -Evq '^(PASS|WARN|FAIL)  ' && fail "doctor: a line without a verdict: $OUT"

run banger doctor --json
doctor_rule "doctor --json"
expect_json "$OUT" 'len(d["checks"])' 14 "doctor --json checks"
expect_json "$OUT" '[c["status"] for c in d["checks"] if c["check"]=="qemu-img"][0]' pass "doctor --json qemu-img"
expect_json "$OUT" 'd["ok"] == all(c["status"] != "fail" for c in d["checks"])' true "doctor --json ok"

# Without a daemon: WARN, never FAIL, for the daemon's own checks.
must expect_rc 0 banger daemon stop
run banger doctor
doctor_rule "doctor without a daemon"
expect_doctor WARN daemon
expect_doctor WARN default-kernel
expect_doctor WARN default-image
expect_doctor WARN network
expect_doctor PASS state-dir
e2e_pass
