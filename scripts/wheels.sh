#!/usr/bin/env bash
# Builds one py3-none-<platform> wheel per TARGET into dist/wheels/ from the library that
# scripts/dist.sh put in dist/<target>/, so that each wheel holds only its own library.
# PY_BUILD_WHEEL is the wheel-building command (make passes pip wheel with hatchling).
# Usage: scripts/wheels.sh TARGET...
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/wheels
for target in "$@"; do
    platform=$(scripts/wheel-platform.sh "$target")
    library=$PWD/dist/$target/lib/liballot.so
    case $target in *-apple-darwin) library=$PWD/dist/$target/lib/liballot.dylib ;; esac
    rm -f dist/wheels/allot-*-"$platform".whl
    ALLOT_BUILD_LIBRARY=$library ALLOT_WHEEL_PLATFORM=$platform \
        $PY_BUILD_WHEEL -w dist/wheels bindings/python >/dev/null
done
ls dist/wheels
