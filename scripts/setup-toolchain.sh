#!/bin/bash
# Installs what building and testing needs, skipping whatever is present.
#   --check  installs nothing: exits 1 (naming it) if anything is missing
#            (make demo and make check run this first, then the install
#            only when it fails)
source "$(dirname "$0")/lib.sh"
check_only=0
[ "${1:-}" != --check ] || check_only=1
# missing <what>: in --check mode, the end.
missing() {
	if [ "$check_only" = 1 ]; then
		echo "missing: $*"
		exit 1
	fi
}

need_pkgs=()
want() { # want <command-or-path> <debian package>
	if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then need_pkgs+=("$2"); fi
}
want make make
# cargo links host and musl binaries with the system's cc.
want cc gcc
want clang-19 clang-19
want ld.lld-19 lld-19
want llvm-ar-19 llvm-19
want /usr/lib/llvm-19/lib/libclang.so libclang-19-dev
want flex flex
want bison bison
want bc bc
want /usr/include/gelf.h libelf-dev
want /usr/include/openssl/ssl.h libssl-dev
want cpio cpio
want /bin/busybox busybox-static
want xz xz-utils
want rsync rsync
want patch patch
# The ARMv7 guest's tools link glibc statically (scripts/build-tools.sh).
want arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
want /usr/arm-linux-gnueabihf/lib/libc.a libc6-dev-armhf-cross

# QEMU comes from bookworm-backports (10.x): bookworm's 7.2 would also replace
# a backports qemu-utils that the machine may already carry.
qemu_pkgs=()
command -v qemu-system-x86_64 >/dev/null || qemu_pkgs+=(qemu-system-x86)
# qemu-system-arm has both qemu-system-arm and qemu-system-aarch64.
{ command -v qemu-system-arm && command -v qemu-system-aarch64; } >/dev/null || qemu_pkgs+=(qemu-system-arm)

apt_install() {
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
		|| die "could not install: $*"
}
if [ "${#need_pkgs[@]}" -gt 0 ] || [ "${#qemu_pkgs[@]}" -gt 0 ]; then
	missing "${need_pkgs[*]} ${qemu_pkgs[*]}"
	if [ "${#qemu_pkgs[@]}" -gt 0 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		log "adding bookworm-backports to apt sources"
		echo "deb http://deb.debian.org/debian bookworm-backports main" \
			| as_root tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
	fi
	as_root apt-get update -qq || die "apt-get update failed"
	[ "${#need_pkgs[@]}" -eq 0 ] || { log "installing: ${need_pkgs[*]}"; apt_install "${need_pkgs[@]}"; }
	[ "${#qemu_pkgs[@]}" -eq 0 ] || { log "installing from bookworm-backports: ${qemu_pkgs[*]}"; apt_install -t bookworm-backports "${qemu_pkgs[@]}"; }
fi

command -v rustup >/dev/null || die "rustup is missing: the Rust toolchain must come from rustup"
sysroot="$(rustc --print sysroot)"
if [ ! -d "$sysroot/lib/rustlib/src/rust/library/core" ]; then
	missing rust-src
	log "adding rust-src"
	rustup component add rust-src || die "rust-src could not be installed"
fi
for comp in rustfmt clippy; do
	rustup component list --installed | grep -q "^$comp" || { missing "$comp"; rustup component add "$comp"; } \
		|| die "$comp missing"
done
# The guests' static tools (scripts/lib.sh, TOOLS_TARGET of each ARCH).
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf; do
	rustup target list --installed | grep -qx "$target" || { missing "$target"; rustup target add "$target"; } \
		|| die "rust target $target missing"
done

bindgen_bin="$CACHE/tools/bin/bindgen"
if ! "$bindgen_bin" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	missing "bindgen $BINDGEN_VERSION"
	log "building bindgen-cli $BINDGEN_VERSION"
	cargo install --quiet --locked --root "$CACHE/tools" "bindgen-cli@$BINDGEN_VERSION" \
		|| die "bindgen-cli $BINDGEN_VERSION could not be built"
fi
[ "$check_only" = 1 ] || log "toolchain ready"
