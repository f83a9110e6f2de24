#!/usr/bin/env bash
# A VNN-COMP category of ../shared/benchmarks/vnncomp (its instances.csv and expected.csv).
#   benchmarks/vnncomp.sh CATEGORY [--decided] [--peer NAME] [nnreach bench options]
#   benchmarks/vnncomp.sh oval21 --timeout-scale 0.25 --jobs 2
# --decided: only the rows whose expected verdict is sat or unsat (the others only cost their timeouts).
source "$(dirname "$0")/_common.sh"
[[ $# -ge 1 ]] || { echo "usage: benchmarks/vnncomp.sh CATEGORY [--decided] [--peer NAME] [nnreach bench options]" >&2; exit 2; }
category=$1
shift
folder=$BENCHMARKS/vnncomp/$category
if [[ ${1:-} == --decided ]]; then
    shift
    run_decided "$category" "$folder" instances.csv "$@"
    exit
fi
run_bench "$category" "$folder" instances.csv -- "$@"
