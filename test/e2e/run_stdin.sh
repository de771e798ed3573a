#!/usr/bin/env bash
# -i forwards stdin to the guest command; without it the command's stdin is
# empty (EOF at once), whatever banger's own stdin is.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

expect_rc 0 banger vm run --rm -i -- cat < <(echo data)
expect_eq "$OUT" $'data\n' "echo data | vm run -i -- cat"

# Without -i, banger's stdin is a pipe that holds data and never reaches EOF
# (we keep its write end open): cat must neither see the data nor wait.
fifo=$E2E_TMP/stdin.fifo
mkfifo "$fifo"
exec 3<>"$fifo"
echo data >&3
expect_rc 0 banger vm run --rm -- cat <&3
exec 3>&-
expect_eq "$OUT" "" "vm run -- cat without -i (stdout)"
expect_nothing_left
e2e_pass
