#!/usr/bin/env bash
# avdf_python.sh ARGS...: runs avdf's Python (tools/venv of this repository) with ARGS.
# The utils/ wrappers call it through their own real path, so they work from any recipe
# directory through its `utils` symlink, with or without path.sh. Without tools/venv it
# falls back to python3 with the repository on PYTHONPATH (enough for the data-dir and
# queue tools, which need only the standard library).
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
if [ -x "$root/tools/venv/bin/python" ]; then
  exec "$root/tools/venv/bin/python" "$@"
fi
py=$(command -v python3) || { echo "$0: no $root/tools/venv and no python3 on PATH" >&2; exit 1; }
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" "$@"
