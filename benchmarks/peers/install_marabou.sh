#!/usr/bin/env bash
# Install Marabou (maraboupy 2.0.0 from PyPI, a CPU wheel) into its own virtualenv, outside the repository.
#   benchmarks/peers/install_marabou.sh        -> $NNREACH_PEERS/marabou (default ~/.cache/nnreach-peers)
set -euo pipefail
dest=${NNREACH_PEERS:-$HOME/.cache/nnreach-peers}/marabou
python3 -m venv "$dest"
"$dest/bin/pip" install --quiet maraboupy==2.0.0 numpy onnx onnxruntime  # maraboupy declares no dependencies
"$dest/bin/python" -c "from maraboupy import MarabouCore; print('maraboupy ok')" 2>&1 | grep -v -i tensorflow
echo "peer installed: $dest"
