# shellcheck shell=bash
# Harness for banger's end-to-end scenarios. Every scenario script does:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   e2e_enter_netns "$@"     # re-executes the script inside a fresh netns
#   e2e_setup                # temp XDG dirs, daemon, default kernel + image
#   ... assertions ...
#   e2e_pass
#
# Checks are soft (a failed expect_* is recorded and the scenario goes on, so
# one run shows every broken behaviour); `must CHECK...` stops the scenario
# when CHECK fails because nothing after it could mean anything. Teardown runs
# from the EXIT trap, on success and on failure alike, and prints
# `PASS <name>` or `FAIL <name>: <why>`.
#
# Processes: the daemon double-forks QEMU, and PID 1 on the dev machines never
# reaps orphans, so a dead VMM stays a zombie. "Gone" therefore means
# /proc/PID missing or state Z. Teardown kills only processes this scenario
# started, by PID: VMMs from the qemu.pid files of its own state dirs (checked
# against /proc/PID/cmdline), daemons from their pid files, and as a backstop
# any banger VMM or bangerd left in the scenario's own private network
# namespace (nobody else can have started a process there).

set -euo pipefail

E2E_NAME=${E2E_NAME:-$(basename "$0" .sh)}
E2E_SCRIPT=$(readlink -f "$0")
E2E_FAILS=()
E2E_INSTANCES=()
E2E_TMP=""
E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-60}
# Exit code that ctest's SKIP_RETURN_CODE maps to "skipped".
E2E_SKIP=77
# The unprivileged user the daemons run as (`daemon start` as root drops to
# it; banger-helper alone keeps root). Created once, as a system user.
E2E_USER=${E2E_USER:-banger-e2e}

# -- entering the network namespace ------------------------------------------

e2e_skip() {
  echo "SKIP ${E2E_NAME}: $*"
  exit "$E2E_SKIP"
}

# In the outer process: checks the prerequisites, creates banger-e2e-<random>,
# runs this same script inside it (under a watchdog) and deletes the namespace
# on every way out. Inside the namespace: brings lo up and returns.
e2e_enter_netns() {
  if [[ -n ${BANGER_E2E_NETNS:-} ]]; then
    [[ $(ip netns identify $$ 2>/dev/null) == "$BANGER_E2E_NETNS" ]] ||
      { echo "FAIL ${E2E_NAME}: not inside network namespace $BANGER_E2E_NETNS"; exit 1; }
    ip link set lo up
    exec </dev/null
    trap e2e_teardown EXIT
    trap 'fail "interrupted by SIGTERM (watchdog or ctest timeout)"; exit 143' TERM
    trap 'fail "interrupted by SIGINT"; exit 130' INT
    return 0
  fi

  [[ $(id -u) -eq 0 ]] || e2e_skip "needs root (network namespaces)"
  command -v ip >/dev/null || e2e_skip "no ip(8)"
  local v
  for v in BANGER_BIN_DIR BANGER_KERNEL_DIR BANGER_ROOTFS; do
    [[ -n ${!v:-} ]] || { echo "FAIL ${E2E_NAME}: \$$v is not set"; exit 1; }
  done
  [[ -x $BANGER_BIN_DIR/banger && -x $BANGER_BIN_DIR/bangerd ]] ||
    { echo "FAIL ${E2E_NAME}: no banger/bangerd in $BANGER_BIN_DIR"; exit 1; }
  [[ -f $BANGER_KERNEL_DIR/vmlinux && -f $BANGER_ROOTFS ]] ||
    { echo "FAIL ${E2E_NAME}: no kernel in $BANGER_KERNEL_DIR or no image $BANGER_ROOTFS"; exit 1; }

  if ! id -u "$E2E_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$E2E_USER" 2>/dev/null || id -u "$E2E_USER" >/dev/null 2>&1 ||
      { echo "FAIL ${E2E_NAME}: cannot create the test user $E2E_USER"; exit 1; }
  fi

  local ns err
  ns="banger-e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  if ! err=$(ip netns add "$ns" 2>&1); then
    e2e_skip "ip netns add is impossible here: $err"
  fi
  # shellcheck disable=SC2064  # expand $ns now
  trap "ip netns delete '$ns' 2>/dev/null || true" EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  if ! err=$(ip netns exec "$ns" true 2>&1); then
    echo "SKIP ${E2E_NAME}: ip netns exec is impossible here: $err"
    exit "$E2E_SKIP"
  fi

  # The watchdog stays under ctest's TIMEOUT so that the inner teardown (which
  # gets SIGTERM first) can still kill the VMs and print the logs.
  local rc=0
  timeout -k 30 "${E2E_SCENARIO_TIMEOUT:-240}" \
    ip netns exec "$ns" env BANGER_E2E_NETNS="$ns" bash "$E2E_SCRIPT" "$@" || rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "FAIL ${E2E_NAME}: scenario did not finish within ${E2E_SCENARIO_TIMEOUT:-240}s (rc $rc)"
  fi
  exit "$rc"
}

# -- failures ------------------------------------------------------------------

fail() {
  E2E_FAILS+=("$*")
  echo "  check failed: $*" >&2
}

abort() {
  fail "$@"
  exit 1
}

# must CHECK ARGS...: runs one check and stops the scenario if it failed.
must() {
  local before=${#E2E_FAILS[@]}
  "$@"
  if ((${#E2E_FAILS[@]} != before)); then
    echo "  stopping: later steps depend on this check" >&2
    exit 1
  fi
}

e2e_pass() {
  # The verdict is printed by the teardown, after cleanup.
  exit 0
}

# -- instances (one daemon each, isolated by XDG dirs) -------------------------

E2E_NET_INDEX=0

e2e_instance() {
  local name=$1
  if [[ -z $E2E_TMP ]]; then
    E2E_TMP=$(mktemp -d /tmp/banger-e2e.XXXXXX)
    [[ -d $E2E_TMP && $E2E_TMP == /tmp/banger-e2e.* ]] || abort "mktemp failed"
    # The daemon runs as $E2E_USER: it must reach its dirs and the artifacts.
    chmod 755 "$E2E_TMP"
    : >"$E2E_TMP/vmm_pids"
    : >"$E2E_TMP/daemon_pids"
    : >"$E2E_TMP/helper_pids"
    : >"$E2E_TMP/extra_pids"
    _e2e_share_artifacts
  fi
  local dir=$E2E_TMP/$name
  mkdir -p "$dir/state" "$dir/config/banger" "$dir/run"
  # Root's directory for this instance's banger-helper (BANGER_ROOT_RUN_DIR,
  # instead of /run/banger): root's alone, beside the owner's dirs.
  mkdir -p "$E2E_TMP/rootrun-$name"
  chmod 755 "$E2E_TMP/rootrun-$name"
  chmod 700 "$dir/run"
  # Each instance its own bridge, subnet and TAP names (never the product
  # defaults), all inside this scenario's network namespace.
  E2E_NET_INDEX=$((E2E_NET_INDEX + 1))
  printf '[network]\nbridge = "bge%s"\nsubnet = "10.231.%s.0/24"\ntap_prefix = "bge%st"\ntap_pool = 1\n' \
    "$E2E_NET_INDEX" "$E2E_NET_INDEX" "$E2E_NET_INDEX" >"$dir/config/banger/config.toml"
  # More tables for the daemon's config.toml, from the scenario.
  [[ -z ${E2E_EXTRA_CONFIG:-} ]] ||
    printf '\n%s\n' "$E2E_EXTRA_CONFIG" >>"$dir/config/banger/config.toml"
  chown -R "$E2E_USER" -- "$dir"
  E2E_INSTANCES+=("$name")
  e2e_use "$name"
}

# instance_net_prefix: "10.231.N." of the current instance's subnet.
instance_net_prefix() {
  sed -n 's/^subnet = "\(10\.231\.[0-9]*\.\)0\/24"$/\1/p' "$XDG_CONFIG_HOME/banger/config.toml"
}
instance_bridge() {
  sed -n 's/^bridge = "\(.*\)"$/\1/p' "$XDG_CONFIG_HOME/banger/config.toml"
}

# The kernel and image may sit where $E2E_USER cannot look (a checkout under
# /root): hard links (or copies) in the scenario's dir are readable.
_e2e_share_artifacts() {
  local art=$E2E_TMP/artifacts f
  mkdir -p "$art/kernel"
  for f in "$BANGER_KERNEL_DIR"/*; do
    [[ -f $f ]] || continue
    ln "$f" "$art/kernel/" 2>/dev/null || cp "$f" "$art/kernel/"
  done
  for f in rootfs work-seed; do
    [[ -f $(dirname "$BANGER_ROOTFS")/$f.ext4 ]] || continue
    ln "$(dirname "$BANGER_ROOTFS")/$f.ext4" "$art/$f.ext4" 2>/dev/null ||
      cp --sparse=always "$(dirname "$BANGER_ROOTFS")/$f.ext4" "$art/$f.ext4"
  done
  chmod -R a+rX -- "$art"
  BANGER_KERNEL_DIR=$art/kernel
  BANGER_ROOTFS=$art/rootfs.ext4
  # The image's /root (scripts/build-image.sh makes it beside the rootfs).
  BANGER_WORK_SEED=$art/work-seed.ext4
}

e2e_use() {
  local name=$1
  export XDG_STATE_HOME=$E2E_TMP/$name/state
  export XDG_CONFIG_HOME=$E2E_TMP/$name/config
  export XDG_RUNTIME_DIR=$E2E_TMP/$name/run
  export BANGER_ROOT_RUN_DIR=$E2E_TMP/rootrun-$name
  E2E_CUR=$name
}

# helper_dir: the current instance's banger-helper directory (socket, pid
# file, log), made by a root `daemon start`; empty if there is none yet.
helper_dir() {
  local d
  for d in "$BANGER_ROOT_RUN_DIR"/helper-*; do
    [[ -d $d ]] && echo "$d" && return 0
  done
  return 0
}

state_dir() { echo "$XDG_STATE_HOME/banger"; }
vms_dir() { echo "$XDG_STATE_HOME/banger/vms"; }
daemon_pid_file() { echo "$XDG_RUNTIME_DIR/banger/bangerd.pid"; }
daemon_socket() { echo "$XDG_RUNTIME_DIR/banger/bangerd.sock"; }

# e2e_setup: the scenario's instance "main", see e2e_setup_instance.
e2e_setup() {
  e2e_setup_instance main
}

# e2e_setup_instance NAME: a fresh instance with a running daemon and the
# default kernel and image imported.
e2e_setup_instance() {
  e2e_instance "$1"
  must expect_rc 0 banger daemon start
  must expect_rc 0 banger kernel import default --from "$BANGER_KERNEL_DIR"
  must expect_rc 0 banger image import default --rootfs "$BANGER_ROOTFS" \
    --work-seed "$BANGER_WORK_SEED" --kernel default
}

# -- running commands -----------------------------------------------------------

# run CMD ARGS...: runs CMD (the word `banger` means the binary under test)
# with stdin as given, under a timeout; sets RC, OUT and ERR (exact bytes,
# trailing newlines kept). Never fails by itself.
E2E_RUNS=0
run() {
  local cmd=("$@")
  if [[ ${cmd[0]} == banger ]]; then
    cmd[0]=$BANGER_BIN_DIR/banger
    _e2e_owner_args cmd
  fi
  E2E_RUNS=$((E2E_RUNS + 1))
  local o="$E2E_TMP/run.$E2E_RUNS.out" e="$E2E_TMP/run.$E2E_RUNS.err"
  RC=0
  local started=$SECONDS
  timeout -k 5 "$E2E_CMD_TIMEOUT" "${cmd[@]}" >"$o" 2>"$e" || RC=$?
  OUT=$(cat "$o"; printf x) && OUT=${OUT%x}
  ERR=$(cat "$e"; printf x) && ERR=${ERR%x}
  _e2e_record_pids
  # A hung command makes every later step meaningless (and slow): stop here.
  if [[ $RC -eq 124 || $RC -eq 137 ]] && ((SECONDS - started >= E2E_CMD_TIMEOUT)); then
    abort "'$(quote_cmd "$@")' hung: no exit within ${E2E_CMD_TIMEOUT}s; $(_e2e_describe_run)"
  fi
  return 0
}

# banger ARGS...: the binary under test, for direct use in scenarios.
banger() {
  local rc=0 cmd=("$BANGER_BIN_DIR/banger" "$@")
  _e2e_owner_args cmd
  "${cmd[@]}" || rc=$?
  _e2e_record_pids
  return "$rc"
}

# `banger daemon start` (as root) runs the daemon as $E2E_USER.
_e2e_owner_args() {
  local -n argv_ref=$1
  if [[ ${argv_ref[1]:-} == daemon && ${argv_ref[2]:-} == start ]]; then
    argv_ref+=(--owner "$E2E_USER")
  fi
}

# Quotes a command line so that empty and spaced arguments stay visible.
quote_cmd() {
  local q
  q=$(printf '%q ' "$@")
  echo "${q% }"
}

_e2e_describe_run() {
  printf 'rc=%s stdout=%q stderr=%q' "$RC" "$OUT" "$ERR"
}

# -- assertions -----------------------------------------------------------------

expect_eq() {
  local actual=$1 expected=$2 what=${3:-value}
  if [[ "$actual" != "$expected" ]]; then
    fail "$what: expected $(printf %q "$expected"), got $(printf %q "$actual")"
  fi
}

expect_ne() {
  local actual=$1 unexpected=$2 what=${3:-value}
  if [[ "$actual" == "$unexpected" ]]; then
    fail "$what: must not be $(printf %q "$unexpected")"
  fi
}

expect_contains() {
  local haystack=$1 needle=$2 what=${3:-output}
  if [[ "$haystack" != *"$needle"* ]]; then
    fail "$what: expected to contain $(printf %q "$needle"), got $(printf %q "$haystack")"
  fi
}

expect_not_contains() {
  local haystack=$1 needle=$2 what=${3:-output}
  if [[ "$haystack" == *"$needle"* ]]; then
    fail "$what: must not contain $(printf %q "$needle"), got $(printf %q "$haystack")"
  fi
}

expect_match() {
  local s=$1 re=$2 what=${3:-output}
  if ! [[ "$s" =~ $re ]]; then
    fail "$what: expected to match /$re/, got $(printf %q "$s")"
  fi
}

# expect_rc CODE CMD ARGS...: runs CMD (see run) and checks its exit code.
# CODE may be `nonzero`.
expect_rc() {
  local code=$1
  shift
  run "$@"
  if [[ $code == nonzero ]]; then
    [[ $RC -ne 0 ]] || fail "'$(quote_cmd "$@")': expected a non-zero exit code; $(_e2e_describe_run)"
  elif [[ $RC -ne $code ]]; then
    fail "'$(quote_cmd "$@")': expected exit code $code; $(_e2e_describe_run)"
  fi
}

# Counts lines the way a user sees them: a last line without a newline counts.
line_count() {
  local s=$1
  [[ -z $s ]] && { echo 0; return; }
  [[ $s == *$'\n' ]] || s+=$'\n'
  local only_newlines=${s//[!$'\n']/}
  echo "${#only_newlines}"
}

# json_get JSON PYEXPR: evaluates PYEXPR with `d` = the parsed JSON and
# prints the result (strings raw, others as JSON). Fails (rc 1) with a message
# when the text is not JSON or the expression fails.
json_get() {
  python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except Exception as e:
    print("invalid JSON: %s: %r" % (e, sys.argv[1][:300]), file=sys.stderr)
    sys.exit(1)
try:
    v = eval(sys.argv[2], {"d": d})
except Exception as e:
    print("%s fails on %s: %r" % (sys.argv[2], sys.argv[1][:300], e), file=sys.stderr)
    sys.exit(1)
print(v if isinstance(v, str) else json.dumps(v))
' "$1" "$2"
}

# expect_json JSON PYEXPR EXPECTED WHAT
expect_json() {
  local json=$1 expr=$2 expected=$3 what=${4:-$2} got
  if ! got=$(json_get "$json" "$expr" 2>&1); then
    fail "$what: $got"
    return 0
  fi
  expect_eq "$got" "$expected" "$what"
}

# vm_field NAME PYEXPR: a field of `vm show NAME --json` (d = the VM object).
vm_field() {
  local out
  out=$("$BANGER_BIN_DIR/banger" vm show "$1" --json 2>&1) || { echo "vm show $1 failed: $out"; return 1; }
  json_get "$out" "$2"
}

# vm_count: number of rows in `vm list --json`.
vm_count() {
  local out
  out=$("$BANGER_BIN_DIR/banger" vm list --json 2>&1) || { echo "vm list failed: $out"; return 1; }
  json_get "$out" 'len(d["vms"])'
}

# vm_qemu_pid NAME: the VMM pid from the VM dir's qemu.pid.
vm_qemu_pid() {
  local id
  id=$(vm_field "$1" 'd["id"]') || return 1
  [[ -f $(vms_dir)/$id/qemu.pid ]] || { echo "no qemu.pid in $(vms_dir)/$id"; return 1; }
  tr -dc '0-9' <"$(vms_dir)/$id/qemu.pid"
}

# expect_daemon_exits PID: after `daemon stop`, the daemon process must end.
# If it does not, the failure is recorded and the process is killed (it is
# ours: its pid came from our pid file) so that the later steps still test
# what they are meant to test instead of fighting a stale daemon.
expect_daemon_exits() {
  local pid=$1
  if ! wait_until 10 proc_gone "$pid"; then
    fail "bangerd (pid $pid) still runs 10s after 'daemon stop' returned; killed it to go on"
    [[ $(proc_cmdline "$pid") == *bangerd* ]] && kill -9 "$pid"
    wait_until 10 proc_gone "$pid" || abort "bangerd (pid $pid) survives SIGKILL"
  fi
}

# -- processes ------------------------------------------------------------------

# proc_alive PID: true if PID exists and is not a zombie.
proc_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

proc_cmdline() {
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s; false after the deadline.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

proc_gone() { ! proc_alive "$1"; }

expect_proc_alive() {
  local pid=$1 what=$2
  proc_alive "$pid" || fail "$what (pid $pid) is not running"
}

# expect_proc_gone PID WHAT [SECONDS]: a process that is exiting gets a short
# bounded grace period to finish exiting.
expect_proc_gone() {
  local pid=$1 what=$2 secs=${3:-5}
  wait_until "$secs" proc_gone "$pid" ||
    fail "$what (pid $pid) still runs: $(proc_cmdline "$pid" | cut -c1-120)"
}

# Remembers every VMM pid seen in this instance's VM dirs, so teardown can
# kill it even after its dir is gone.
_e2e_record_pids() {
  [[ -n $E2E_TMP && -n ${XDG_STATE_HOME:-} ]] || return 0
  local f id pid
  for f in "$XDG_STATE_HOME"/banger/vms/*/qemu.pid; do
    [[ -f $f ]] || continue
    id=$(basename "$(dirname "$f")")
    pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
    [[ -n $pid ]] || continue
    grep -qx "$pid $id" "$E2E_TMP/vmm_pids" || echo "$pid $id" >>"$E2E_TMP/vmm_pids"
  done
  f=$(helper_dir)/helper.pid
  if [[ -f $f ]]; then
    pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
    [[ -z $pid ]] || grep -qx "$pid" "$E2E_TMP/helper_pids" || echo "$pid" >>"$E2E_TMP/helper_pids"
  fi
  f=$XDG_RUNTIME_DIR/banger/bangerd.pid
  if [[ -f $f ]]; then
    pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
    [[ -z $pid ]] || grep -qx "$pid" "$E2E_TMP/daemon_pids" || echo "$pid" >>"$E2E_TMP/daemon_pids"
  fi
}

# _e2e_netns_procs vmm|daemon: live (non-zombie) banger VMMs or bangerd
# processes in this scenario's network namespace, one pid per line.
_e2e_netns_procs() {
  python3 - "$1" "$$" <<'PY'
import os, sys
kind, me = sys.argv[1], sys.argv[2]
mine = os.readlink("/proc/%s/ns/net" % me)
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.readlink("/proc/%s/ns/net" % pid) != mine:
            continue
        with open("/proc/%s/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                continue
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        continue
    line = b" ".join(argv)
    if kind == "vmm" and b"qemu-system" in line and b"banger-" in line:
        print(pid)
    elif kind == "daemon" and os.path.basename(argv[0]) == b"bangerd":
        print(pid)
    elif kind == "helper" and os.path.basename(argv[0]) == b"banger-helper":
        print(pid)
PY
}

_e2e_netns_vmms() { _e2e_netns_procs vmm; }
_e2e_netns_daemons() { _e2e_netns_procs daemon; }
_e2e_netns_helpers() { _e2e_netns_procs helper; }

# expect_nothing_left: no VM rows, no VM dirs, no live VMM of this scenario.
expect_nothing_left() {
  local what="nothing left (instance $E2E_CUR)" n rows pid id leftovers=()
  if ! rows=$("$BANGER_BIN_DIR/banger" vm list --json 2>&1); then
    fail "$what: vm list --json failed: $rows"
  elif ! n=$(json_get "$rows" 'len(d["vms"])' 2>&1); then
    fail "$what: $n"
  elif [[ $n != 0 ]]; then
    fail "$what: vm list still has rows: $(json_get "$rows" '[v["name"]+":"+v["state"] for v in d["vms"]]')"
  fi
  if [[ -d $(vms_dir) ]]; then
    mapfile -t leftovers < <(find "$(vms_dir)" -mindepth 1 -maxdepth 1)
    ((${#leftovers[@]} == 0)) || fail "$what: VM dirs remain: ${leftovers[*]}"
  fi
  _e2e_record_pids
  while read -r pid id; do
    [[ -n $pid ]] || continue
    if proc_alive "$pid" && [[ $(proc_cmdline "$pid") == *"banger-$id"* ]]; then
      fail "$what: VMM of $id (pid $pid) still runs"
    fi
  done <"$E2E_TMP/vmm_pids"
  for pid in $(_e2e_netns_vmms); do
    fail "$what: a banger VMM still runs in this scenario's namespace: pid $pid: $(proc_cmdline "$pid" | cut -c1-100)"
  done
}

# -- teardown -------------------------------------------------------------------

_e2e_dump_logs() {
  local inst f
  for inst in "${E2E_INSTANCES[@]}"; do
    e2e_use "$inst"
    echo "---- [$inst] bangerd.log (tail) ----"
    tail -n 60 "$(state_dir)/bangerd.log" 2>/dev/null || echo "(none)"
    echo "---- [$inst] helper.log (tail) ----"
    tail -n 30 "$(helper_dir)/helper.log" 2>/dev/null || echo "(none)"
    for f in "$(vms_dir)"/*/serial.log "$(vms_dir)"/*/qemu.log; do
      [[ -f $f ]] || continue
      echo "---- [$inst] $f (tail) ----"
      tail -n 40 "$f"
    done
  done
}

# e2e_track_pid PID NAME: a helper process the scenario started (a registry,
# a server); teardown kills it by pid if its command line still names NAME.
e2e_track_pid() {
  echo "$1 $2" >>"$E2E_TMP/extra_pids"
}

_e2e_kill_pid() {
  local pid=$1
  proc_alive "$pid" || return 0
  kill -9 "$pid" 2>/dev/null || true
  wait_until 10 proc_gone "$pid" || echo "  teardown: pid $pid survived SIGKILL" >&2
}

e2e_teardown() {
  local rc=$?
  set +e
  trap - EXIT TERM INT
  if [[ -z $E2E_TMP ]]; then
    # Nothing was set up.
    if ((${#E2E_FAILS[@]} == 0 && rc == 0)); then
      echo "PASS ${E2E_NAME}"
      exit 0
    fi
    echo "FAIL ${E2E_NAME}: ${E2E_FAILS[0]:-exit code $rc}"
    exit 1
  fi
  if [[ $rc -ne 0 && ${#E2E_FAILS[@]} -eq 0 ]]; then
    E2E_FAILS+=("scenario stopped with exit code $rc (line ${BASH_LINENO[0]:-?})")
  fi
  local failed=0
  ((${#E2E_FAILS[@]} == 0)) || failed=1
  ((failed)) && _e2e_dump_logs >&2

  local inst pid id
  for inst in "${E2E_INSTANCES[@]}"; do
    e2e_use "$inst"
    _e2e_record_pids
    timeout -k 5 30 "$BANGER_BIN_DIR/banger" daemon stop >/dev/null 2>&1
  done
  for inst in "${E2E_INSTANCES[@]}"; do
    e2e_use "$inst"
    _e2e_record_pids
  done
  # VMMs: by pid, only if the cmdline names the VM this pid file belongs to.
  while read -r pid id; do
    [[ -n $pid ]] || continue
    if proc_alive "$pid" && [[ $(proc_cmdline "$pid") == *"banger-$id"* ]]; then
      _e2e_kill_pid "$pid"
    fi
  done <"$E2E_TMP/vmm_pids"
  # Daemons: by their pid files.
  while read -r pid; do
    [[ -n $pid ]] || continue
    if proc_alive "$pid" && [[ $(proc_cmdline "$pid") == *bangerd* ]]; then
      _e2e_kill_pid "$pid"
    fi
  done <"$E2E_TMP/daemon_pids"
  # Helpers: by their pid files (they end with their daemons; this is the
  # backstop).
  while read -r pid; do
    [[ -n $pid ]] || continue
    if proc_alive "$pid" && [[ $(proc_cmdline "$pid") == *banger-helper* ]]; then
      _e2e_kill_pid "$pid"
    fi
  done <"$E2E_TMP/helper_pids"
  while read -r pid id; do
    [[ -n $pid ]] || continue
    if proc_alive "$pid" && [[ $(proc_cmdline "$pid") == *"$id"* ]]; then
      _e2e_kill_pid "$pid"
    fi
  done <"$E2E_TMP/extra_pids"
  # Backstop: anything of banger's still alive in our private namespace.
  for pid in $(_e2e_netns_vmms) $(_e2e_netns_daemons) $(_e2e_netns_helpers); do
    echo "  teardown: killing leftover pid $pid in this namespace: $(proc_cmdline "$pid" | cut -c1-100)" >&2
    _e2e_kill_pid "$pid"
  done
  rm -rf "$E2E_TMP"

  if ((failed)); then
    local why
    why=$(printf '%s; ' "${E2E_FAILS[@]}")
    echo "FAIL ${E2E_NAME}: ${why%; }"
    exit 1
  fi
  echo "PASS ${E2E_NAME}"
  exit 0
}
