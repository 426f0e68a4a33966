#!/usr/bin/env bash
# The C stress program (tests/c/stress.c) under AddressSanitizer + LeakSanitizer (the
# library built by nightly rustc with -Zsanitizer=address, the program by cc with
# -fsanitize=address), under ThreadSanitizer (the library and std rebuilt with
# -Zsanitizer=thread -Zbuild-std, linked with rustc's TSan runtime: GCC's is too old for
# LLVM's instrumentation) and under valgrind memcheck (the normal release build); the
# swap program (tests/c/swap.c: configurations swapped by polling a loopback server and
# analytics sent to it while 8 threads evaluate) under AddressSanitizer and
# ThreadSanitizer. Each must report zero errors, zero races and zero definitely lost bytes.
# Usage: scripts/sanitize.sh   (CC, ASAN_CYCLES, TSAN_CYCLES, VALGRIND_CYCLES, SWAP_SECONDS,
#   ALLOT_SHARED, SANITIZER_TARGET_DIR: where the instrumented builds go, default target)
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${CC:-cc}
shared=${ALLOT_SHARED:-$(cd .. && pwd)/shared}
flags=examples/flags/flags.json
ufc=$shared/conformance/eppo/flags-v1.json
out=target/c
builds=${SANITIZER_TARGET_DIR:-target}
mkdir -p "$out"
host=$(rustc -vV | sed -n 's/^host: //p')
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

echo "== AddressSanitizer + LeakSanitizer"
RUSTFLAGS="-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer -Cforce-frame-pointers=yes" \
    CARGO_TARGET_DIR="$builds/asan" cargo +nightly build --release --lib --target "$host"
$cc -std=c11 -Wall -Wextra -Werror -Iinclude -g -O1 -fsanitize=address -fno-omit-frame-pointer \
    -o "$out/stress-asan" tests/c/stress.c "$builds/asan/$host/release/liballot.a" $static_libs
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1 \
    "$out/stress-asan" "$flags" "$ufc" "${ASAN_CYCLES:-2000}" 400
$cc -std=c11 -Wall -Wextra -Werror -Iinclude -g -O1 -fsanitize=address -fno-omit-frame-pointer \
    -o "$out/swap-asan" tests/c/swap.c "$builds/asan/$host/release/liballot.a" $static_libs
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 "$out/swap-asan" "${SWAP_SECONDS:-5}"

echo "== ThreadSanitizer"
RUSTFLAGS="-Zsanitizer=thread -Cforce-frame-pointers=yes" CARGO_TARGET_DIR="$builds/tsan" \
    cargo +nightly build -Zbuild-std --release --lib --target "$host"
tsan_runtime=$(rustc +nightly --print sysroot)/lib/rustlib/$host/lib/librustc-nightly_rt.tsan.a
$cc -std=c11 -Wall -Wextra -Werror -Iinclude -g -O1 -o "$out/stress-tsan" tests/c/stress.c \
    "$builds/tsan/$host/release/liballot.a" -Wl,--whole-archive "$tsan_runtime" \
    -Wl,--no-whole-archive -lstdc++ $static_libs
TSAN_OPTIONS=halt_on_error=1 \
    "$out/stress-tsan" "$flags" "$ufc" "${TSAN_CYCLES:-200}" 100
$cc -std=c11 -Wall -Wextra -Werror -Iinclude -g -O1 -o "$out/swap-tsan" tests/c/swap.c \
    "$builds/tsan/$host/release/liballot.a" -Wl,--whole-archive "$tsan_runtime" \
    -Wl,--no-whole-archive -lstdc++ $static_libs
TSAN_OPTIONS=halt_on_error=1 "$out/swap-tsan" "${SWAP_SECONDS:-5}"

echo "== valgrind memcheck"
$cc -std=c11 -Wall -Wextra -Werror -Iinclude -g -O1 -o "$out/stress" tests/c/stress.c \
    -Ltarget/release -lallot -Wl,-rpath,"$(pwd)/target/release" -lpthread
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --fair-sched=yes --log-file="$out/valgrind.log" \
    "$out/stress" "$flags" "$ufc" "${VALGRIND_CYCLES:-200}" 40 || { tail -n 40 "$out/valgrind.log"; exit 1; }
# --errors-for-leak-kinds=definite makes a definite leak an error (exit status 99).
grep -E "ERROR SUMMARY|definitely lost|no leaks are possible" "$out/valgrind.log"
echo "sanitizers: AddressSanitizer, LeakSanitizer, ThreadSanitizer and valgrind found nothing"
