#!/bin/bash
# Boots the test kernel of $ARCH with the STACK's initramfs in QEMU under a
# hard time limit and judges the run. Never trusts QEMU's exit status: the
# verdict comes from the guest's KTAP (second serial port: ttyS1, ttyAMA1)
# and the kernel's console (first serial port).
#   ARCH=x86_64|arm|arm64            the guest (scripts/lib.sh; arm, arm64: QEMU virt under TCG)
#   STACK=c MODE=suite|stress|demo|smoke  what to boot (scripts/stacks, scripts/guest-init;
#                                    MODE=bench: scripts/bench.sh)
#   STRESS=short|full                the stress cases' level: MODE=stress (default full), or
#                                    after the suite with MODE=suite (make check: short)
#   STRESS_SEED=<n>                  their seed (default: random, printed; reproduces a run)
#   QEMU_TIMEOUT=<s>                 hard limit for the whole run (default 480 for the suite, +600 with
#                                    a short stress run after it; MODE=stress: 900 short, 1800 ci, 5400 full)
#   KVM=0|1|auto                     auto: use KVM if a short probe boots (default 0: TCG; x86_64 only)
#   SHOW_CONSOLE=1                   stream the console to the terminal
#   QEMU_APPEND="<args>"             more kernel command line (make bench: the TSC's frequency)
#   PLANT_WARNING=1                  the guest logs a fake WARNING (the run must fail)
#   run-qemu.sh --judge              judge the last run's logs again without booting
# Writes $RESULTS/qemu-$ARCH-$STACK-$MODE.txt: "passed N", "failed M", "fail <case>"...
source "$(dirname "$0")/lib.sh"

STACK="${STACK:-c}" MODE="${MODE:-suite}" STRESS="${STRESS:-}"
[ "$MODE" != stress ] || STRESS="${STRESS:-full}"
if [ -n "$STRESS" ] && [ -z "${STRESS_SEED:-}" ]; then
	STRESS_SEED=$(od -An -N4 -tu4 /dev/urandom | tr -d " ")
fi
case "$MODE/$STRESS" in
stress/full) default_timeout=5400 ;;
stress/ci) default_timeout=1800 ;;
stress/*) default_timeout=900 ;;
*/?*) default_timeout=1080 ;;
*) default_timeout=480 ;;
esac
QEMU_TIMEOUT="${QEMU_TIMEOUT:-$default_timeout}" KVM="${KVM:-0}" SHOW_CONSOLE="${SHOW_CONSOLE:-0}"
export STACK MODE STRESS STRESS_SEED="${STRESS_SEED:-1}" PLANT_WARNING="${PLANT_WARNING:-0}"
run="$RUN_DIR/$ARCH-$STACK-$MODE"
result_file="$RESULTS/qemu-$ARCH-$STACK-$MODE.txt"
# Case names carry the guest's architecture: make check runs several.
label="$ARCH/$STACK"
end_marker="RPMSG-RS-GUEST-END"
cmdline="console=${SERIAL}0 panic=-1 $MEM_ARGS${QEMU_APPEND:+ $QEMU_APPEND}"
# The demo is for reading: only warnings and worse from the kernel (which is
# all the judging needs; KUnit's output is not shown then).
[ "$MODE" != demo ] || cmdline+=" loglevel=5"

# boot <accel> <initramfs> <time limit> <dir>: console.log and ktap.log in <dir>;
# returns timeout(1)'s status (124: killed at the limit).
boot() {
	local accel="$1" initrd="$2" limit="$3" dir="$4" rc
	rm -f "$dir/console.log" "$dir/ktap.log"
	local qemu=("${QEMU[@]}" -accel "$accel" -nographic -no-reboot
		-kernel "$kdir/$KIMAGE_PATH" -initrd "$initrd" -append "$cmdline"
		-serial mon:stdio -serial "file:$dir/ktap.log")
	# QEMU_ICOUNT=1 (make bench): the guest's clock counts instructions,
	# 1 ns each, and the vCPUs take turns (Documentation/benchmarks.md).
	if [ "${QEMU_ICOUNT:-0}" = 1 ]; then
		[ "$accel" = tcg ] || die "QEMU_ICOUNT=1 needs TCG (KVM=0)"
		qemu+=(-icount shift=0,sleep=off)
	fi
	set +e
	# The BIOS resets and clears the terminal: drop escape sequences.
	timeout -k 5 "$limit" "${qemu[@]}" < /dev/null 2>&1 \
		| sed -u 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' \
		| if [ "$SHOW_CONSOLE" = 1 ]; then tee "$dir/console.log"; else cat > "$dir/console.log"; fi
	rc="${PIPESTATUS[0]}"
	set -e
	return "$rc"
}

pick_accel() {
	case "$KVM" in
	0) echo tcg; return ;;
	1) echo kvm; return ;;
	auto) ;;
	*) die "KVM=$KVM: expected 0, 1 or auto" ;;
	esac
	[ "$ARCH" = "$(uname -m)" ] && [ -w /dev/kvm ] || { echo tcg; return; }
	local probe="$kdir/.kvm-probe"
	if [ ! -f "$probe" ]; then
		# KVM guests have been seen hanging right after the firmware on some hosts.
		local dir="$RUN_DIR/kvm-probe"
		mkdir -p "$dir"
		MODE=smoke "$ROOT/scripts/mkinitramfs.sh" "$kdir" "$dir/initramfs.cpio.gz" 2>/dev/null
		if SHOW_CONSOLE=0 boot kvm "$dir/initramfs.cpio.gz" 20 "$dir" && grep -q "^$end_marker" "$dir/ktap.log"; then
			echo kvm > "$probe"
		else
			echo tcg > "$probe"
		fi
		log "KVM probe: using $(cat "$probe") (cached in $probe)"
	fi
	cat "$probe"
}

# ktap: reads KTAP documents (other lines ignored) and prints one line per
# leaf test case: "pass|skip|fail <name>"; a plan with fewer results than it
# announced, or "Bail out!", is one more "fail".
ktap() {
	awk '
	function indent(s) { match(s, /^ */); return RLENGTH }
	function close_levels(above,   i) {
		for (i = 64; i > above; i--) {
			if ((i in plan) && cnt[i] < plan[i])
				print "fail", (i in subname ? subname[i] ": " : "") "only " cnt[i] + 0 " of " plan[i] " planned results"
			delete plan[i]; delete cnt[i]; delete bad[i]; delete subname[i]
		}
	}
	{ sub(/\r+$/, "") }
	/^ *K?TAP version/ { if (indent($0) == 0) { close_levels(-1); indoc = 1 } next }
	!indoc { next }
	/^ *# Subtest: / { s = $0; sub(/^ *# Subtest: */, "", s); subname[indent($0)] = s; next }
	/^ *1\.\.[0-9]+/ { s = $0; sub(/^ *1\.\./, "", s); plan[indent($0)] = s + 0; next }
	/^ *Bail out!/ { s = $0; sub(/^ */, "", s); print "fail", s; next }
	/^ *(not ok|ok) [0-9]+/ {
		l = indent($0); s = $0; sub(/^ */, "", s)
		failed = s ~ /^not ok/
		sub(/^(not ok|ok) [0-9]+ *(- )?/, "", s)
		skipped = s ~ /# *SKIP/
		name = s; sub(/ *#.*$/, "", name)
		if (l in subname) name = subname[l] "." name
		parent = 0; childfail = 0
		for (i = l + 1; i <= 64; i++) if (i in cnt) { parent = 1; childfail += bad[i] }
		close_levels(l)
		cnt[l]++
		if (failed) bad[l]++
		# A suite result only counts when none of its cases failed already.
		if (parent) { if (failed && !childfail) print "fail", name }
		else print (failed ? "fail" : skipped ? "skip" : "pass"), name
	}
	END { close_levels(-1) }'
}

# What in the kernel log makes a run fail (the parts after a printk timestamp).
problems='WARNING:|BUG:|BUG [^ ]+ \((Not t|T)ainted\)|kernel BUG|Oops|general protection fault|Kernel panic|KASAN|UBSAN|'
problems+='possible circular locking|inconsistent lock state|suspicious RCU|possible recursive locking|'
problems+='lock held when returning|bad unlock balance|held lock freed|Invalid wait context|DEBUG_LOCKS_WARN_ON|'
problems+='ODEBUG:|list_(add|del) corruption|suspected memory leak|unreferenced object|'
problems+='Call Trace:|Tainted:|blocked for more than|soft lockup|hard LOCKUP|detected stall|segfault at'
taint_flags=PFSRMBUDAWCIOELKXTNJ
# O (out-of-tree module), E (unsigned module), N (a KUnit test ran) are expected.
taint_ok=$(((1 << 12) | (1 << 13) | (1 << 18)))

judge() {
	local qemu_rc="$1" secs="$2" console ktap_log cases kernel_log lines tainted bad_taint end
	console="$(tr -d '\r' < "$run/console.log" 2>/dev/null || true)"
	ktap_log="$(tr -d '\r' < "$run/ktap.log" 2>/dev/null || true)"
	# The guest's KTAP, then KUnit's from the kernel log (timestamp stripped).
	cases="$( { printf '%s\n' "$ktap_log" | ktap
		printf '%s\n' "$console" | sed -n 's/^\[ *[0-9]*\.[0-9]*\] //p' | ktap | sed 's/^\([a-z]*\) /\1 kunit: /'
	} | sed "s|^\([a-z]*\) |\1 $label: |")"
	end="$(printf '%s\n' "$ktap_log" | grep "^$end_marker" | tail -n1 || true)"

	lines="$(printf '%s\n' "$console" | grep -E "\[ *[0-9]+\.[0-9]+\] .*($problems)" || true)"
	# Kernel reports (every line of the log that makes a run fail), for
	# the stress figures; only the first 20 are shown.
	local reports
	reports=$(grep -c . <<< "$lines" || true)
	lines="$(head -n 20 <<< "$lines")"
	tainted="$(sed -n 's/.*tainted=\([0-9]*\).*/\1/p' <<< "$end")"
	bad_taint=$(( ${tainted:-0} & ~taint_ok ))
	if [ "$bad_taint" -ne 0 ]; then
		local i flags=""
		for ((i = 0; i < ${#taint_flags}; i++)); do
			(( bad_taint & (1 << i) )) && flags+="${taint_flags:i:1}"
		done
		lines+=$'\n'"kernel tainted=$tainted (unexpected flags: $flags)"
	fi
	if [ -z "$lines" ]; then
		cases+=$'\n'"pass $label: kernel log clean"
	else
		cases+=$'\n'"fail $label: kernel log clean"
	fi
	local why=""
	if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		why="killed at the time limit of ${QEMU_TIMEOUT} s"
	elif [ -z "$end" ]; then
		why="the guest stopped before its end marker (QEMU status $qemu_rc)"
	fi
	if [ -z "$why" ]; then
		cases+=$'\n'"pass $label: guest ran to the end"
	else
		cases+=$'\n'"fail $label: guest ran to the end ($why)"
	fi

	local passed failed skipped
	passed=$(grep -c '^\(pass\|skip\) ' <<< "$cases" || true)
	skipped=$(grep -c '^skip ' <<< "$cases" || true)
	failed=$(grep -c '^fail ' <<< "$cases" || true)
	mkdir -p "$RESULTS"
	{ echo "passed $passed"; echo "failed $failed"; grep '^fail ' <<< "$cases" || true
		echo "reports $reports"; [ -z "$STRESS" ] || echo "seed $STRESS_SEED"; } > "$result_file"

	if [ -n "$lines" ]; then
		log "kernel log of $label ($run/console.log):"
		printf '%s\n' "$lines" | sed 's/^/    /' >&2
	fi
	if [ -n "$why" ]; then
		log "$why; last lines of the console ($run/console.log):"
		printf '%s\n' "$console" | tail -n 40 | sed 's/^/    | /' >&2
	fi
	grep '^fail ' <<< "$cases" | sed 's/^fail /    not ok: /' >&2 || true
	# Why each failed case failed: its diagnostic lines from the guest's
	# KTAP (the last ones), so that a CI log alone says what went wrong.
	local name
	while read -r name; do
		[ -n "$name" ] || continue
		printf '%s\n' "$ktap_log" | grep -F "# $name: " | tail -n 15 | sed 's/^/      /' >&2 || true
	done < <(grep "^fail $label: " <<< "$cases" | sed "s|^fail $label: ||")
	log "ARCH=$ARCH STACK=$STACK MODE=$MODE: $passed passed ($skipped skipped), $failed failed${secs:+ in $secs s}"
	if [ -n "$STRESS" ] && [ "$failed" -ne 0 ]; then
		log "stress seed $STRESS_SEED: STRESS_SEED=$STRESS_SEED reproduces this run (Documentation/stress.md)"
	fi
	[ "$failed" -eq 0 ]
}

if [ "${1:-}" = --judge ]; then
	[ -f "$run/console.log" ] || die "no run to judge in $run"
	judge "$(cat "$run/qemu.rc" 2>/dev/null || echo 0)" ""
	exit
fi

kdir="$("$ROOT/scripts/build-kernel.sh")"
mkdir -p "$run"
"$ROOT/scripts/mkinitramfs.sh" "$kdir" "$run/initramfs.cpio.gz"
accel="$(pick_accel)"
log "booting ARCH=$ARCH STACK=$STACK MODE=$MODE${STRESS:+ STRESS=$STRESS STRESS_SEED=$STRESS_SEED} ($accel, limit ${QEMU_TIMEOUT} s); console: $run/console.log"
start=$SECONDS
rc=0
boot "$accel" "$run/initramfs.cpio.gz" "$QEMU_TIMEOUT" "$run" || rc=$?
echo "$rc" > "$run/qemu.rc"
judge "$rc" "$((SECONDS - start))"
