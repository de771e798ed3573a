#!/usr/bin/env bash
# Bad input is refused up front: a non-zero exit, exactly one line on stderr
# that names the offending input, and nothing created (no row, no VM dir, no
# VMM, no image or kernel).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

# Everything a failed command could leave behind, as one comparable string.
snapshot() {
  local vms images kernels dirs vmms
  vms=$("$BANGER_BIN_DIR/banger" vm list --json 2>&1)
  vms=$(json_get "$vms" 'sorted(v["name"] for v in d["vms"])' 2>&1)
  images=$("$BANGER_BIN_DIR/banger" image list --json 2>&1)
  kernels=$("$BANGER_BIN_DIR/banger" kernel list --json 2>&1)
  dirs=$(find "$(vms_dir)" "$(state_dir)/images" "$(state_dir)/kernels" \
    -mindepth 1 -maxdepth 1 2>/dev/null | sort | tr '\n' ' ')
  vmms=$(_e2e_netns_vmms | sort -n | tr '\n' ' ')
  printf 'vms=%s\nimages=%s\nkernels=%s\ndirs=%s\nvmms=%s\n' \
    "$vms" "$images" "$kernels" "$dirs" "$vmms"
}

# refused NEEDLE CMD...: CMD fails with one stderr line containing NEEDLE and
# changes nothing.
refused() {
  local needle=$1 before after
  shift
  before=$(snapshot)
  run "$@"
  local what
  what="'$(quote_cmd "$@")'"
  if [[ $RC -eq 0 || $RC -eq 124 ]]; then
    fail "$what: expected a clean failure, got $(_e2e_describe_run)"
  fi
  expect_eq "$(line_count "$ERR")" 1 "$what: number of stderr lines (stderr: $(printf %q "$ERR"))"
  expect_contains "$ERR" "$needle" "$what: stderr"
  after=$(snapshot)
  [[ $before == "$after" ]] ||
    fail "$what changed state: before: $(printf %q "$before") after: $(printf %q "$after")"
}

long=$(printf 'a%.0s' {1..64})
refused Bad_Name banger vm create --name Bad_Name
refused a.b banger vm create --name a.b
refused -x banger vm create --name -x
refused "$long" banger vm create --name "$long"
refused name banger vm create --name ''
refused nope banger vm create --image nope
refused vcpu banger vm create --vcpu 0
refused memory banger vm create --memory 1
refused Bad_Name banger vm run --rm --name Bad_Name -- true
refused nope banger vm exec nope -- true
refused nope banger vm show nope
refused /nonexistent banger image import x --rootfs /nonexistent
refused /nonexistent banger kernel import x --from /nonexistent

must expect_rc 0 banger vm create --name dup
refused dup banger vm create --name dup
expect_rc 0 banger vm list --json
expect_json "$OUT" '[(v["name"], v["state"]) for v in d["vms"]]' '[["dup", "running"]]' \
  "VMs after the duplicate create"
expect_rc 0 banger vm delete -f dup
expect_nothing_left
e2e_pass
