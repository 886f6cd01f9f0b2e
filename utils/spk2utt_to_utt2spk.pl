#!/usr/bin/env bash
# spk2utt -> utt2spk on stdout (sorted as LC_ALL=C).
# Usage: spk2utt_to_utt2spk.pl [spk2utt] > utt2spk
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir spk2utt_to_utt2spk "$@"
