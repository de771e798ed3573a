#!/usr/bin/env bash
# A guest command killed by signal N makes banger exit 128+N.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

# shellcheck disable=SC2016
expect_rc 137 banger vm run --rm -- sh -c 'kill -9 $$'
expect_eq "$OUT" "" "stdout"
expect_nothing_left
e2e_pass
