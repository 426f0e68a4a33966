#!/usr/bin/env bash
# Builds the release library for each TARGET with cargo-zigbuild into dist/<target>/, laid
# out like an installation prefix:
#   lib/liballot.so.0.1.0, liballot.so.0, liballot.so   (Linux; soname liballot.so.0)
#   lib/liballot.0.dylib, liballot.dylib                 (macOS; install name @rpath/liballot.0.dylib)
#   lib/liballot.a        (only the allot_* symbols global: scripts/hide-symbols.sh)
# The macOS dylib is linked from that liballot.a: zig ignores the -exported_symbols_list
# that rustc gives it, so cargo's own dylib exports every Rust symbol.
#   lib/pkgconfig/allot.pc, allot-static.pc (relocatable: prefix=${pcfiledir}/../..)
#   include/allot/allot.h
# glibc targets link against glibc 2.17; musl libraries link libc dynamically (crt-static
# off) so that they load into musl programs on Alpine; macOS: 10.12 (x86_64), 11.0 (arm64).
# On Linux, rustc warns that macOS builds find no `xcrun`: zig links against its own macOS
# library stubs instead of Apple's SDK.
# Usage: scripts/dist.sh TARGET...   (cargo-zigbuild and ziglang on PATH; CARGO_TARGET_DIR
# set to a persistent build directory)
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
description=$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
target_dir=${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR to the persistent dist build directory}

for target in "$@"; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    flags="--print=native-static-libs"
    zig_target=$target
    deployment=""
    case $target in
        *-linux-gnu) zig_target=$target.2.17; flags+=" -Clink-arg=-Wl,-soname,liballot.so.$major" ;;
        *-linux-musl) flags+=" -Ctarget-feature=-crt-static -Clink-arg=-Wl,-soname,liballot.so.$major" ;;
        x86_64-apple-darwin) deployment=10.12 ;;
        aarch64-apple-darwin) deployment=11.0 ;;
        *) echo "unsupported target $target" >&2; exit 1 ;;
    esac
    rustflags_var=CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
    echo "dist: building $target"
    env "$rustflags_var=$flags" ${deployment:+MACOSX_DEPLOYMENT_TARGET=$deployment} \
        nice cargo zigbuild --quiet --release --lib --target "$zig_target" 2>&1 | tee "$log" |
        sed "/^note: /d; /^$/d" >&2
    static_libs=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)
    [ -n "$static_libs" ] || { echo "rustc printed no native-static-libs for $target" >&2; exit 1; }

    built=$target_dir/$target/release
    out=dist/$target
    rm -rf "$out"
    mkdir -p "$out/lib/pkgconfig" "$out/include/allot"
    scripts/hide-symbols.sh "$target" "$built/liballot.a" "$out/lib/liballot.a"
    case $target in
        *-apple-darwin)
            (cd "$out/lib" && python3 -m ziglang ar x liballot.a allot.o)
            cargo-zigbuild zig cc -- -target "${target%%-*}-macos.$deployment" -shared \
                -o "$out/lib/liballot.$major.dylib" "$out/lib/allot.o" $static_libs \
                -Wl,-install_name,@rpath/liballot.$major.dylib
            rm "$out/lib/allot.o"
            ln -s "liballot.$major.dylib" "$out/lib/liballot.dylib" ;;
        *)
            cp "$built/liballot.so" "$out/lib/liballot.so.$version"
            ln -s "liballot.so.$version" "$out/lib/liballot.so.$major"
            ln -s "liballot.so.$major" "$out/lib/liballot.so" ;;
    esac
    cp include/allot.h "$out/include/allot/allot.h"
    cat > "$out/lib/pkgconfig/allot.pc" <<PC
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: allot
Description: $description
Version: $version
Libs: -L\${libdir} -lallot
Libs.private: $static_libs
Cflags: -I\${includedir}/allot
PC
    scripts/static-pc.sh "$out/lib/pkgconfig"
done
