#!/bin/bash
# Builds the guest's static binaries (rpmsg-test, the suite, rpmsg, the
# CLI, and rpmsg-bench, make bench's guest half) for $ARCH's guest. Prints the directory that holds them on stdout.
#   x86_64: x86_64-unknown-linux-musl, static-pie with the default linker
#   arm64:  aarch64-unknown-linux-musl, linked by rustup's rust-lld
#   arm:    armv7-unknown-linux-gnueabihf, glibc linked statically by Debian's
#           arm-linux-gnueabihf-gcc (rustup offers no armv7 musl std here)
source "$(dirname "$0")/lib.sh"

rustup target list --installed 2>/dev/null | grep -qx "$TOOLS_TARGET" \
	|| die "Rust target $TOOLS_TARGET missing: run scripts/setup-toolchain.sh"
var="CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<< "$TOOLS_TARGET")"
case "$TOOLS_TARGET" in
aarch64-unknown-linux-musl)
	export "${var}_LINKER=rust-lld"
	;;
armv7-unknown-linux-gnueabihf)
	command -v arm-linux-gnueabihf-gcc >/dev/null \
		|| die "arm-linux-gnueabihf-gcc missing: run scripts/setup-toolchain.sh"
	export "${var}_LINKER=arm-linux-gnueabihf-gcc"
	export "${var}_RUSTFLAGS=-C target-feature=+crt-static"
	;;
esac
cargo build --release --target "$TOOLS_TARGET" --manifest-path "$ROOT/Cargo.toml" -p rpmsg-test -p rpmsg >&2
bindir="$CARGO_TARGET_DIR/$TOOLS_TARGET/release"
# The guest has no libc or loader: refuse anything dynamically linked.
for bin in rpmsg-test rpmsg rpmsg-bench; do
	[ "$("llvm-readelf$LLVM_SUFFIX" -l "$bindir/$bin" | grep -c 'program interpreter')" = 0 ] \
		|| die "$bindir/$bin is dynamically linked"
done
echo "$bindir"
