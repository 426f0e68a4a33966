#!/usr/bin/env bash
# Writes allot-static.pc next to allot.pc: the same package linked statically (Libs:
# ${libdir}/liballot.a and what it needs from the system), for build systems that cannot
# pass --static to pkg-config, such as cgo (`go build -tags allot_static`).
# Usage: scripts/static-pc.sh PKGCONFIGDIR
set -euo pipefail
dir=$1
private=$(sed -n 's/^Libs.private: *//p' "$dir/allot.pc")
sed -e 's/^Name: allot$/Name: allot-static/' \
    -e "s|^Libs: .*|Libs: \${libdir}/liballot.a $private|" \
    -e '/^Libs.private:/d' "$dir/allot.pc" >"$dir/allot-static.pc"
