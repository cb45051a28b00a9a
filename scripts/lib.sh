# Shared settings for the scripts; sourced, not run.
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

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
BINDGEN="${BINDGEN:-$CACHE/tools/bin/bindgen}"
