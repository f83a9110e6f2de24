#!/usr/bin/env bash
# ACAS Xu (186 instances, timeouts 116 s): a long run, not a test.
#   benchmarks/acasxu.sh [--sample] [--peer marabou] [nnreach bench options: --jobs 2 --resume --timeout-scale 0.25 ...]
# --sample runs 11 rows: properties 1-10 once each plus sat rows of properties 2-4.
source "$(dirname "$0")/_common.sh"
run_bench acasxu "$BENCHMARKS/acasxu" acasxu_instances.csv \
    "_1_1_batch_2000.onnx,prop_1.vnnlib" "_1_2_batch_2000.onnx,prop_2.vnnlib" \
    "_1_7_batch_2000.onnx,prop_3.vnnlib" "_1_7_batch_2000.onnx,prop_4.vnnlib" \
    "_2_2_batch_2000.onnx,prop_3.vnnlib" ",prop_5.vnnlib" ",prop_6.vnnlib" ",prop_7.vnnlib" \
    ",prop_8.vnnlib" ",prop_9.vnnlib" ",prop_10.vnnlib" -- "$@"
