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
MUSL_TARGET="x86_64-unknown-linux-musl"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# Logs and results of this clone's test runs (several clones share CACHE).
RUN_DIR="$CACHE/runs/$(printf %s "$ROOT" | sha256sum | cut -c1-8)"
RESULTS="$RUN_DIR/results"
# The simulated remotes' shared memory: reserved on the guest's command line
# with memmap= (x86: not handed to the page allocator) and split by the sim.
SHM_BASE=0x18000000
SHM_SIZE=0x800000
NR_RPROCS=2

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run directly, print settings for the Makefile: scripts/lib.sh CACHE RESULTS
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	for v in "$@"; do printf '%s\n' "${!v}"; done
fi
