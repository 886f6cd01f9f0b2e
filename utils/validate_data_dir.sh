#!/usr/bin/env bash
# Checks a Kaldi data dir; fails with one line naming the file, the line and the reason.
# Usage: validate_data_dir.sh [--check-files] [--no-feats] [--no-wav] DIR
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir validate "$@"
