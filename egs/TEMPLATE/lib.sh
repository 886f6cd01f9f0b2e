# Shared stage helpers, sourced by every recipe's run.sh after utils/parse_options.sh.
#
#   if stage_begin 3 "training" "$exp_dir/.done.train"; then
#     ...                                   # the stage's few lines
#     stage_end "$exp_dir/.done.train"
#   fi
#
# A stage runs when stage <= N <= stop_stage. A finished stage leaves a .done marker
# and is skipped on the next run unless --force true, or unless it is stale: an earlier
# stage of this run's chain (every stage_begin called before it, in or out of the range)
# finished after it, so what it made came from inputs that are gone (as make decides). A
# stage that runs again removes its marker first. Variables read: stage, stop_stage,
# force (defaults 0, 100, false).

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

_stage_markers=()   # the markers of the stages met so far in this run, in order

# stage_begin N TITLE [MARKER]: true if stage N should run now.
stage_begin() {
  local n=$1 title=$2 marker=${3:-} m newer=
  if [ -n "$marker" ] && [ -f "$marker" ]; then
    for m in "${_stage_markers[@]}"; do
      if [ "$m" -nt "$marker" ]; then newer=$m; break; fi
    done
  fi
  [ -n "$marker" ] && _stage_markers+=("$marker")
  [ "${stage:-0}" -le "$n" ] && [ "${stop_stage:-100}" -ge "$n" ] || return 1
  if [ -n "$marker" ] && [ -f "$marker" ] && [ "${force:-false}" != true ]; then
    if [ -z "$newer" ]; then
      log "stage $n: $title: already done ($marker exists; --force true to redo)"
      return 1
    fi
    log "stage $n: $title: redone: $newer is newer than $marker (an earlier stage was redone)"
  fi
  [ -n "$marker" ] && rm -f "$marker"
  log "stage $n: $title"
  return 0
}

# stage_end MARKER: record that the stage finished.
stage_end() {
  mkdir -p "$(dirname "$1")"
  date '+%Y-%m-%dT%H:%M:%S' > "$1"
}

# check_source DIR SOURCE [WHERE]: fail when DIR was prepared from another SOURCE (another --db_root
# or mini corpus), whose data the finished stages would otherwise reuse silently; nothing to
# check when SOURCE is empty or DIR has no record yet. --force true redoes every stage.
# WHERE: the options that give the recipe another working place (default: --work DIR).
check_source() {
  local dir=$1 src=${2:-} where=${3:-"--work DIR"} old
  [ -n "$src" ] && [ -f "$dir/.source" ] || return 0
  src=$(readlink -f "$src" 2>/dev/null || echo "$src")
  old=$(cat "$dir/.source")
  if [ "$old" != "$src" ] && [ "${force:-false}" != true ]; then
    die "$dir was prepared from $old, not $src: give another $where (or --force true to redo every stage)"
  fi
}

# record_source DIR SOURCE: what check_source compares against (end of data preparation).
record_source() {
  mkdir -p "$1"
  (readlink -f "$2" 2>/dev/null || echo "$2") > "$1/.source"
}

# check_bool NAME VALUE: fail unless VALUE is true or false.
check_bool() {
  case "$2" in true|false) ;; *) die "--$1 must be true or false, got '$2'";; esac
}

# machine_description: one line naming this machine for RESULTS.md.
machine_description() {
  local cpu gpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')
  gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  echo "$(uname -m), ${cpu:-unknown CPU}, $(nproc) cores${gpu:+, GPU $gpu}"
}
