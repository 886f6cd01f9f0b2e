#!/usr/bin/env bash
# Writes the union of data dirs to DEST; a key in two sources is an error; a file not in every source is skipped with a warning.
# Usage: combine_data.sh DEST SRC1 SRC2 ...
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir combine "$@"
