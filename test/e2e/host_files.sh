#!/usr/bin/env bash
# config.toml's [guest] files reach every VM's /root at each start (bytes and
# mode kept, a changed host file seen after a restart), a missing one is
# skipped with a note, `--no-host-files` opts a VM out; `vm show` has the
# last start's stages and the disks' usage; [vm] accel is read from the file
# and shown by `config show`; a bad [guest] entry is refused with its line.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
E2E_EXTRA_CONFIG=$'[vm]\naccel = "tcg"'
e2e_setup
files=$E2E_TMP/hostfiles
mkdir -p "$files"
printf '{"token": "s3cret"}\n' >"$files/auth.json"
chmod 600 "$files/auth.json"
chown -R "$E2E_USER" "$files"
# The daemon reads [guest] files when it starts.
printf '\n[guest]\nfiles = ["%s", "%s"]\n' "$files/auth.json:~/.config/tool/auth.json" \
  "$files/missing.conf" >>"$XDG_CONFIG_HOME/banger/config.toml"
dpid=$(tr -dc 0-9 <"$(daemon_pid_file)")
must expect_rc 0 banger daemon stop
expect_daemon_exits "$dpid"
must expect_rc 0 banger daemon start

expect_rc 0 banger config show --json
expect_json "$OUT" '[e["value"] for e in d["settings"] if e["key"] == "vm.accel"][0]' tcg "config show: accel"
expect_json "$OUT" '[e["origin"] for e in d["settings"] if e["key"] == "vm.accel"][0]' file "config show: accel from the file"
expect_rc 0 banger config show
expect_match "$OUT" $'(^|\n)vm\\.accel +tcg +[^ ]*config.toml:[0-9]+' "config show: accel with its line"
expect_contains "$OUT" "auth.json" "config show lists [guest] files"

must expect_rc 0 banger vm create --name box
expect_rc 0 banger vm exec box -- cat /root/.config/tool/auth.json
expect_eq "$OUT" $'{"token": "s3cret"}\n' "the host file is in the guest's home"
expect_rc 0 banger vm exec box -- stat -c '%a %u' /root/.config/tool/auth.json /root/.config/tool
expect_eq "$OUT" $'600 0\n700 0\n' "its mode is kept; its new directory is private"
expect_rc 0 banger vm exec box -- ls /root
expect_not_contains "$OUT" "missing.conf" "a missing host file is skipped"
expect_contains "$(cat "$(state_dir)/bangerd.log")" "missing.conf: No such file or directory; not copied" \
  "the daemon notes the skipped file"

# vm show: the last start's stages and what the disks take on the host.
expect_rc 0 banger vm show box --json
expect_json "$OUT" '[s["name"] for s in d["stages"]]' '["network", "disks", "vmm", "agent"]' "vm show: start stages"
expect_json "$OUT" 'd["stages"][3]["ms"] > 0' true "vm show: the agent stage took time"
expect_json "$OUT" 'd["root_disk_used"] > 0 and d["work_disk_used"] > 0' true "vm show: disk usage"
expect_json "$OUT" 'd["work_disk_used"] < d["disk_bytes"]' true "vm show: the work disk is sparse"
expect_rc 0 banger vm show box
expect_match "$OUT" $'(^|\n)last start: +network [0-9]+ms, disks [0-9]+ms, vmm [0-9.]+m?s, agent [0-9.]+m?s' "vm show: last start line"
expect_match "$OUT" $'(^|\n)disk usage: +root [0-9.]+ ?[KMG]i?B, work [0-9.]+ ?[KMG]i?B on the host' "vm show: disk usage line"
expect_rc 0 banger vm list --json
expect_json "$OUT" 'd["vms"][0]["root_disk_used"]' 0 "vm list does not measure disks"

# Copied at every start: a changed host file is seen after a restart; the
# guest's own edits to other files stay.
printf '{"token": "rotated"}\n' >"$files/auth.json"
expect_rc 0 banger vm exec box -- sh -c 'echo mine > /root/keep'
must expect_rc 0 banger vm restart box
expect_rc 0 banger vm exec box -- cat /root/.config/tool/auth.json /root/keep
expect_eq "$OUT" $'{"token": "rotated"}\nmine\n' "after restart: the new host file, the guest's file kept"
# The copy the VMM read is not left in the VM's directory.
dir=$(vm_field box 'd["dir"]') || abort "no dir for box: $dir"
[[ ! -e $dir/host-files ]] || fail "host-files left in $dir"

# Opting out.
must expect_rc 0 banger vm create --name plain --no-host-files
expect_rc nonzero banger vm exec plain -- test -e /root/.config/tool/auth.json
expect_rc 0 banger vm show plain --json
expect_json "$OUT" 'd["host_files"]' false "vm show --json: host_files off"
expect_rc 0 banger vm show plain
expect_match "$OUT" $'(^|\n)host files: +off' "vm show: host files off"
must expect_rc 0 banger vm restart plain
expect_rc nonzero banger vm exec plain -- test -e /root/.config/tool/auth.json

# A bad entry: named with its line, whatever reads the file.
cp "$XDG_CONFIG_HOME/banger/config.toml" "$E2E_TMP/good.toml"
printf '[guest]\nfiles = ["relative/path"]\n' >"$E2E_TMP/bad.toml"
sed -n '1,/^\[guest\]/p' "$E2E_TMP/good.toml" | sed '$d' >"$XDG_CONFIG_HOME/banger/config.toml"
cat "$E2E_TMP/bad.toml" >>"$XDG_CONFIG_HOME/banger/config.toml"
line=$(grep -n '^files' "$XDG_CONFIG_HOME/banger/config.toml" | cut -d: -f1)
expect_rc 1 banger config show
expect_contains "$ERR" "config.toml:$line" "a bad [guest] entry: file and line"
expect_contains "$ERR" "relative/path" "a bad [guest] entry: the entry"
cp "$E2E_TMP/good.toml" "$XDG_CONFIG_HOME/banger/config.toml"

expect_rc 0 banger vm delete -f box
expect_rc 0 banger vm delete -f plain
expect_nothing_left
e2e_pass
