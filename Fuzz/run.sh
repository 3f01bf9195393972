#!/usr/bin/env bash
# Builds the RESP3 decoder fuzzer with libFuzzer + AddressSanitizer and runs it.
#   FUZZ_SECONDS  how long to run (default 60)
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
swift build -c release --product RESPFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
BIN="$(swift build -c release --show-bin-path)/RESPFuzz"
mkdir -p corpus
# Seeds: one of every RESP3 type.
printf '\x01+OK\r\n' > corpus/simple; printf '\x03$5\r\nhello\r\n' > corpus/bulk
printf '\x02*2\r\n:1\r\n%%1\r\n+a\r\n,inf\r\n' > corpus/nested; printf '\x05|1\r\n+a\r\n+b\r\n>2\r\n+message\r\n_\r\n' > corpus/attr
printf '\x07=8\r\ntxt:abcd\r\n(123\r\n#t\r\n!3\r\nbad\r\n~1\r\n$-1\r\n*-1\r\n' > corpus/misc
SWIFT_BACKTRACE=enable=no "$BIN" corpus -max_total_time="$SECONDS_TO_RUN" -max_len=512 -print_final_stats=1 2>&1 | tail -20
