#!/bin/bash
# make bench (Documentation/benchmarks.md): the kernel's C RPMsg stack
# against the Rust one, on the bench kernel (the test kernel without its
# debug options, scripts/kconfig/bench.config). One guest boot measures both
# stacks in turn, BENCH_ROUNDS times (C, Rust, C, Rust, ... with everything
# unloaded in between, scripts/bench-stacks), so that every ratio is taken
# between two runs made one after the other; then the modules' sizes are
# taken on the host, and tools/bench-report prints the table and writes the
# JSON and the plot.
#   ARCH=x86_64|arm|arm64          the guest (default x86_64)
#   BENCH_ROUNDS=<n>               rounds of C then Rust (default 4)
#   BENCH_RTTS=<n>                 echo round trips per size (default 10000)
#   BENCH_MSGS=<n>                 messages per streaming run (default 50000)
#   BENCH_CASES=echo,sink,source,bulk  which cases run (default all of them)
#   BENCH_PROFILE=<n>              sample the kernel during each case and print
#                                  its <n> busiest functions (profile.txt)
#   BENCH_RUST=all|bus             the Rust side: its bus and char layer (default),
#                                  or its bus alone under the kernel's
#                                  rpmsg_char and rpmsg_ctrl (which layer
#                                  a figure comes from)
#   BENCH_ICOUNT=1|0               1 (default): the guest's time counts its
#                                  instructions (QEMU -icount), independent of
#                                  the host's load; 0: the host's wall clock
#   BENCH_SIZE_ARCHS="x86_64 arm"  architectures whose module sizes are reported
#                                  (each needs its bench kernel, built once)
#   BENCH_OUT=<dir>                where the results go (default: the clone's
#                                  run directory in the cache, bench/<arch>)
#   QEMU_TIMEOUT=<s>               limit for the guest (default 3600)
source "$(dirname "$0")/lib.sh"

export KFLAVOUR=bench
BENCH_ROUNDS="${BENCH_ROUNDS:-4}" BENCH_RTTS="${BENCH_RTTS:-10000}" BENCH_MSGS="${BENCH_MSGS:-50000}"
BENCH_SIZE_ARCHS="${BENCH_SIZE_ARCHS:-x86_64 arm}"
BENCH_CASES="${BENCH_CASES:-echo,sink,source,bulk}" BENCH_PROFILE="${BENCH_PROFILE:-0}"
BENCH_ICOUNT="${BENCH_ICOUNT:-1}" BENCH_RUST="${BENCH_RUST:-all}"
[[ "$BENCH_RUST" =~ ^(all|bus)$ ]] || die "BENCH_RUST=$BENCH_RUST: expected all or bus"
export BENCH_RUST
[[ "$BENCH_ICOUNT" =~ ^[01]$ ]] || die "BENCH_ICOUNT=$BENCH_ICOUNT: expected 0 or 1"
out="${BENCH_OUT:-$RUN_DIR/bench/$ARCH}"
[[ "$BENCH_PROFILE" =~ ^[0-9]+$ ]] || die "BENCH_PROFILE=$BENCH_PROFILE: expected a number"
for v in BENCH_ROUNDS BENCH_RTTS BENCH_MSGS; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: expected a positive number"
done
mkdir -p "$out"
rm -f "$out"/{guest.log,footprint.txt,bench.json,bench.svg,table.txt,profile.txt}
start=$SECONDS

# The host tool first: quick, and a broken toolchain shows at once.
cargo build --release -p bench-report --manifest-path "$ROOT/Cargo.toml" >&2
report="$CARGO_TARGET_DIR/release/bench-report"

log "$ARCH: bench kernel, modules and guest tools"
make -C "$ROOT" --no-print-directory modules tools KDIR= >&2

# Under TCG the guest's TSC is the host's, or with icount the instruction
# count (1 GHz). Told its frequency, the guest kernel need not calibrate it
# against emulated timers (which fails often enough to leave it on
# jiffies), and tsc=reliable keeps the clocksource watchdog from dropping it
# over emulation jitter. The guest checks the clock it ends up with before
# measuring (rpmsg-bench clock).
append=""
if [ "$ARCH" = x86_64 ]; then
	[ "$(uname -m)" = x86_64 ] || die "an x86_64 guest's clock needs the host's TSC: run on an x86_64 host"
	if [ "$BENCH_ICOUNT" = 1 ]; then
		khz=1000000
	else
		khz="$("$report" tsc-khz)"
	fi
	append="tsc_early_khz=$khz tsc=reliable"
	log "guest TSC: $khz kHz"
fi

rust_side="the Rust bus and char layer"
[ "$BENCH_RUST" = bus ] && rust_side="the Rust bus under the kernel's char layer"
log "booting the bench guest: $BENCH_ROUNDS round(s) of c, rust ($rust_side)"
guest_rc=0
STACK=bench MODE=bench BENCH_ROUNDS="$BENCH_ROUNDS" BENCH_OPTS="--rtts $BENCH_RTTS --msgs $BENCH_MSGS --cases $BENCH_CASES --profile $BENCH_PROFILE" \
	QEMU_APPEND="$append" QEMU_ICOUNT="$BENCH_ICOUNT" QEMU_TIMEOUT="${QEMU_TIMEOUT:-3600}" \
	"$ROOT/scripts/run-qemu.sh" || guest_rc=$?
cp "$RUN_DIR/$ARCH-bench-bench/ktap.log" "$out/guest.log" 2>/dev/null || true
cp "$RUN_DIR/$ARCH-bench-bench/console.log" "$out/console.log" 2>/dev/null || true
if [ "$BENCH_PROFILE" != 0 ]; then
	grep -a '^BENCH-PROFILE ' "$out/guest.log" | sed 's/^BENCH-PROFILE //' > "$out/profile.txt" || true
	log "kernel profile of each case: $out/profile.txt"
fi

# Module footprint: what each stack's modules take, as built for the bench
# kernel of each architecture (llvm-size's Berkeley format: text counts all
# allocated read-only sections, code and constants).
for a in $BENCH_SIZE_ARCHS; do
	if [ "$a" != "$ARCH" ]; then
		log "$a: bench kernel and modules (for their sizes)"
		ARCH="$a" make -C "$ROOT" --no-print-directory modules KDIR= >&2
	fi
	kdir="$(ARCH="$a" "$ROOT/scripts/build-kernel.sh" --dir)"
	mdir="$(ARCH="$a" "$ROOT/scripts/lib.sh" MODULES_DIR)"
	for m in c:"$kdir"/drivers/rpmsg/{virtio_rpmsg_bus,rpmsg_ns,rpmsg_char,rpmsg_ctrl}.ko \
		rust:"$mdir"/{virtio_rpmsg_rs,rpmsg_char_rs}.ko; do
		stack="${m%%:*}" ko="${m#*:}"
		[ -f "$ko" ] || die "$ko is missing"
		"llvm-size$LLVM_SUFFIX" -B "$ko" | awk -v a="$a" -v s="$stack" -v m="$(basename "$ko" .ko)" \
			'NR == 2 { printf "FOOTPRINT arch=%s stack=%s module=%s text=%s data=%s bss=%s\n", a, s, m, $1, $2, $3 }'
	done
done > "$out/footprint.txt"

report_rc=0
"$report" --arch "$ARCH" --json "$out/bench.json" --svg "$out/bench.svg" \
	"$out/guest.log" "$out/footprint.txt" | tee "$out/table.txt" || report_rc=$?
# The table's speed figures say "rust" whichever side that was.
[ "$BENCH_RUST" = all ] || echo "rust above: $rust_side (BENCH_RUST=$BENCH_RUST); its footprint is the whole stack's" |
	tee -a "$out/table.txt"
log "done in $((SECONDS - start)) s; guest log: $out/guest.log"
[ "$guest_rc" = 0 ] || die "the bench guest failed (see above and $out/console.log)"
[ "$report_rc" = 0 ] || die "some figures are missing or a case failed (see above)"
