#!/usr/bin/env bash
# A VNN-COMP category of ../shared/benchmarks/vnncomp (its instances.csv and expected.csv).
#   benchmarks/vnncomp.sh CATEGORY [--decided] [--peer NAME] [nnreach bench options]
#   benchmarks/vnncomp.sh oval21 --timeout-scale 0.25 --jobs 2
# --decided: only the rows whose expected verdict is sat or unsat (the others only cost their timeouts).
# The summary is followed by the category's published row counts and best tools' counts (shared README).
source "$(dirname "$0")/_common.sh"
[[ $# -ge 1 ]] || { echo "usage: benchmarks/vnncomp.sh CATEGORY [--decided] [--peer NAME] [nnreach bench options]" >&2; exit 2; }
category=$1
shift
folder=$BENCHMARKS/vnncomp/$category
# after the run: the category's row of the shared README (rows, best published counts) beside nnreach's summary
published() {
    local row
    row=$(grep -m1 "^| \`$category\` |" "$BENCHMARKS/vnncomp/README.md" || true)
    [[ -n $row ]] && echo "published ($category): $(echo "$row" | awk -F'|' '{gsub(/^ +| +$/, "", $5); gsub(/^ +| +$/, "", $6); print "rows " $5 "; best " $6}')"
}
trap published EXIT
if [[ ${1:-} == --decided ]]; then
    shift
    run_decided "$category" "$folder" instances.csv "$@"
    exit
fi
run_bench "$category" "$folder" instances.csv -- "$@"
