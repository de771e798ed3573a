#!/usr/bin/env bash
# The Debian image (scripts/build-debian-image.sh) as a user's dev box:
# systemd is PID 1 and boots to "running" (or "degraded" with nothing that
# matters failed), the agent answers, `vm ssh` reaches OpenSSH (not banger's
# fallback) as root with banger's key, the hostname is the VM's name, git and
# curl are there; stop and delete leave nothing.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
debian=${BANGER_DEBIAN_ROOTFS:-}
[[ -n $debian && -f $debian ]] ||
  e2e_skip "no Debian image at '${debian}': run scripts/build-debian-image.sh build/debian (scripts/test.sh does)"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
e2e_instance main

# Packed as a catalog bundle and pulled by name, the way users get it. The
# daemon's user must read it: a link (or sparse copy) in the scenario dir.
src=$E2E_TMP/debian-src
www=$E2E_TMP/catalog
mkdir -p "$src" "$www"
ln "$debian" "$src/rootfs.ext4" 2>/dev/null || cp --sparse=always "$debian" "$src/rootfs.ext4"
[[ -f $(dirname "$debian")/manifest.json ]] && cp "$(dirname "$debian")/manifest.json" "$src/"
E2E_CMD_TIMEOUT=600 must expect_rc 0 "$repo/scripts/make-bundle.sh" image "$src" \
  "$www/debian-bookworm.tar.zst" --name debian-bookworm --kernel default --level 3 \
  --catalog "$www/catalog.json" --url debian-bookworm.tar.zst
chmod -R a+rX "$www"
printf '\n[catalog]\nsources = ["%s"]\n' "$www/catalog.json" >>"$XDG_CONFIG_HOME/banger/config.toml"
must expect_rc 0 banger daemon start
must expect_rc 0 banger kernel import default --from "$BANGER_KERNEL_DIR"
E2E_CMD_TIMEOUT=600 must expect_rc 0 banger image pull debian-bookworm
expect_contains "$OUT" "pulled from catalog:debian-bookworm" "the Debian image comes from the catalog"

started=$SECONDS
must expect_rc 0 banger vm create --name deb --image debian-bookworm --memory 512
echo "  timing: vm create (agent answers) took $((SECONDS - started)) s"

# The agent answers before banger-init hands PID 1 over (it is the first
# thing banger-init starts), and systemd's boot ends well after that under
# TCG. `systemctl is-system-running --wait` needs D-Bus, which is not up
# early: poll until the state is final (or four minutes passed).
E2E_CMD_TIMEOUT=300 run banger vm exec deb -- timeout 240 sh -c '
  until s=$(systemctl is-system-running 2>&1); case $s in running|degraded|maintenance|stopping) true;; *) false;; esac
  do sleep 0.5; done; echo "$s"'
echo "  timing: systemd finished booting $((SECONDS - started)) s after vm create started"
state=${OUT%$'\n'}
expect_rc 0 banger vm exec deb -- cat /proc/1/comm
expect_eq "$OUT" $'systemd\n' "PID 1 in the guest"
if [[ $state == degraded ]]; then
  run banger vm exec deb -- systemctl list-units --failed --plain --no-legend
  echo "  degraded; failed units: $OUT"
  for unit in ssh.service systemd-journald.service dbus.service systemd-logind.service \
    serial-getty@ttyS0.service systemd-tmpfiles-setup.service; do
    expect_not_contains "$OUT" "$unit" "failed units"
  done
elif [[ $state != running ]]; then
  run banger vm exec deb -- systemctl list-jobs --no-pager
  fail "systemctl is-system-running: expected running or degraded within 240 s, got $(printf %q "$state"); jobs: $OUT"
fi

expect_rc 0 banger vm exec deb -- hostname
expect_eq "$OUT" $'deb\n' "systemd kept the hostname banger-init set"
expect_rc 0 banger vm exec deb -- git --version
expect_match "$OUT" '^git version ' "git installed"
expect_rc 0 banger vm exec deb -- curl --version
expect_match "$OUT" '^curl ' "curl installed"

# SSH: the image's OpenSSH with the VM's host key; no fallback dropbear.
expect_rc 0 banger vm ssh deb -- id -u
expect_eq "$OUT" $'0\n' "vm ssh deb -- id -u"
expect_rc 0 banger vm exec deb -- systemctl is-active ssh.service
expect_eq "$OUT" $'active\n' "ssh.service"
expect_rc 1 banger vm exec deb -- test -e /run/banger/dropbear.pid
expect_rc 0 banger vm exec deb -- ls /etc/ssh
expect_eq "$(grep -c '^ssh_host_.*_key$' <<<"$OUT")" 1 "one host key in /etc/ssh (the VM's own ed25519)"

started=$SECONDS
must expect_rc 0 banger vm stop deb
echo "  timing: vm stop took $((SECONDS - started)) s"
# Its second boot (the disk kept; no longer a first boot) gets there too.
must expect_rc 0 banger vm start deb
expect_rc 0 banger vm ssh deb -- hostname
expect_eq "$OUT" $'deb\n' "vm ssh after a restart"
expect_rc 0 banger vm delete -f deb
expect_nothing_left
e2e_pass
