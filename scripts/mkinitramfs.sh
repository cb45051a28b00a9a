#!/bin/bash
# Builds the guest's initramfs (gzip'd cpio) for $ARCH: busybox, the modules
# of $STACK (table in scripts/stacks) plus the simulated remote, the guest
# binaries and scripts/guest-init as /init.
#   usage: mkinitramfs.sh <kernel build dir> <output.cpio.gz>
#   MODE=suite|stress|demo|smoke|bench  what /init runs (smoke: load and unload
#                          only; bench: make bench, every stack of
#                          scripts/bench-stacks in turn, see scripts/bench.sh)
#   BENCH_ROUNDS=<n> BENCH_OPTS="<args>"  bench: rounds, rpmsg-bench run options
#   STRESS=short|full      the stress cases' level (MODE=stress; after the suite
#                          with MODE=suite), STRESS_SEED=<n> their seed
#   PLANT_WARNING=1        /init logs a fake kernel WARNING (harness self-test)
#   SUITE_OPTS="<args>"    more rpmsg-test arguments, after the stack's opt: rows
#                          (e.g. SUITE_OPTS=--faults to try the fault cases on any stack)
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: $0 <kernel build dir> <output.cpio.gz>"
kdir="$1" out="$2"
STACK="${STACK:-c}" MODE="${MODE:-suite}" PLANT_WARNING="${PLANT_WARNING:-0}" SUITE_OPTS="${SUITE_OPTS:-}"
BENCH_ROUNDS="${BENCH_ROUNDS:-2}" BENCH_OPTS="${BENCH_OPTS:-}"
STRESS="${STRESS:-}" STRESS_SEED="${STRESS_SEED:-1}"
case "$MODE" in suite|stress|demo|smoke|bench) ;; *) die "MODE=$MODE: expected suite, stress, demo, smoke or bench" ;; esac
[[ "$BENCH_ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=$BENCH_ROUNDS: expected a positive number"
case "$BENCH_OPTS" in *[!A-Za-z0-9_.,=:/+\ -]*) die "BENCH_OPTS '$BENCH_OPTS': only words of [A-Za-z0-9_.,=:/+-]" ;; esac
case "$STRESS" in ''|short|ci|full) ;; *) die "STRESS=$STRESS: expected short, ci or full" ;; esac
[[ "$STRESS_SEED" =~ ^[0-9]{1,19}$ ]] || die "STRESS_SEED=$STRESS_SEED: expected a decimal number below 2^63"
gen_cpio="$kdir/usr/gen_init_cpio"
[ -x "$gen_cpio" ] || die "$gen_cpio missing: is $kdir a built kernel tree?"
# The guest has no libc: busybox must be the static one.
busybox="$("$ROOT/scripts/get-busybox.sh")"
[ -x "$busybox" ] && [ "$("llvm-readelf$LLVM_SUFFIX" -l "$busybox" | grep -c 'program interpreter')" = 0 ] \
	|| die "$busybox is missing or not static: install busybox-static (scripts/setup-toolchain.sh)"

# A row is "<stack> <module or opt:> [param=value ...]": keep all but the stack.
stack_rows() { # stack_rows <table> <stack>
	awk -v s="$2" '!/^#/ && $1 == s { $1 = ""; sub(/^ +/, ""); print }' "$1"
}
stacks_of() { awk '!/^#/ && NF { print $1 }' "$1" | uniq | xargs; }
if [ "$MODE" = bench ]; then
	# /init loads the bench's stacks itself, one after the other.
	rows=""
else
	rows="$(stack_rows "$ROOT/scripts/stacks" "$STACK")"
	[ -n "$rows" ] || die "unknown STACK=$STACK (stacks: $(stacks_of "$ROOT/scripts/stacks"))"
fi
# opt: rows are arguments of the suite, not modules; /init word-splits them.
opts="$(sed -n 's/^opt://p' <<< "$rows" | tr '\n' ' ') $SUITE_OPTS"
case "$opts" in *[!A-Za-z0-9_.,=:/+\ -]*) die "suite options '$opts': only words of [A-Za-z0-9_.,=:/+-]" ;; esac
opts="$(xargs <<< "$opts")"
rows="$(grep -v '^opt:' <<< "$rows" || true)"
[ "$MODE" = bench ] || rows+=$'\n'"p:rpmsg_sim.ko"
# The remotes' shared memory; the bench uses one remote with all of it.
sim_args="nr_rprocs=$NR_RPROCS shm_base=$SHM_BASE shm_size=$SHM_SIZE"
[ "$MODE" != bench ] || sim_args="nr_rprocs=1 shm_base=$SHM_BASE shm_size=$SHM_SIZE"

modinfo_field() { # modinfo_field <ko> <field>: without kmod's modinfo
	local tmp; tmp="$(mktemp)"
	"llvm-objcopy$LLVM_SUFFIX" -O binary --only-section=.modinfo "$1" "$tmp"
	tr '\0' '\n' < "$tmp" | sed -n "s/^$2=//p" | tr ',' '\n' | sed '/^$/d'
	rm -f "$tmp"
}

# The cpio is described for the kernel's gen_init_cpio, which makes device
# nodes without root (the kernel needs /dev/console before /init runs).
list="$(mktemp)"
trap 'rm -f "$list"' EXIT
cat > "$list" <<EOF
dir /bin 755 0 0
dir /dev 755 0 0
nod /dev/console 600 0 0 c 5 1
dir /etc 755 0 0
dir /lib 755 0 0
dir /lib/modules 755 0 0
dir /proc 755 0 0
dir /sys 755 0 0
dir /tmp 1777 0 0
file /bin/busybox $busybox 755 0 0
slink /bin/sh busybox 777 0 0
file /init $ROOT/scripts/guest-init 755 0 0
EOF

in_cpio=" "   # files already in the cpio (bench stacks share some)
shown=()     # module names with their parameters, for the log
modlist=""   # "<file> <args>" per line, for /init
# add_modules <rows>: puts the modules of one stack into the cpio, checks
# their load order, and adds them to modlist.
add_modules() {
	local loaded=() # module names in load order, for the dependency check
	local row params path file name ko plist p args dep
	while read -r row params; do
		[ -n "$row" ] || continue
		path="${row#*:}"; file="$(basename "$path")"; name="${file%.ko}"
		case "$row" in
		k:*) ko="$kdir/$path" ;;
		p:*) ko="$MODULES_DIR/$path" ;;
		*) die "scripts/stacks: bad module '$row'" ;;
		esac
		# Module parameters from the row: words of name=value, passed to insmod.
		read -r -a plist <<< "$params"
		for p in "${plist[@]}"; do
			[[ "$p" =~ ^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_.,:+-]+$ ]] \
				|| die "scripts/stacks: '$p' after $row is not a module parameter (name=value)"
		done
		args="$params"
		[ "$name" = rpmsg_sim ] && args="$sim_args"
		modlist+="$file $args"$'\n'
		if [ ! -f "$ko" ]; then
			# /init reports the missing module as a failed case (skipped in smoke mode).
			log "WARNING: $ko is not built; the guest will run without it"
			continue
		fi
		for dep in $(modinfo_field "$ko" depends); do
			[[ " ${loaded[*]} " == *" $dep "* ]] && continue
			grep -q "/$dep.ko$" "$kdir/modules.builtin" 2>/dev/null && continue
			die "STACK=$STACK: $name depends on $dep, which is not loaded before it (scripts/stacks)"
		done
		loaded+=("$name")
		shown+=("$name${params:+($params)}")
		[[ "$in_cpio" == *" $file "* ]] && continue
		in_cpio+="$file "
		echo "file /lib/modules/$file $ko 644 0 0" >> "$list"
	done <<< "$1"
}
add_modules "$rows"
mods_list="$modlist"

# The bench's stacks: "<stack> <file> <args>" per line, the remote after
# each stack's modules.
# rust-bus is no stack of its own: with BENCH_RUST=bus (scripts/bench.sh)
# the Rust side loads its rows.
bench_list=""
bench_stacks="$(stacks_of "$ROOT/scripts/bench-stacks" | tr ' ' '\n' | grep -vx rust-bus | xargs)"
if [ "$MODE" = bench ]; then
	for stack in $bench_stacks; do
		rows_of="$stack"
		[ "$stack" = rust ] && [ "${BENCH_RUST:-all}" = bus ] && rows_of=rust-bus
		modlist=""
		add_modules "$(stack_rows "$ROOT/scripts/bench-stacks" "$rows_of")"$'\n'"p:rpmsg_sim.ko"
		bench_list+="$(sed "/^$/d; s/^/$stack /" <<< "$modlist")"$'\n'
	done
fi

conf="$(mktemp)" mods="$(mktemp)" bmods="$(mktemp)"
trap 'rm -f "$list" "$conf" "$mods" "$bmods"' EXIT
printf '%s' "$mods_list" > "$mods"
printf '%s' "$bench_list" > "$bmods"
cat > "$conf" <<EOF
STACK=$STACK
MODE=$MODE
ARCH=$ARCH
KTAP_TTY=/dev/${SERIAL}1
PLANT_WARNING=$PLANT_WARNING
SUITE_OPTS='$opts'
BENCH_STACKS='$bench_stacks'
BENCH_ROUNDS=$BENCH_ROUNDS
BENCH_OPTS='$BENCH_OPTS'
STRESS=$STRESS
STRESS_SEED=$STRESS_SEED
EOF
echo "file /etc/rpmsg-rs.conf $conf 644 0 0" >> "$list"
echo "file /etc/modules $mods 644 0 0" >> "$list"
echo "file /etc/bench-modules $bmods 644 0 0" >> "$list"

bindir="$CARGO_TARGET_DIR/$TOOLS_TARGET/release"
for bin in rpmsg-test rpmsg rpmsg-bench; do
	if [ -x "$bindir/$bin" ]; then
		echo "file /bin/$bin $bindir/$bin 755 0 0" >> "$list"
	else
		log "WARNING: $bindir/$bin is not built (make tools); the guest will run without it"
	fi
done

mkdir -p "$(dirname "$out")"
"$gen_cpio" "$list" | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
log "initramfs $out: ARCH=$ARCH STACK=$STACK MODE=$MODE${STRESS:+ STRESS=$STRESS STRESS_SEED=$STRESS_SEED}, modules: ${shown[*]}${opts:+, rpmsg-test $opts}"
