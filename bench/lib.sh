# Shared by the shell benchmarks (sourced after test/e2e/lib.sh).

# median N...: the median of integers (the mean of the middle two for an
# even count, rounded down).
median() {
  printf '%s\n' "$@" | sort -n |
    awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}

# report_pair NAME BASE_LABEL BANGER_LABEL RATIO_LABEL: prints both medians
# with their runs (from the arrays base_ms and banger_ms) and the ratio.
report_pair() {
  local bm gm
  bm=$(median "${base_ms[@]}")
  gm=$(median "${banger_ms[@]}")
  printf '  %-38s: median %s ms  (runs: %s)\n' "$1" "$bm" "${base_ms[*]}"
  printf '  %-38s: median %s ms  (runs: %s)\n' "$2" "$gm" "${banger_ms[*]}"
  awk -v g="$gm" -v b="$bm" -v l="$3" 'BEGIN {printf "  %s = %.2f\n", l, g / b}'
}
