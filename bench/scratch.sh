# Sourced by a bench: `. bench/scratch.sh NAME`. A scratch directory /tmp/NAME.XXXXXX as the working directory, and
# PIDS, to which the bench appends every process it starts; when the bench exits, however it exits, those processes
# are ended and the directory removed.
WORK=$(mktemp -d "/tmp/$1.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
