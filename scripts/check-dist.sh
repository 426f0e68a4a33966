#!/usr/bin/env bash
# Checks every library that scripts/dist.sh built into dist/<target>/:
# - the shared library's dynamic symbol table and the static library's global symbols
#   define exactly the functions of include/allot.h (Mach-O: the non-private-extern ones,
#   see scripts/hide-symbols.sh);
# - glibc libraries need no symbol version newer than GLIBC_2.17;
# - the C example, built against the shared library and statically against liballot.a
#   (flags from the target's allot.pc and allot-static.pc), runs: natively (x86_64 glibc),
#   under qemu-aarch64 (aarch64 glibc; aarch64 musl, static), built with musl-gcc against
#   the musl shared library (x86_64 musl, loaded as on Alpine); the static musl programs
#   are built with zig cc, whose libunwind stands in for -lgcc_s (Debian's libgcc_eh needs
#   glibc);
# - macOS libraries are Mach-O for the right architecture and deployment target, and the
#   C example links against them (zig cc) though it cannot run here;
# - each Python wheel in dist/wheels/ holds exactly one native library, its target's; the
#   manylinux x86_64 wheel installs into a fresh venv and runs the Python quick start
#   (examples/python/quickstart.py) on its bundled library.
# Prints "test-dist: N passed, N failed" and exits non-zero on any failure.
# Usage: scripts/check-dist.sh TARGET...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expected=$(scripts/header-symbols.sh)
passed=0 failed=0

check() {  # check NAME COMMAND...: runs a check (stopping at its first failing step) and counts it
    local name=$1 status; shift
    set +e  # a function called as a condition would run without -e: use a subshell with it
    (set -e; "$@") >"$work/out" 2>&1
    status=$?
    set -e
    if [ "$status" = 0 ]; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$work/out"
    fi
}

same_symbols() {  # same_symbols SYMBOL-LIST-FILE: compares a list with the header's
    diff <(echo "$expected") <(sort -u "$1")
}

elf_exports() {  # elf_exports LIBDIR
    nm -D --defined-only "$1/liballot.so" | awk '{print $3}' >"$work/so.syms"
    same_symbols "$work/so.syms"
    nm -g --defined-only "$1/liballot.a" | awk 'NF == 3 {print $3}' >"$work/a.syms"
    same_symbols "$work/a.syms"
}

macho_exports() {  # macho_exports LIBDIR (the linker adds __mh_dylib_header and ___dso_handle)
    llvm-nm --no-llvm-bc -g --defined-only "$1/liballot.dylib" | awk '{print substr($3, 2)}' |
        grep -vx '_mh_dylib_header\|__dso_handle' >"$work/dylib.syms"
    same_symbols "$work/dylib.syms"
    llvm-nm --no-llvm-bc -g --defined-only -m "$1/liballot.a" | grep -v 'private external' |
        awk 'NF >= 4 {print substr($NF, 2)}' >"$work/a.syms"
    same_symbols "$work/a.syms"
}

glibc_baseline() {  # glibc_baseline LIBDIR: no symbol version newer than GLIBC_2.17
    local newest
    newest=$(objdump -T "$1/liballot.so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
    echo "newest glibc symbol version: $newest"
    [ "$(printf '%s\n' "$newest" GLIBC_2.17 | sort -V | tail -n 1)" = GLIBC_2.17 ]
}

macho_arch() {  # macho_arch LIBDIR ARCH-AS-FILE-NAMES-IT MIN-MACOS: file types, deployment target
    file -L "$1/liballot.dylib" >"$work/file"
    grep "Mach-O 64-bit $2 dynamically linked shared library" "$work/file"
    llvm-objdump --macho --private-headers "$1/liballot.dylib" >"$work/headers"
    grep -E "^ *(minos|version) $3\$" "$work/headers"
    local member
    member=$(llvm-ar t "$1/liballot.a" | grep -m 1 '\.o$')
    (cd "$work" && llvm-ar x "$1/liballot.a" "$member")
    file "$work/$member" >"$work/file"
    grep "Mach-O 64-bit $2 object" "$work/file"
}

# build_demo NAME LIBDIR shared|static CC [FLAGS...]: compiles examples/c/demo.c
build_demo() {
    local name=$1 lib=$2 kind=$3; shift 3
    local pc="env PKG_CONFIG_PATH=$lib/pkgconfig pkg-config" package=allot rpath=-Wl,-rpath,$lib
    [ "$kind" = shared ] || package=allot-static rpath=""
    "$@" -std=c99 -Wall -Werror $($pc --cflags $package) -o "$work/$name" examples/c/demo.c \
        $($pc --libs $package) $rpath
}

run_demo() {  # run_demo NAME [RUNNER...]: runs the example on the bundled flags
    local name=$1; shift
    "$@" "$work/$name" examples/flags/flags.json >"$work/$name.out"
    grep -q '"pricing-page-experiment"' "$work/$name.out"
}

demo() {  # demo NAME LIBDIR shared|static "RUNNER" CC [FLAGS...]
    local name=$1 lib=$2 kind=$3 runner=$4; shift 4
    build_demo "$name" "$lib" "$kind" "$@" && run_demo "$name" $runner
}

zig_link() {  # zig_link NAME LIBDIR shared|static ZIG-TARGET: builds, does not run
    # cargo-zigbuild's zig cc wrapper brings the libiconv stub that -liconv needs
    build_demo "$1" "$2" "$3" cargo-zigbuild zig cc -- -target "$4"
}

wheel_of() {  # wheel_of TARGET: the path of the target's wheel
    ls "$root"/dist/wheels/allot-*-"$(scripts/wheel-platform.sh "$1")".whl
}

wheel_library() {  # wheel_library TARGET: the wheel's only native file is the dist library
    local library=$root/dist/$1/lib/liballot.so
    case $1 in *-apple-darwin) library=$root/dist/$1/lib/liballot.dylib ;; esac
    python3 - "$(wheel_of "$1")" "$library" <<'PY'
import os, sys, zipfile
wheel, library = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    native = [n for n in z.namelist() if n.endswith((".so", ".dylib", ".dll", ".a"))]
    print(wheel, native)
    assert native == ["allot/_lib/" + os.path.basename(library)], native
    with open(library, "rb") as f:
        assert z.read(native[0]) == f.read(), "the wheel's library differs from " + library
PY
}

wheel_quickstart() {  # wheel_quickstart TARGET: fresh venv, the wheel, the quick start
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q --disable-pip-version-check --no-index "$(wheel_of "$1")"
    (cd "$work" && env -u ALLOT_LIBRARY_PATH "$work/venv/bin/python" \
        "$root/examples/python/quickstart.py" "$root/examples/flags/flags.json") | tee "$work/quickstart.out"
    grep -qx 'pricing-page-experiment: control' "$work/quickstart.out"
    (cd "$work" && env -u ALLOT_LIBRARY_PATH "$work/venv/bin/python" -c \
        'import allot._native as n; print(n.library_path)') | tee /dev/stderr | grep "^$work/venv/" >/dev/null
}

for target in "$@"; do
    lib=$root/dist/$target/lib
    [ -d "$lib" ] || { echo "FAIL $target: $lib is missing (run make dist)"; failed=$((failed + 1)); continue; }
    case $target in
        x86_64-unknown-linux-gnu)
            check "$target exports" elf_exports "$lib"
            check "$target glibc 2.17" glibc_baseline "$lib"
            check "$target demo (shared)" demo "$target-shared" "$lib" shared "" cc
            check "$target demo (static)" demo "$target-static" "$lib" static "" cc
            check "$target wheel quick start (fresh venv)" wheel_quickstart "$target" ;;
        aarch64-unknown-linux-gnu)
            check "$target exports" elf_exports "$lib"
            check "$target glibc 2.17" glibc_baseline "$lib"
            check "$target demo under qemu (shared)" demo "$target-shared" "$lib" shared \
                "qemu-aarch64 -L /usr/aarch64-linux-gnu" aarch64-linux-gnu-gcc
            check "$target demo under qemu (static)" demo "$target-static" "$lib" static \
                "qemu-aarch64 -L /usr/aarch64-linux-gnu" aarch64-linux-gnu-gcc ;;
        x86_64-unknown-linux-musl)
            check "$target exports" elf_exports "$lib"
            check "$target demo with musl-gcc (shared)" demo "$target-shared" "$lib" shared "" musl-gcc
            check "$target demo with zig cc (static)" demo "$target-static" "$lib" static "" \
                python3 -m ziglang cc -target x86_64-linux-musl -static ;;
        aarch64-unknown-linux-musl)
            check "$target exports" elf_exports "$lib"
            check "$target demo under qemu (static)" demo "$target-static" "$lib" static \
                qemu-aarch64 python3 -m ziglang cc -target aarch64-linux-musl -static ;;
        x86_64-apple-darwin | aarch64-apple-darwin)
            arch=${target%%-*}
            file_arch=x86_64 min_macos=10.12
            [ "$arch" = aarch64 ] && file_arch=arm64 min_macos=11.0
            zig_target=$arch-macos
            check "$target exports" macho_exports "$lib"
            check "$target is Mach-O $file_arch for macOS $min_macos" macho_arch "$lib" "$file_arch" "$min_macos"
            check "$target demo links (shared)" zig_link "$target-shared" "$lib" shared "$zig_target"
            check "$target demo links (static)" zig_link "$target-static" "$lib" static "$zig_target" ;;
        *) echo "FAIL $target: no checks for this target"; failed=$((failed + 1)); continue ;;
    esac
    check "$target wheel holds only its library" wheel_library "$target"
done
echo "test-dist: $passed passed, $failed failed"
[ "$failed" = 0 ]
