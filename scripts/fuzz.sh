#!/bin/bash
# Builds one libFuzzer harness of tests/fuzz with clang (ASan and UBSan,
# in build-fuzz/) and fuzzes it for SECS seconds (default 300), keeping
# its corpus in build-fuzz/corpus/NAME and crashes in build-fuzz/crash/NAME.
# usage: scripts/fuzz.sh NAME [SECS]
#   NAME: virtq, vhost, blk, net, netdev, rio_srv, rio_cli, rnet, config
# Needs clang (apt-get install clang). The rio_srv, rio_cli and rnet
# harnesses bind 127.0.0.1 UDP ports (SC_FUZZ_PORT overrides each default).
set -eu
NAME=${1:?usage: scripts/fuzz.sh NAME [SECS]}
SECS=${2:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (apt-get install clang)"; exit 1; }
[ -f "$ROOT/tests/fuzz/fuzz_$NAME.c" ] || { echo "fuzz.sh: no harness tests/fuzz/fuzz_$NAME.c"; exit 2; }
CC=clang cmake -S "$ROOT" -B "$B" -DSC_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
nice -n 19 cmake --build "$B" -j2 --target "fuzz_$NAME"
mkdir -p "$B/corpus/$NAME" "$B/crash/$NAME"
ASAN_OPTIONS=detect_leaks=0 nice -n 19 "$B/fuzz/fuzz_$NAME" "$B/corpus/$NAME" \
    -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=70000 -timeout=10 \
    -artifact_prefix="$B/crash/$NAME/" -print_final_stats=1
