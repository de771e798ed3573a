#!/usr/bin/env bash
# Two daemons with different XDG dirs run side by side and never see each
# other's VMs or sockets.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup_instance a
e2e_setup_instance b

# status_field LABEL: the value after "LABEL:" in `daemon status`.
status_field() {
  local line
  line=$(grep -E "^$1:" <<<"$OUT" | head -n1)
  line=${line#*:}
  echo "${line#"${line%%[![:space:]]*}"}"
}

for inst in a b; do
  e2e_use "$inst"
  expect_rc 0 banger daemon status
  expect_eq "$(status_field socket)" "$(daemon_socket)" "[$inst] daemon status socket"
  expect_eq "$(status_field pid)" "$(tr -dc 0-9 <"$(daemon_pid_file)")" "[$inst] daemon status pid vs its pid file"
  [[ -S $(daemon_socket) ]] || fail "[$inst] no socket at $(daemon_socket)"
done
e2e_use a
pid_a=$(tr -dc 0-9 <"$(daemon_pid_file)")
e2e_use b
pid_b=$(tr -dc 0-9 <"$(daemon_pid_file)")
expect_ne "$pid_a" "$pid_b" "the two daemons' pids"

e2e_use a
must expect_rc 0 banger vm create --name alpha
expect_rc 0 banger vm list --json
expect_json "$OUT" '[v["name"] for v in d["vms"]]' '["alpha"]' "[a] vm list --json"

e2e_use b
expect_rc 0 banger vm list --json
expect_json "$OUT" '[v["name"] for v in d["vms"]]' '[]' "[b] vm list --json"
expect_rc 0 banger vm list
expect_not_contains "$OUT" alpha "[b] vm list table"
expect_rc nonzero banger vm show alpha
expect_rc nonzero banger vm exec alpha -- true
[[ -z $(find "$(vms_dir)" -mindepth 1 -maxdepth 1 2>/dev/null) ]] || fail "[b] has VM dirs"

e2e_use a
expect_rc 0 banger vm exec alpha -- echo ok
expect_eq "$OUT" $'ok\n' "[a] exec in alpha"
expect_rc 0 banger vm delete -f alpha
expect_nothing_left
e2e_use b
expect_nothing_left
e2e_pass
