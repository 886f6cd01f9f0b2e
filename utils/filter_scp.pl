#!/usr/bin/env bash
# Prints the lines of IN.scp (or stdin) whose field N (default 1) is the first field of a line of ID_LIST; with --exclude, those whose field is not.
# Usage: filter_scp.pl [--exclude] [-f N] ID_LIST [IN.scp ...] > OUT.scp
exec "$(dirname "$(readlink -f "$0")")/avdf_python.sh" -m avdf.bin.datadir filter_scp "$@"
