#!/usr/bin/env bash
# Copies a subset of a data dir's utterances (every per-utterance file, spk2utt, per-speaker files, trials whose both sides remain) to DEST.
# Usage: subset_data_dir.sh (--utt-list F | --spk-list F | --first N | --last N | --random N [--seed S]) SRC DEST
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir subset "$@"
