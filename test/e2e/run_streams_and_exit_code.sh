#!/usr/bin/env bash
# The guest command's stdout, stderr and exit code reach the user separately
# and unchanged.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

# shellcheck disable=SC2016
expect_rc 42 banger vm run --rm -- sh -c 'echo out; echo err >&2; exit 42'
expect_eq "$OUT" $'out\n' "stdout"
expect_contains "$ERR" "err" "stderr"
expect_not_contains "$OUT" "err" "stdout"
expect_nothing_left
e2e_pass
