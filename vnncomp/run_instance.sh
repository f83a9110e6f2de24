#!/usr/bin/env bash
# VNN-COMP: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT
# Runs nnreach verify ONNX VNNLIB --timeout TIMEOUT --result-file RESULTS_FILE, which writes sat (with
# the assignment), unsat, unknown or timeout. RESULTS_FILE is never left empty: it says error when
# nnreach fails, and timeout when this script is stopped (the harness stops a run that overruns).
# nnreach runs in its own process group, recorded for prepare_instance.sh to end should it outlive
# this script. The exit code is nnreach's.
set -uo pipefail
source "$(dirname "$0")/common.sh"
check_args "run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTS_FILE TIMEOUT" 6 "$@"
find_nnreach
onnx=$3 vnnlib=$4 result=$5 timeout=$6

# the word for RESULTS_FILE unless nnreach wrote one
fill_result() {
    [ -s "$result" ] || echo "$1" >"$result"
}

stop_instance
mkdir -p "$(dirname "$result")" || die "cannot make the folder of $result"
rm -f "$result"
trap 'stop_instance; fill_result timeout; exit 143' TERM INT
setsid "$NNREACH" verify "$onnx" "$vnnlib" --timeout "$timeout" --result-file "$result" &
echo $! >"$PIDFILE"
wait $!
status=$?
rm -f "$PIDFILE"
[ $status -eq 0 ] || rm -f "$result"  # a failed run's result file may be partial
fill_result error
exit $status
