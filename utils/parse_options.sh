# Turns command-line options into shell variables, Kaldi style. Source it after the
# block of variables at the top of a script:
#
#   stage=0
#   nj=4
#   use_gpu=false
#   . utils/parse_options.sh     # now `--stage 3 --nj 8 --use-gpu true pos1 pos2` work
#
# Rules:
#   --foo-bar VALUE and --foo_bar VALUE set foo_bar=VALUE, only if foo_bar is already
#     defined; an unknown option or a missing value is an error (exit 1).
#     --foo-bar=VALUE is accepted too.
#   A variable whose current value is true or false only accepts true or false.
#   --config FILE: FILE must exist. A .yaml/.yml/.json FILE sets the script's own
#     `config` variable (a recipe's experiment config); any other FILE is sourced as
#     shell assignments (Kaldi's --config).
#   --help or -h prints the script's header comment (or $help_message) and its options
#     with their current values, then exits 0.
#   Parsing stops at the first argument that is not an option, or after `--`; the
#   remaining positional arguments stay in "$@".

# Prints the comment block at the top of the script (after the #! line).
__po_header() {
  local line started=false
  while IFS= read -r line; do
    case "$line" in
      '#!'*) ;;
      '#'*) started=true; line=${line#\#}; echo "${line# }";;
      *) if [ "$started" = true ]; then break; fi;;
    esac
  done < "$0"
  return 0
}

# Prints `--name value` for each variable assigned before parse_options.sh is sourced.
__po_options() {
  local line word name words seen=" "
  while IFS= read -r line; do
    case "$line" in *parse_options.sh*) break;; esac
    read -ra words <<< "${line%%#*}"
    for word in "${words[@]}"; do
      [[ $word =~ ^([A-Za-z_][A-Za-z0-9_]*)= ]] || continue
      name=${BASH_REMATCH[1]}
      case "$seen" in *" $name "*) continue;; esac
      [ "$name" = help_message ] && continue
      seen+="$name "
      if [ -n "${!name+x}" ]; then printf '  --%-22s %s\n' "$name" "'${!name}'"; fi
    done
  done < "$0"
  return 0
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      if [ -n "${help_message:-}" ]; then echo "$help_message"; else __po_header; fi
      echo "Options (current values):"
      __po_options
      exit 0;;
    --)
      shift; break;;
    --*=*)
      __po_opt=${1%%=*}; __po_val=${1#*=}; shift
      set -- "$__po_opt" "$__po_val" "$@";;
    --*)
      __po_opt=$1
      if [ $# -lt 2 ]; then
        echo "$0: option $__po_opt needs a value" >&2; exit 1
      fi
      __po_val=$2
      __po_name=${__po_opt#--}
      __po_name=${__po_name//-/_}
      if [ "$__po_name" = config ] && ! [[ $__po_val =~ \.(ya?ml|json)$ ]]; then
        if [ ! -f "$__po_val" ]; then
          echo "$0: --config: file '$__po_val' does not exist" >&2; exit 1
        fi
        . "$__po_val" || { echo "$0: --config: sourcing '$__po_val' failed" >&2; exit 1; }
        shift 2; continue
      fi
      if ! [[ $__po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!__po_name+x}" ]; then
        echo "$0: unknown option $__po_opt (run '$0 --help' for the options)" >&2; exit 1
      fi
      if [ "$__po_name" = config ] && [ ! -f "$__po_val" ]; then
        echo "$0: --config: file '$__po_val' does not exist" >&2; exit 1
      fi
      case "${!__po_name}" in
        true|false)
          case "$__po_val" in
            true|false) ;;
            *) echo "$0: option $__po_opt takes true or false, got '$__po_val'" >&2; exit 1;;
          esac;;
      esac
      printf -v "$__po_name" '%s' "$__po_val"
      shift 2;;
    *)
      break;;
  esac
done
unset -v __po_opt __po_val __po_name
unset -f __po_header __po_options
true
