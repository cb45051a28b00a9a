#!/bin/bash
# Builds the test kernel of $ARCH (its image + modules) out of tree from
# tinyconfig and scripts/kconfig/$ARCH.config (KFLAVOUR=bench: the bench
# kernel, that fragment as scripts/kconfig/bench.config changes it). The build directory is keyed by everything
# that changes the result, so an unchanged second run does nothing.
# Prints the build directory on stdout; everything else goes to stderr.
# --dir: only print it, fail unless it has been built (nothing is fetched).
source "$(dirname "$0")/lib.sh"

fragment="$ROOT/scripts/kconfig/$ARCH.config"
[ -f "$fragment" ] || die "missing config fragment $fragment"
# The bench kernel: the ARCH's fragment without the lines about the symbols
# scripts/kconfig/bench.config names, then that file's lines.
if [ "$KFLAVOUR" = bench ]; then
	overrides="$ROOT/scripts/kconfig/bench.config"
	syms="$(sed -n 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p; s/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p; s/^# drop \(CONFIG_[A-Za-z0-9_]*\)$/\1/p' \
		"$overrides")"
	combined="$(mktemp)"
	trap 'rm -f "$combined"' EXIT
	{
		grep -v -w -F -f <(printf '%s\n' "$syms") "$fragment" || true
		cat "$overrides"
	} > "$combined"
	fragment="$combined"
fi
[ -x "$BINDGEN" ] || die "bindgen missing at $BINDGEN: run scripts/setup-toolchain.sh"
command -v "clang$LLVM_SUFFIX" >/dev/null || die "clang$LLVM_SUFFIX missing: run scripts/setup-toolchain.sh"

only_dir=0
[ "${1:-}" = --dir ] && only_dir=1
if [ "$only_dir" = 1 ]; then
	src="$("$ROOT/scripts/get-kernel.sh" --no-fetch)"
else
	src="$("$ROOT/scripts/get-kernel.sh")"
fi

# The test kernel carries the patches in scripts/kernel-patches/ (lockdep
# annotations for upstream false positives, see each patch), and those in
# scripts/kernel-patches/$ARCH/ (fixes of upstream tests that only fail
# there). They go into a hard-linked copy of the pristine source, so the
# download stays as it is.
shopt -s nullglob
patches=("$ROOT"/scripts/kernel-patches/*.patch "$ROOT"/scripts/kernel-patches/"$ARCH"/*.patch)
shopt -u nullglob
if [ "${#patches[@]}" -gt 0 ]; then
	phash="$(cat "${patches[@]}" | sha256sum | cut -c1-12)"
	patched="$CACHE/src-patched/$(basename "$src")-$phash"
	if [ ! -f "$patched/.patched" ]; then
		[ "$only_dir" = 0 ] || die "the patched kernel source is not prepared yet ($patched)"
		log "applying ${#patches[@]} patch(es) to a copy of the kernel source"
		mkdir -p "$(dirname "$patched")"
		rm -rf "$patched.tmp"
		cp -al "$src" "$patched.tmp"
		for p in "${patches[@]}"; do
			# patch(1) writes new files, which breaks the hard links it touches.
			patch -s -p1 -d "$patched.tmp" < "$p" || die "patch $(basename "$p") does not apply"
		done
		touch "$patched.tmp/.patched"
		rm -rf "$patched"
		mv "$patched.tmp" "$patched"
	fi
	src="$patched"
fi

# The build tree records the source path, so the path is part of the key.
key="$( {
	echo "$src"
	cat "$src/.debian-version"
	cat "$fragment"
	[ "${#patches[@]}" -eq 0 ] || cat "${patches[@]}"
	"clang$LLVM_SUFFIX" --version | head -n1
	"ld.lld$LLVM_SUFFIX" --version | head -n1
	rustc --version
	"$BINDGEN" --version
} | sha256sum | cut -c1-12)"
# The test kernel keeps its historical name; other flavours say theirs.
out="$CACHE/build/$ARCH-$key"
[ "$KFLAVOUR" = test ] || out="$CACHE/build/$ARCH-$KFLAVOUR-$key"

if [ -f "$out/.done" ]; then
	[ "$only_dir" = 1 ] || log "kernel up to date"
	echo "$out"
	exit 0
fi
[ "$only_dir" = 0 ] || die "the test kernel is not built yet ($out)"

mkdir -p "$out"
# Two make check runs sharing the cache must not build into one tree at once.
exec 9>"$out.lock"
flock 9
if [ -f "$out/.done" ]; then echo "$out"; exit 0; fi

kmake() {
	PATH="$(dirname "$BINDGEN"):$PATH" make -C "$src" O="$out" ARCH="$ARCH" \
		LLVM="$LLVM_SUFFIX" BINDGEN="$BINDGEN" "$@" >&2
}

log "configuring $out (kernel $(cat "$src/.debian-version"))"
kmake -s tinyconfig
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$fragment" >/dev/null
kmake -s olddefconfig

# Kconfig drops what it cannot satisfy without a word: check every line.
lost=()
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		sym="${BASH_REMATCH[1]}" want="${BASH_REMATCH[2]}"
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		sym="${BASH_REMATCH[1]}" want=n
	else
		continue
	fi
	got="$(sed -n "s/^$sym=//p" "$out/.config")"
	[ "$want" = n ] && [ -z "$got" ] && continue
	[ "$got" = "$want" ] || lost+=("$sym (wanted ${want}, got ${got:-n})")
done < "$fragment"
if [ "${#lost[@]}" -gt 0 ]; then
	log "these options of scripts/kconfig/$ARCH.config${overrides:+ + bench.config} did not survive olddefconfig:"
	printf '  %s\n' "${lost[@]}" >&2
	[ -n "$(sed -n 's/^CONFIG_RUST=//p' "$out/.config")" ] \
		|| log "(RUST needs a working toolchain: see 'make -C $src LLVM=$LLVM_SUFFIX rustavailable')"
	die "kernel config incomplete"
fi

log "building $KIMAGE and modules for $ARCH with $(nproc) jobs (3 to 6 minutes on 2 cores)"
start=$SECONDS
kmake -j"$(nproc)" "$KIMAGE" modules
log "$ARCH kernel built in $((SECONDS - start)) s"
touch "$out/.done"
echo "$out"
