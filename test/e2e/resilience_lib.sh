# shellcheck shell=bash
# Shared by the resilience scenarios (crash_stages, vmm_death, leak_cycles,
# small_state_dir, concurrency): what a VM's resources look like from the
# outside - rows, VM dirs, live VMMs, TAPs and NAT rules - and whether they
# agree. Sourced after lib.sh.

tap_prefix() { sed -n 's/^tap_prefix = "\(.*\)"$/\1/p' "$XDG_CONFIG_HOME/banger/config.toml"; }
# TAPs of the current instance (the namespace is the scenario's own).
tap_count() { ip -o link show type tun 2>/dev/null | grep -c ": $(tap_prefix)" || true; }
tap_list() { ip -o link show type tun 2>/dev/null | grep -o ": $(tap_prefix)[0-9a-f]*" | tr -d ': ' | tr '\n' ' ' || true; }
nat_count() { nft list table ip banger 2>/dev/null | grep -c masquerade || true; }
daemon_pid() { tr -dc 0-9 <"$(daemon_pid_file)" 2>/dev/null || true; }
# For wait_until, which re-runs a command (a "$(...)" argument would be
# evaluated only once): taps_are N, taps_at_most N, nat_rules_are N,
# vmms_are "PID PID...".
taps_are() { [[ $(tap_count) -eq $1 ]]; }
taps_at_most() { [[ $(tap_count) -le $1 ]]; }
nat_rules_are() { [[ $(nat_count) -eq $1 ]]; }
vmms_are() { [[ $(live_vmms) == "$1" ]]; }

# kill9_daemon: SIGKILL to the daemon named by the pid file (checked to be a
# bangerd first), and waits until it is gone.
kill9_daemon() {
  local pid
  pid=$(daemon_pid)
  [[ -n $pid && $(proc_cmdline "$pid") == *bangerd* ]] || abort "pid file names '$pid', not a bangerd"
  kill -9 "$pid"
  must expect_proc_gone "$pid" "bangerd after kill -9" 10
}

# The daemon's live VMM pids in this namespace, sorted, space separated.
live_vmms() { _e2e_netns_vmms | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# expect_consistent WHAT [POOL]: every row has its dir and every dir its row;
# the live VMMs are exactly the running rows' pids; the TAPs are one per
# running networked VM plus the warm pool (POOL, default 1); the NAT rules
# one per running --nat VM. TAPs and rules are released asynchronously:
# given 10 s to settle.
expect_consistent() {
  local what=$1 pool=${2:-1} rows ids dirs want_vmms want_taps want_nat
  rows=$("$BANGER_BIN_DIR/banger" vm list --json 2>&1) || { fail "$what: vm list --json: $rows"; return 0; }
  ids=$(json_get "$rows" '" ".join(sorted(v["id"] for v in d["vms"]))') || { fail "$what: $ids"; return 0; }
  dirs=$(find "$(vms_dir)" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//')
  expect_eq "$dirs" "$ids" "$what: VM dirs = rows' ids"
  local bad
  bad=$(json_get "$rows" '" ".join(v["name"]+":"+v["state"] for v in d["vms"] if v["state"] not in ("running","stopped"))')
  expect_eq "$bad" "" "$what: rows in states other than running/stopped"
  want_vmms=$(json_get "$rows" '" ".join(str(p) for p in sorted(v["pid"] for v in d["vms"] if v["state"]=="running"))')
  _e2e_record_pids
  wait_until 5 vmms_are "$want_vmms" ||
    fail "$what: live VMMs [$(live_vmms)], running rows' pids [$want_vmms]"
  want_taps=$(json_get "$rows" "len([v for v in d['vms'] if v['state']=='running' and v['ip']]) + $pool")
  wait_until 10 taps_are "$want_taps" ||
    fail "$what: $(tap_count) TAPs ($(tap_list)), expected $want_taps (running VMs + pool $pool)"
  want_nat=$(json_get "$rows" "len([v for v in d['vms'] if v['state']=='running' and v['nat']])")
  wait_until 10 nat_rules_are "$want_nat" ||
    fail "$what: $(nat_count) NAT rules, expected $want_nat: $(nft list table ip banger 2>&1 | grep masquerade)"
}
