#!/usr/bin/env bash
# Rewrites a Rust static library into one object in which only the allot_* functions of
# include/allot.h stay global, so that nothing else leaks into a program's (or a dylib's)
# exports and liballot.a can be linked next to other Rust static libraries.
# - ELF: GNU ld links the archive's objects into one relocatable object; objcopy makes
#   every other symbol local and drops debug info and embedded LLVM bitcode.
# - Mach-O: zig links the objects into one relocatable object and
#   scripts/macho-hide-symbols.py marks every other symbol private extern (hidden): kept
#   out of any export, though still visible to the static linker (llvm-objcopy cannot
#   localize Mach-O symbols). dist.sh links liballot.dylib from this object.
# Usage: scripts/hide-symbols.sh TARGET IN.a OUT.a   (IN and OUT may be the same file; a
# Linux target of another architecture needs Debian's binutils-<arch>-linux-gnu; macOS
# targets need zig: python3 -m ziglang)
set -euo pipefail
target=$1 in=$2 out=$3
scripts=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case $target in
    *-apple-darwin)
        mkdir "$work/objects"
        (cd "$work/objects" && python3 -m ziglang ar x "$in")
        python3 -m ziglang cc -target "${target%%-*}-macos" -r -o "$work/allot.o" "$work"/objects/*.o
        python3 "$scripts/macho-hide-symbols.py" "$work/allot.o" $("$scripts/header-symbols.sh" | sed 's/^/_/') >/dev/null
        rm -f "$out"
        python3 -m ziglang ar --format=darwin rcs "$out" "$work/allot.o"
        exit 0 ;;
    "$(uname -m)"-*) tools="" ;;
    *) tools=${target%%-*}-linux-gnu- ;;
esac
"${tools}ld" -r --whole-archive "$in" -o "$work/linked.o"
"${tools}objcopy" --wildcard --keep-global-symbol='allot_*' --strip-debug \
    --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.llvm_addrsig \
    "$work/linked.o" "$work/allot.o"
rm -f "$out"
"${tools}ar" rcs "$out" "$work/allot.o"
