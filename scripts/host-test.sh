#!/bin/bash
# Runs the host unit tests of the Cargo workspace (protocol, simulated
# firmware, the guest tools' pure parts) and records their counts in
# $RESULTS/host.txt for `make check`.
source "$(dirname "$0")/lib.sh"

mkdir -p "$RESULTS" "$RUN_DIR"
out="$RUN_DIR/host-test.log"
set +e
cargo test --workspace --manifest-path "$ROOT/Cargo.toml" 2>&1 | tee "$out"
rc="${PIPESTATUS[0]}"
set -e

# One "test result:" line per test binary (unit, integration and doc tests).
read -r passed failed < <(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$out" \
	| awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }')
fails="$(sed -n 's/^test \(.*\) \.\.\. FAILED$/fail host: \1/p' "$out" | sort -u)"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	# Nothing ran to a verdict: the workspace did not build.
	failed=1 fails="fail host: cargo test builds and runs (see $out)"
fi
{ echo "passed $passed"; echo "failed $failed"; [ -z "$fails" ] || echo "$fails"; } > "$RESULTS/host.txt"
log "host tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
