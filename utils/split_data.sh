#!/usr/bin/env bash
# Splits a data dir into DIR/splitN/1..N by speaker (a speaker is never split), or into DIR/splitNutt/1..N by utterance with --per-utt.
# Usage: split_data.sh [--per-utt] DIR N
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir split "$@"
