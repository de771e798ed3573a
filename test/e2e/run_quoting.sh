#!/usr/bin/env bash
# Arguments after -- reach the guest command verbatim, with no shell between.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

expect_rc 0 banger vm run --rm -- printf '%s|' 'a b' c
expect_eq "$OUT" 'a b|c|' "printf '%s|' 'a b' c"

# One argument with what a shell would expand or split: $HOME, a glob, both
# quotes, a backslash, a newline, leading/trailing spaces and a semicolon.
# shellcheck disable=SC2016
weird=' $HOME * "q" '"'s'"' \n ;x
second line '
expect_rc 0 banger vm run --rm -- printf '<%s>' "$weird" ''
expect_eq "$OUT" "<$weird><>" "argument with \$HOME, *, quotes and a newline"
expect_nothing_left
e2e_pass
