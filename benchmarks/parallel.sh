#!/usr/bin/env bash
# Speed-up from running rows side by side: the 45 ACAS Xu property-2 rows with `--jobs 1` (one row at
# a time, its search shared by all cores) and with `--jobs 2` (two rows at once, one core each), same
# verdicts expected; then single instances searched by 1 and by 2 worker processes: ACAS Xu 1_1
# prop_6 (input splits and regions) and MNIST-FC 256x4 prop_0_0.03 (neuron splits, whose domains
# carry large bounds and parameters to every hand-over), and as tasks of a local Ray instance where
# Ray is installed. Prints wall times and ratios. Extra arguments go to both `nnreach bench` runs (e.g. --timeout-scale).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
folder=$BENCHMARKS/acasxu
[[ -d $folder ]] || { echo "parallel: benchmark folder not found: $folder" >&2; exit 2; }
mkdir -p "$OUT"
csv=$OUT/acasxu_prop2.instances.csv
grep -F ",prop_2.vnnlib," "$folder/acasxu_instances.csv" | sed "s#^#$folder/#; s#,\([^,]*\),#,$folder/\1,#" > "$csv"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
wall() { local t0; t0=$(date +%s.%N); "$@" > /dev/null; python3 -c "import time; print(f'{time.time() - $t0:.1f}')"; }
declare -A seconds
for jobs in 1 2; do
    echo "== $(wc -l < "$csv") property-2 rows, --jobs $jobs" >&2
    seconds[$jobs]=$(wall "$NNREACH" bench "$csv" --expected "$folder/expected.csv" --jobs "$jobs" \
                          --out "$OUT/acasxu_prop2_jobs$jobs.csv" "$@")
    echo "jobs $jobs: wall ${seconds[$jobs]} s" >&2
done
same=$(diff <(cut -d, -f1-3 "$OUT/acasxu_prop2_jobs1.csv" | sort) <(cut -d, -f1-3 "$OUT/acasxu_prop2_jobs2.csv" | sort) > /dev/null && echo yes || echo no)
echo "property-2 rows: --jobs 1 ${seconds[1]} s, --jobs 2 ${seconds[2]} s, speed-up $(ratio "${seconds[1]}" "${seconds[2]}"), same verdicts $same"

ray_ok=$("$(dirname "$NNREACH")/python" -c "import ray" 2> /dev/null && echo yes || echo no)
one() {  # NAME MODEL SPEC TIMEOUT: wall times of one instance on 1 and 2 worker processes, and on a
         # local Ray instance of all cores (its start-up included) when Ray is installed
    for jobs in 1 2; do
        seconds[one$jobs]=$(wall "$NNREACH" verify "$2" "$3" --jobs "$jobs" --timeout "$4")
    done
    local line="$1: 1 worker ${seconds[one1]} s, 2 workers ${seconds[one2]} s, speed-up $(ratio "${seconds[one1]}" "${seconds[one2]}")"
    if [[ $ray_ok == yes ]]; then
        seconds[ray]=$(wall "$NNREACH" verify "$2" "$3" --ray local --timeout "$4")
        line+="; Ray tasks ${seconds[ray]} s, speed-up $(ratio "${seconds[one1]}" "${seconds[ray]}")"
    fi
    echo "$line"
}
one "ACAS Xu 1_1 prop_6" "$folder/ACASXU_run2a_1_1_batch_2000.onnx" "$folder/prop_6.vnnlib" 116
one "MNIST-FC 256x4 prop_0_0.03" "$BENCHMARKS/mnistfc/mnist-net_256x4.onnx" "$BENCHMARKS/mnistfc/prop_0_0.03.vnnlib" 300
