# Activates avdf's Python environment (tools/venv) and puts utils/ on PATH.
# Recipes symlink path.sh here; this file finds the repository from its own location.
AVDF_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
if [ ! -x "$AVDF_ROOT/tools/venv/bin/python" ]; then
  echo "path.sh: $AVDF_ROOT/tools/venv is missing; run 'make -C $AVDF_ROOT/tools' first" >&2
  return 1 2>/dev/null || exit 1
fi
export VIRTUAL_ENV="$AVDF_ROOT/tools/venv"
export PATH="$AVDF_ROOT/tools/venv/bin:$AVDF_ROOT/utils:$PATH"
export LC_ALL=C
export PYTHONUNBUFFERED=1
export AVDF_ROOT
