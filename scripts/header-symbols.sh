#!/usr/bin/env bash
# Prints the names of the functions that include/allot.h declares, one per line, sorted.
set -euo pipefail
grep -E '^[a-z].*[ *]allot_[a-z0-9_]+\(' "$(dirname "$0")/../include/allot.h" |
    sed -E 's/^.*[ *](allot_[a-z0-9_]+)\(.*$/\1/' | sort -u
