#!/usr/bin/env bash
# MNIST-FC (90 instances, 256x2/4/6 ReLU nets, eps 0.03 and 0.05, timeouts 120 s): a long run, not a test.
#   benchmarks/mnistfc.sh [--sample] [--peer marabou] [nnreach bench options: --jobs 2 --resume ...]
# --sample runs the first 5 images of each net at both radii (30 rows).
source "$(dirname "$0")/_common.sh"
run_bench mnistfc "$BENCHMARKS/mnistfc" mnistfc_instances.csv \
    ",prop_0_0.0" ",prop_1_0.0" ",prop_2_0.0" ",prop_3_0.0" ",prop_4_0.0" -- "$@"
