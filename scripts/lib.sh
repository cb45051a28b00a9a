# Shared settings for the scripts; sourced (or run to print a setting).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything expensive (kernel source, kernel builds, cargo targets) lives
# outside the clone so that a fresh clone reuses it.
CACHE="${RPMSG_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpmsg-rs}"
ARCH="${ARCH:-x86_64}"
LLVM_SUFFIX="${LLVM_SUFFIX:--19}"
# The linux-source package this project was tested with.
KERNEL_PKG="linux-source-7.3"
KERNEL_TESTED_VERSION="7.3.4"
BINDGEN_VERSION="0.72.1"
BINDGEN="$CACHE/tools/bin/bindgen"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# Logs and results of this clone's test runs (several clones share CACHE).
RUN_DIR="$CACHE/runs/$(printf %s "$ROOT" | sha256sum | cut -c1-8)"
RESULTS="$RUN_DIR/results"
# Which kernel of $ARCH the scripts build and boot: the debug test kernel
# (test) or the bench kernel (bench: the same without the debug options,
# scripts/kconfig/bench.config; make bench).
KFLAVOUR="${KFLAVOUR:-test}"
# The modules built against that kernel (make modules without KDIR): out of
# the source tree, so that every ARCH and kernel has its own objects.
MODULES_DIR="$RUN_DIR/modules-$ARCH"
[ "$KFLAVOUR" = test ] || MODULES_DIR+="-$KFLAVOUR"
# The simulated remotes' shared memory: physical memory that is not system
# RAM, below 4 GiB, split by the sim between its remotes (SHM_SIZE each run).
SHM_SIZE=0x800000
NR_RPROCS=2
GUEST_MEM_MIB=512

# Everything that depends on the guest's architecture. ARCH is the kernel's
# name (x86_64, arm = ARMv7, arm64).
#   KIMAGE        make target and path (in the kernel build) of the image QEMU boots
#   TOOLS_TARGET  Rust target of the guest's static binaries
#   QEMU          the emulator and its machine; SERIAL the guest's serial ports
#   SHM_BASE      the shared memory; MEM_ARGS keeps it out of system RAM
#   DEBIAN_ARCH   where busybox comes from (x86_64: the host's busybox-static)
case "$ARCH" in
x86_64)
	KIMAGE=bzImage KIMAGE_PATH=arch/x86/boot/bzImage
	TOOLS_TARGET=x86_64-unknown-linux-musl
	# The MP table of QEMU's BIOS lists one CPU per socket, and tinyconfig
	# has no ACPI: two sockets give the guest two CPUs.
	QEMU=(qemu-system-x86_64 -m "$GUEST_MEM_MIB" -smp 2,sockets=2)
	SERIAL=ttyS
	# memmap= takes it out of the e820 map: the page allocator never sees it.
	SHM_BASE=0x18000000
	MEM_ARGS="memmap=$((SHM_SIZE >> 20))M\$$SHM_BASE"
	DEBIAN_ARCH=""
	;;
arm)
	KIMAGE=zImage KIMAGE_PATH=arch/arm/boot/zImage
	# No armv7 musl std is available from rustup here: glibc, linked statically
	# (scripts/build-tools.sh).
	TOOLS_TARGET=armv7-unknown-linux-gnueabihf
	QEMU=(qemu-system-arm -M virt -cpu cortex-a15 -m "$GUEST_MEM_MIB" -smp 2)
	SERIAL=ttyAMA
	;;
arm64)
	KIMAGE=Image KIMAGE_PATH=arch/arm64/boot/Image
	TOOLS_TARGET=aarch64-unknown-linux-musl
	QEMU=(qemu-system-aarch64 -M virt -cpu cortex-a53 -m "$GUEST_MEM_MIB" -smp 2)
	SERIAL=ttyAMA
	;;
*)
	printf '[%s] error: ARCH=%s: expected x86_64, arm or arm64\n' "$(basename "$0")" "$ARCH" >&2
	exit 1
	;;
esac
case "$ARCH" in
arm | arm64)
	# QEMU virt's RAM starts at 1 GiB. mem= gives Linux all of it but the top
	# SHM_SIZE bytes, which the sim then uses like a board's reserved-memory.
	SHM_BASE=$(printf '0x%x' $((0x40000000 + (GUEST_MEM_MIB << 20) - SHM_SIZE)))
	MEM_ARGS="mem=$((GUEST_MEM_MIB - (SHM_SIZE >> 20)))M"
	DEBIAN_ARCH=$([ "$ARCH" = arm ] && echo armhf || echo arm64)
	;;
esac

case "$KFLAVOUR" in
test | bench) ;;
*)
	printf '[%s] error: KFLAVOUR=%s: expected test or bench\n' "$(basename "$0")" "$KFLAVOUR" >&2
	exit 1
	;;
esac

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run directly, print settings for the Makefile: scripts/lib.sh CACHE RESULTS
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	for v in "$@"; do printf '%s\n' "${!v}"; done
fi
