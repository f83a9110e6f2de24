#!/usr/bin/env bash
# VNN-COMP: prepare_instance.sh v1 CATEGORY ONNX VNNLIB
# Ends what is left of the previous instance (see run_instance.sh), then checks that the model loads
# and the property parses and fits it (nnreach info ONNX VNNLIB). Exit 0 when both do, else nonzero
# with nnreach's one-line reason on stderr.
set -euo pipefail
source "$(dirname "$0")/common.sh"
check_args "prepare_instance.sh v1 CATEGORY ONNX VNNLIB" 4 "$@"
find_nnreach

stop_instance
"$NNREACH" info "$3" "$4" >/dev/null || die "nnreach info $3 $4 failed (category $2)"
