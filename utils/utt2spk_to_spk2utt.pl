#!/usr/bin/env bash
# utt2spk -> spk2utt on stdout (speakers and their utterances sorted as LC_ALL=C).
# Usage: utt2spk_to_spk2utt.pl [utt2spk] > spk2utt
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir utt2spk_to_spk2utt "$@"
