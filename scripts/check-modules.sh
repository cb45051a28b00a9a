#!/bin/bash
# Checks built modules for what builds but cannot work. On 32-bit kernels
# (ELF32 modules: ARMv7) the kernel's Rust runtime makes 64-bit division
# panic ("`u64` division/modulo should not be used",
# rust/compiler_builtins.rs), and floats are not allowed anywhere: core::fmt
# of a u64, i64, u128, i128 or float is a kernel BUG at run time there, not a
# build error. Print such numbers with rust/num.rs (U64).
#   usage: check-modules.sh <directory with the .ko files>
source "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 <module directory>"
shopt -s nullglob
kos=("$1"/*.ko)
[ "${#kos[@]}" -gt 0 ] || die "no modules in $1"
bad=0
for ko in "${kos[@]}"; do
	"llvm-readelf$LLVM_SUFFIX" -h "$ko" | grep -q 'Class:[[:space:]]*ELF32' || continue
	uses="$("llvm-nm$LLVM_SUFFIX" --undefined-only "$ko" | awk '{ print $NF }' | "llvm-cxxfilt$LLVM_SUFFIX" \
		| grep -E '(u64|i64|u128|i128|f32|f64)>? as core::fmt::(Display|Debug|LowerExp|UpperExp)>::fmt' | sort -u || true)"
	if [ -n "$uses" ]; then
		log "$(basename "$ko") formats 64-bit integers or floats with core::fmt, which panics on 32-bit kernels:"
		printf '    %s\n' $uses >&2
		bad=1
	fi
done
[ "$bad" -eq 0 ] || die "use rust/num.rs (U64) to print 64-bit counters"

# The drivers, the sample and the simulated remote are safe Rust: `unsafe`
# belongs in the abstractions of rust/ (with a SAFETY comment that proves
# it). `#![deny(unsafe_code)]` cannot say so: pin-init's #[pinned_drop]
# expands to an `unsafe impl`. Comments may name the word.
unsafe_uses="$(cd "$ROOT" && git ls-files -- 'drivers/*.rs' 'samples/*.rs' 'sim/*.rs' \
	| xargs -r grep -nE '(^|[^[:alnum:]_])unsafe([^[:alnum:]_]|$)' \
	| grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)"
if [ -n "$unsafe_uses" ]; then
	printf '    %s\n' "$unsafe_uses" >&2
	die "unsafe outside rust/: add the safe abstraction it needs to rust/ instead"
fi
