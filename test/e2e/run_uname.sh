#!/usr/bin/env bash
# A user boots a throwaway VM, runs one command and gets its output back.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

expect_rc 0 banger vm run --rm -- uname -a
expect_match "$OUT" $'^Linux [^\n]* x86_64( [^\n]*)?\n$' "vm run uname -a stdout"
expect_eq "$ERR" "" "vm run uname -a stderr"
expect_nothing_left
e2e_pass
