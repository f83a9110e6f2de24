#!/usr/bin/env bash
# Install nnenum (its published source, ../shared/peers/nnenum beside the repository, or $NNENUM_SOURCE)
# into its own virtualenv, outside the repository.
#   benchmarks/peers/install_nnenum.sh        -> $NNREACH_PEERS/nnenum (default ~/.cache/nnreach-peers)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source=${NNENUM_SOURCE:-$here/../../../shared/peers/nnenum}
[[ -d $source ]] || { echo "nnenum source not found: $source (set NNENUM_SOURCE)" >&2; exit 2; }
dest=${NNREACH_PEERS:-$HOME/.cache/nnreach-peers}/nnenum
python3 -m venv "$dest"
"$dest/bin/pip" install --quiet "$source"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$dest/bin/python" -c "import nnenum.nnenum; print('nnenum ok')"
echo "peer installed: $dest"
