#!/usr/bin/env bash
# Builds a libFuzzer + AddressSanitizer target and runs it.
#   $1            the target: RESPFuzz (default) or APIFuzz
#   FUZZ_SECONDS  how long to run (default 60)
set -euo pipefail
cd "$(dirname "$0")"
TARGET=${1:-RESPFuzz}
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
swift build -c release --product "$TARGET" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
BIN="$(swift build -c release --show-bin-path)/$TARGET"
CORPUS="corpus/$TARGET"
mkdir -p "$CORPUS"
case "$TARGET" in
RESPFuzz)
    # Seeds: one of every RESP3 type.
    printf '\x01+OK\r\n' > "$CORPUS/simple"; printf '\x03$5\r\nhello\r\n' > "$CORPUS/bulk"
    printf '\x02*2\r\n:1\r\n%%1\r\n+a\r\n,inf\r\n' > "$CORPUS/nested"; printf '\x05|1\r\n+a\r\n+b\r\n>2\r\n+message\r\n_\r\n' > "$CORPUS/attr"
    printf '\x07=8\r\ntxt:abcd\r\n(123\r\n#t\r\n!3\r\nbad\r\n~1\r\n$-1\r\n*-1\r\n' > "$CORPUS/misc"
    MAX_LEN=512
    MALLOC_LIMIT=2048
    ;;
APIFuzz)
    # Seeds: an order body, a product body and a signature header (the first byte picks which).
    printf '\x00{"items":[{"productId":"0b5c4b1e-7d1f-4c55-9f4e-000000000005","quantity":2},{"productId":"0b5c4b1e-7d1f-4c55-9f4e-000000000005","quantity":999}]}' > "$CORPUS/order"
    printf '\x01{"name":"Mug \\u00e9\\u0301","description":"a\\nb","price":"12.50","currency":"USD","stock":3}' > "$CORPUS/product"
    printf '\x02t=1700000000,v1=%s,v1=%s' "$(printf 'ab%.0s' {1..32})" "$(printf '0f%.0s' {1..32})" > "$CORPUS/signature"
    MAX_LEN=4096
    # No single allocation past 64 MiB from a 4 KiB input: an unbounded allocation is a finding.
    MALLOC_LIMIT=64
    ;;
esac
SWIFT_BACKTRACE=enable=no "$BIN" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -rss_limit_mb=2048 -malloc_limit_mb="$MALLOC_LIMIT" -print_final_stats=1 2>&1 | tail -20
