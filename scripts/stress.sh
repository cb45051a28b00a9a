#!/bin/bash
# `make stress`: the stress cases (Documentation/stress.md) of the Rust
# stack (STACK=rust, the default), of others (STACK="rust c") or of every
# stack (STACK=all), each in a guest of its own on $ARCH, then their
# figures side by side. One seed for all stacks,
# printed first and with every failure: STRESS_SEED=<n> runs it again.
#   STRESS=full|ci|short  the level (default full; CI runs ci, make check short)
#   STRESS_SEED=<n>     the seed (default: random)
#   QEMU_TIMEOUT=<s>    per guest (scripts/run-qemu.sh; default 5400 for full)
# Expects the modules and tools to be built (the Makefile's stress target).
source "$(dirname "$0")/lib.sh"

STRESS="${STRESS:-full}"
all="$(awk '!/^#/ && NF { print $1 }' "$ROOT/scripts/stacks" | uniq | xargs)"
stacks="${STACK:-rust}"
[ "$stacks" != all ] || stacks="$all"
for s in $stacks; do
	[[ " $all " == *" $s "* ]] || die "unknown STACK=$s (stacks: $all)"
done
export STRESS STRESS_SEED="${STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
log "ARCH=$ARCH STRESS=$STRESS STRESS_SEED=$STRESS_SEED, stacks: $stacks"

parts=() start=$SECONDS
for s in $stacks; do
	t=$SECONDS
	STACK="$s" MODE=stress "$ROOT/scripts/run-qemu.sh" || true
	echo "$((SECONDS - t))" > "$RUN_DIR/$ARCH-$s-stress/seconds"
	parts+=("qemu-$ARCH-$s-stress")
done

# The figures: one column per stack, from the guest's stress_end case
# ("# stress_end: figure <name>: <value>") and the host's judgement.
figures() { # figures <stack>: "<name> <value>" lines
	local dir="$RUN_DIR/$ARCH-$1-stress" res="$RESULTS/qemu-$ARCH-$1-stress.txt"
	tr -d '\r' < "$dir/ktap.log" 2>/dev/null | sed -n 's/^# stress_end: figure \([a-z_]*\): \(.*\)$/\1 \2/p'
	echo "kernel_reports $(sed -n 's/^reports //p' "$res" 2>/dev/null || echo '?')"
	echo "failed_cases $(sed -n 's/^failed //p' "$res" 2>/dev/null || echo '?')"
	echo "seconds $(cat "$dir/seconds" 2>/dev/null || echo '?')"
}
{
	printf '%-28s' figure
	for s in $stacks; do printf ' %16s' "$s"; done
	echo
	names="$(for s in $stacks; do figures "$s"; done | awk '!seen[$1]++ { print $1 }')"
	for n in $names; do
		printf '%-28s' "$n"
		for s in $stacks; do
			printf ' %16s' "$(figures "$s" | awk -v n="$n" '$1 == n { print $2; exit }')"
		done
		echo
	done
} | tee "$RESULTS/stress-$ARCH-figures.txt"
echo
log "stress on $ARCH took $((SECONDS - start)) s; STRESS_SEED=$STRESS_SEED reproduces it"
"$ROOT/scripts/summary.sh" "${parts[@]}"
