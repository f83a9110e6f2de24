# Sourced by the benchmark scripts: locations, the --sample and --peer options, then `nnreach bench`.
#   BENCHMARKS     published benchmarks (default: ../shared/benchmarks beside the repository)
#   NNREACH        the CLI (default: .venv/bin/nnreach of the repository)
#   OUT            where results go (default: out/bench in the repository)
#   NNREACH_PEERS  folder of the peers' virtualenvs (default: ~/.cache/nnreach-peers)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BENCHMARKS=${BENCHMARKS:-$REPO/../shared/benchmarks}
BENCHMARKS=$(cd "$BENCHMARKS" 2>/dev/null && pwd || echo "$BENCHMARKS")
NNREACH=${NNREACH:-$REPO/.venv/bin/nnreach}
OUT=${OUT:-$REPO/out/bench}
NNREACH_PEERS=${NNREACH_PEERS:-$HOME/.cache/nnreach-peers}

# run_bench NAME FOLDER INSTANCES SAMPLE_PATTERNS... -- ARGS...
#   ARGS may hold --sample (only the rows matching one of SAMPLE_PATTERNS, fixed strings) and
#   --peer NAME (runs benchmarks/peers/NAME_vnncomp.py with $NNREACH_PEERS/NAME/bin/python);
#   everything else goes to `nnreach bench` as it is.
run_bench() {
    local name=$1 folder=$2 instances=$3; shift 3
    local patterns=()
    while [[ $# -gt 0 && $1 != -- ]]; do patterns+=("$1"); shift; done
    [[ $# -gt 0 ]] && shift
    local sample=0 args=() peer=""
    while [[ $# -gt 0 ]]; do
        case $1 in
            --sample) sample=1 ;;
            --peer) peer=$2; shift ;;
            *) args+=("$1") ;;
        esac
        shift
    done
    [[ -d $folder ]] || { echo "$name: benchmark folder not found: $folder" >&2; exit 2; }
    mkdir -p "$OUT"
    local csv=$folder/$instances tag=$name
    if [[ $sample == 1 ]]; then  # a subset with absolute paths, so it can live in $OUT
        tag=${name}_sample
        csv=$OUT/$tag.instances.csv
        : > "$csv"
        local p
        for p in "${patterns[@]}"; do
            grep -F -- "$p" "$folder/$instances" | sed "s#^#$folder/#; s#,\([^,]*\),#,$folder/\1,#" >> "$csv" || true
        done
    fi
    if [[ -n $peer ]]; then
        local py=$NNREACH_PEERS/$peer/bin/python adapter=$HERE/peers/${peer}_vnncomp.py
        [[ -x $py && -f $adapter ]] || { echo "$name: peer $peer not installed (see benchmarks/README.md)" >&2; exit 2; }
        args+=(--peer-cmd "$py $adapter {onnx} {vnnlib} {timeout} {result}")
        tag=${tag}_vs_$peer
    fi
    echo "$name: $csv -> $OUT/$tag.csv" >&2
    "$NNREACH" bench "$csv" --expected "$folder/expected.csv" --out "$OUT/$tag.csv" "${args[@]}"
}

# run_decided NAME FOLDER INSTANCES ARGS...
#   `nnreach bench` on the rows of FOLDER/INSTANCES whose verdict in FOLDER/expected.csv is sat or
#   unsat (the others, which no tool decided, only cost their timeouts); ARGS go to `nnreach bench`.
run_decided() {
    local name=$1 folder=$2 instances=$3; shift 3
    [[ -d $folder ]] || { echo "$name: benchmark folder not found: $folder" >&2; exit 2; }
    mkdir -p "$OUT"
    local csv=$OUT/${name}_decided.instances.csv
    awk -F, -v d="$folder/" 'NR == FNR { if ($3 == "sat" || $3 == "unsat") known[$1 "," $2] = 1; next }
                             ($1 "," $2) in known { print d $1 "," d $2 "," $3 }' \
        "$folder/expected.csv" "$folder/$instances" > "$csv"
    echo "$name: $csv -> $OUT/${name}_decided.csv" >&2
    "$NNREACH" bench "$csv" --expected "$folder/expected.csv" --out "$OUT/${name}_decided.csv" "$@"
}
