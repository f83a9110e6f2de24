#!/usr/bin/env bash
# MNIST-FC (90 instances, 256x2/4/6 ReLU nets, eps 0.03 and 0.05, timeouts 120/300 s): a long run, not a test.
#   benchmarks/mnistfc.sh [--sample | --decided] [--peer marabou] [nnreach bench options: --jobs 2 --resume ...]
# --sample runs the first 5 images of each net at both radii (30 rows); --decided the 71 rows whose
# expected verdict is known (the 18 `unknown` ones no tool has decided only cost their timeouts).
source "$(dirname "$0")/_common.sh"
if [[ ${1:-} == --decided ]]; then
    shift
    run_decided mnistfc "$BENCHMARKS/mnistfc" mnistfc_instances.csv "$@"
    exit
fi
run_bench mnistfc "$BENCHMARKS/mnistfc" mnistfc_instances.csv \
    ",prop_0_0.0" ",prop_1_0.0" ",prop_2_0.0" ",prop_3_0.0" ",prop_4_0.0" -- "$@"
