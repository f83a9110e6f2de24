#!/usr/bin/env bash
# Install immrax (from PyPI, with jax for the CPU) into its own virtualenv, outside the repository,
# for benchmarks/nncs_immrax.py.
#   benchmarks/peers/install_immrax.sh        -> $NNREACH_PEERS/immrax (default ~/.cache/nnreach-peers)
set -euo pipefail
dest=${NNREACH_PEERS:-$HOME/.cache/nnreach-peers}/immrax
python3 -m venv "$dest"
"$dest/bin/pip" install --quiet immrax
"$dest/bin/python" -c "import immrax, jax; print('immrax ok, jax', jax.__version__)"
echo "peer installed: $dest"
