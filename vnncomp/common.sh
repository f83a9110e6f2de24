# Sourced by the VNN-COMP scripts beside it: the facts they share.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv-vnncomp"                              # made by install_tool.sh
PIDFILE="${TMPDIR:-/tmp}/nnreach-vnncomp-$(id -u).pid"       # the process group of the running instance

# die MESSAGE: the message on stderr, prefixed with the script's name, and exit 1.
die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# check_args USAGE COUNT "$@": the competition's version v1 first, and COUNT arguments in all.
check_args() {
    local usage=$1 count=$2
    shift 2
    [ "${1:-}" = v1 ] || die "expected version v1 as the first argument, got '${1:-}' (usage: $usage)"
    [ $# -eq "$count" ] || die "expected $count arguments, got $# (usage: $usage)"
}

# find_nnreach: set NNREACH to the path of the nnreach executable: $NNREACH if set (a path or a name on
# PATH), else the one install_tool.sh installed, else nnreach on PATH.
find_nnreach() {
    local wanted=${NNREACH:-}
    if [ -z "$wanted" ]; then
        wanted=nnreach
        [ -x "$VENV/bin/nnreach" ] && wanted=$VENV/bin/nnreach
    fi
    NNREACH=$(command -v "$wanted") ||
        die "nnreach not found ($wanted): run install_tool.sh v1, put nnreach on PATH or set NNREACH to its path"
}

# stop_instance: end the process group of an instance run_instance.sh started, if it still runs.
stop_instance() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 0
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 -- "-$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
}
