#!/usr/bin/env bash
# VNN-COMP: install_tool.sh v1
# Installs nnreach from this repository into a new venv at <repository>/.venv-vnncomp, made with
# python3.11 (another interpreter: PYTHON=/path/to/python3.x).
set -euo pipefail
source "$(dirname "$0")/common.sh"
check_args "install_tool.sh v1" 1 "$@"

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (install Python 3.11 or set PYTHON)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$REPO_ROOT"
"$VENV/bin/nnreach" --version
