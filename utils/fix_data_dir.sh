#!/usr/bin/env bash
# Keeps the utterances that every file of a data dir agrees on, re-sorts, regenerates spk2utt, and reports what it dropped and why (old files in DIR/.backup/).
# Usage: fix_data_dir.sh DIR
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir fix "$@"
