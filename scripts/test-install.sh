#!/usr/bin/env bash
# Tests `make install` and `make uninstall`: installs into a temporary prefix, builds
# examples/c/demo.c and examples/cpp/demo.cpp with `pkg-config --cflags --libs allot`
# against the shared library and with allot-static statically against liballot.a, runs them,
# runs a Go binding test against each, checks the soname and that the static library
# exports only allot_*, then uninstalls and checks that nothing is left; finally checks a
# DESTDIR staging install.
# Usage: scripts/test-install.sh   (MAKE may name the make program)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
make=${MAKE:-make}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
lib=$prefix/lib
export PKG_CONFIG_PATH=$lib/pkgconfig

"$make" --no-print-directory install PREFIX="$prefix"
[ "$(readlink "$lib/liballot.so.0")" = liballot.so.0.1.0 ] || { echo "liballot.so.0 should point to liballot.so.0.1.0"; exit 1; }
readelf -d "$lib/liballot.so.0.1.0" | grep 'SONAME.*\[liballot\.so\.0\]' >/dev/null || { echo "soname is not liballot.so.0"; exit 1; }
diff <(scripts/header-symbols.sh) <(nm -g --defined-only "$lib/liballot.a" | awk 'NF == 3 {print $3}' | sort -u)
cmp include/allot.h "$prefix/include/allot/allot.h"

build_and_run() {  # build_and_run NAME SOURCE COMPILER [FLAGS...]
    local name=$1 source=$2; shift 2
    "$@" $(pkg-config --cflags allot) -o "$work/$name-shared" "$source" $(pkg-config --libs allot) -Wl,-rpath,"$lib"
    "$@" $(pkg-config --cflags allot-static) -o "$work/$name-static" "$source" $(pkg-config --libs allot-static)
    readelf -d "$work/$name-shared" | grep 'NEEDED.*\[liballot\.so\.0\]' >/dev/null
    if readelf -d "$work/$name-static" | grep 'NEEDED.*liballot' >/dev/null; then
        echo "$name-static depends on the shared library"; exit 1
    fi
    for kind in shared static; do
        "$work/$name-$kind" examples/flags/flags.json >"$work/$name-$kind.out"
        grep -q '"pricing-page-experiment"' "$work/$name-$kind.out"
        echo "ok   $name ($kind), installed with pkg-config"
    done
}
build_and_run c examples/c/demo.c "${CC:-cc}" -std=c99 -Wall -Wextra -Werror
build_and_run cpp examples/cpp/demo.cpp "${CXX:-c++}" -std=c++17 -Wall -Wextra -Werror
grep -q '"invalid_json"' "$work/cpp-shared.out"
# The Go bindings link through pkg-config: allot.pc by default, allot-static.pc with -tags.
# Go's build cache does not key cgo packages on pkg-config's output: CGO_LDFLAGS naming
# this prefix keeps these builds apart from those against target/ (make test-go).
(cd bindings/go && export CGO_LDFLAGS="-O2 -g -Wl,-rpath,$lib" &&
    go test -count=1 -run '^TestVersion$' . &&
    go test -count=1 -tags allot_static -run '^TestStaticLink' .)
echo "ok   Go bindings against the installed library (shared, static)"

"$make" --no-print-directory uninstall PREFIX="$prefix"
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || { echo "make uninstall left: $left"; exit 1; }
echo "ok   make uninstall removed every file"

# Same PREFIX as above, so that cargo-c reuses its build.
"$make" --no-print-directory install PREFIX="$prefix" DESTDIR="$work/stage"
for file in lib/liballot.so.0.1.0 lib/liballot.a lib/pkgconfig/allot.pc lib/pkgconfig/allot-static.pc \
    include/allot/allot.h; do
    [ -e "$work/stage$prefix/$file" ] || { echo "DESTDIR install lacks $prefix/$file"; exit 1; }
done
grep -qx "prefix=$prefix" "$work/stage$prefix/lib/pkgconfig/allot.pc"
[ -z "$(find "$prefix" -type f -o -type l)" ] || { echo "DESTDIR install wrote into PREFIX"; exit 1; }
echo "ok   make install DESTDIR=... stages the files under DESTDIR"
