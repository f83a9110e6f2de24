#!/usr/bin/env bash
# The demo behind `make demo`: runs nnreach on the bundled examples (and on the published test
# benchmarks when ../shared/benchmarks is present). Results go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/demo
mkdir -p "$out"

section() { printf '\n== %s\n' "$*"; }

section "nnreach info examples/models/tiny_relu.onnx"
nnreach info examples/models/tiny_relu.onnx

for spec in tiny_holds tiny_violated tiny_dominance; do
    section "nnreach verify tiny_relu.onnx $spec.vnnlib"
    nnreach verify examples/models/tiny_relu.onnx "examples/specs/$spec.vnnlib" --timeout 30 \
        --result-file "$out/$spec.txt"
    echo "result file $out/$spec.txt: $(head -n 1 "$out/$spec.txt")"
done

section "nnreach robust: the bundled MNIST net around the bundled digit (holds at 0.02, violated at 0.05)"
for eps in 0.02 0.05; do
    nnreach robust examples/models/mnist_256x2_f16.onnx --image examples/images/mnist_6.png --scale 255 \
        --eps "$eps" --timeout 60 --counterexample "$out/mnist_6_eps$eps.npy"
done

section "Python API (examples/api_example.py)"
python examples/api_example.py

shared=../shared/benchmarks/test
if [ -d "$shared" ]; then
    for model in test_sat test_unsat; do
        section "nnreach verify $shared/$model.onnx test_prop.vnnlib"
        nnreach verify "$shared/$model.onnx" "$shared/test_prop.vnnlib" --timeout 60 --result-file "$out/$model.txt"
    done
fi
printf '\ndemo finished; result files in %s\n' "$out"

section "nnreach nncs examples/nncs/acc.toml (closed loop: nonlinear ACC under a ReLU controller)"
nnreach nncs examples/nncs/acc.toml --plot "$out/acc.png"
