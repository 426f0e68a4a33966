#!/usr/bin/env bash
# Rewrites a Rust static library so that only the allot_* functions stay global: GNU ld
# links the archive's objects into one relocatable object, objcopy makes every other
# symbol local and drops debug info and embedded LLVM bitcode. Programs can then link
# liballot.a next to other Rust static libraries without duplicate std/dependency symbols.
# Mach-O archives are copied unchanged: that would need Apple's `ld -r
# -exported_symbols_list` (zig's Mach-O linker ignores the list, llvm-objcopy cannot
# localize Mach-O symbols), which this machine does not have.
# Usage: scripts/hide-symbols.sh TARGET IN.a OUT.a   (IN and OUT may be the same file;
# a target of another architecture needs Debian's binutils-<arch>-linux-gnu)
set -euo pipefail
target=$1 in=$2 out=$3

arch=${target%%-*}
case $target in
    *-apple-darwin) [ "$in" -ef "$out" ] || cp "$in" "$out"; exit 0 ;;
    "$(uname -m)"-*) tools="" ;;
    *) tools=$arch-linux-gnu- ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${tools}ld" -r --whole-archive "$in" -o "$work/linked.o"
"${tools}objcopy" --wildcard --keep-global-symbol='allot_*' --strip-debug \
    --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.llvm_addrsig \
    "$work/linked.o" "$work/allot.o"
rm -f "$out"
"${tools}ar" rcs "$out" "$work/allot.o"
