#!/usr/bin/env bash
# Prints the Python wheel platform tag of a Rust target: scripts/wheel-platform.sh TARGET
set -euo pipefail
case $1 in
    x86_64-unknown-linux-gnu) echo manylinux_2_17_x86_64 ;;
    aarch64-unknown-linux-gnu) echo manylinux_2_17_aarch64 ;;
    x86_64-unknown-linux-musl) echo musllinux_1_2_x86_64 ;;
    aarch64-unknown-linux-musl) echo musllinux_1_2_aarch64 ;;
    x86_64-apple-darwin) echo macosx_10_12_x86_64 ;;
    aarch64-apple-darwin) echo macosx_11_0_arm64 ;;
    *) echo "no wheel platform for $1" >&2; exit 1 ;;
esac
