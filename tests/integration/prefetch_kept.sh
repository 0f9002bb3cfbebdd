#!/usr/bin/env bash
# Prefetches stay in the data path. GCC treats __builtin_prefetch as free of
# side effects: a static helper that only prefetches is found "pure" and its
# calls are deleted, which silently removed the ring-batch and tx-header
# prefetches once. So the sources use sc_prefetch/sc_prefetch_w (asm
# volatile, common/util.h) only, and in an optimized build the functions
# that prefetch still contain the instructions.
# Usage: prefetch_kept.sh BUILD_DIR
set -u
BUILD=${1:?usage: prefetch_kept.sh BUILD_DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)/src
bad=$(grep -rn "__builtin_prefetch" "$SRC" | grep -v "src/common/util.h:")
[ -z "$bad" ] || { echo "FAIL: __builtin_prefetch outside common/util.h (use sc_prefetch):"; echo "$bad"; exit 1; }
command -v objdump >/dev/null || { echo "FAIL: objdump not found (binutils)"; exit 1; }
# A -O0 build (the sanitizer one) calls sc_prefetch out of line instead.
if objdump -d "$BUILD/sidecored" | grep -q "<sc_prefetch>:"; then
    echo "PASS: sources use sc_prefetch (unoptimized build: no instruction check)"
    exit 0
fi
# Each entry names a function and what the compiler may have made of it:
# rx delivery lives in a static helper (deliver_to) unless it is inlined,
# and GCC may suffix a static function's clone (.isra.0, .constprop.0).
for fns in vq_pop_split net_tx_poll "net_rx_deliver|deliver_to"; do
    n=$(objdump -d --no-show-raw-insn "$BUILD/sidecored" |
        awk -v re="^<($fns)(\\.[a-z]+\\.[0-9]+)*>:$" '
            /^[0-9a-f]+ <.*>:$/ {on = ($2 ~ re); next} on && /prefetch/' | wc -l)
    [ "$n" -ge 1 ] || { echo "FAIL: $fns has no prefetch instruction left"; exit 1; }
    echo "ok: $fns: $n prefetch instruction(s)"
done
echo "PASS: prefetches kept"
