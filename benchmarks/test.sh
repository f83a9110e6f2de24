#!/usr/bin/env bash
# The 5 VNN-COMP "test" instances (seconds): a quick check that the harness and a peer work.
#   benchmarks/test.sh [--peer marabou] [nnreach bench options]
source "$(dirname "$0")/_common.sh"
folder=$BENCHMARKS/test
mkdir -p "$OUT"
cat > "$OUT/test.expected.csv" <<'CSV'
onnx,vnnlib,expected
test_nano.onnx,test_nano.vnnlib,unsat
test_tiny.onnx,test_tiny.vnnlib,unsat
test_small.onnx,test_small.vnnlib,unsat
test_sat.onnx,test_prop.vnnlib,sat
test_unsat.onnx,test_prop.vnnlib,unsat
CSV
args=() tag=test
while [[ $# -gt 0 ]]; do
    case $1 in
        --peer)
            args+=(--peer-cmd "$NNREACH_PEERS/$2/bin/python $HERE/peers/${2}_vnncomp.py {onnx} {vnnlib} {timeout} {result}")
            tag=test_vs_$2; shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
"$NNREACH" bench "$folder/test_instances.csv" --expected "$OUT/test.expected.csv" --out "$OUT/$tag.csv" "${args[@]}"
