# rpmsg-rs entry points; the work is done by scripts/ (see README.md).
#   make demo     boot a guest and talk to a simulated remote processor
#   make check    host unit tests + the QEMU suite of every stack
# The kernel's own Kbuild reads ./Kbuild for the modules (make modules).

SHELL := /bin/bash
LLVM ?= -19
STACK ?= c
# Every stack with rows in scripts/stacks is tested by `make check`.
STACKS := $(shell awk '!/^#/ && NF { print $$1 }' scripts/stacks | uniq)
CACHE := $(shell scripts/lib.sh CACHE)
RESULTS := $(shell scripts/lib.sh RESULTS)
BINDGEN := $(shell scripts/lib.sh BINDGEN)
export CARGO_TARGET_DIR ?= $(CACHE)/target
MUSL := x86_64-unknown-linux-musl

# Modules build against the cached test kernel (built on first use), or
# against any prepared Rust-enabled kernel tree given as KDIR=.
ifeq ($(KDIR),)
KMAKE = kdir="$$(scripts/build-kernel.sh)" && $(MAKE) -C "$$kdir" M=$(CURDIR) LLVM=$(LLVM) BINDGEN=$(BINDGEN)
else
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) $(if $(wildcard $(BINDGEN)),BINDGEN=$(BINDGEN))
endif

.PHONY: all toolchain kernel modules tools host-test qemu-test check demo clippy fmt-check clean

all: modules tools

toolchain:
	scripts/setup-toolchain.sh

kernel:
	scripts/build-kernel.sh

modules:
	$(KMAKE) modules
	scripts/check-modules.sh $(or $(MO),$(CURDIR))

# The guest's static binaries: rpmsg-test (the suite) and rpmsg (the CLI).
tools:
	cargo build --release --target $(MUSL) -p rpmsg-test

host-test:
	scripts/host-test.sh

# The modules must match the test kernel the guest boots: KDIR does not apply.
qemu-test:
	$(MAKE) --no-print-directory modules tools KDIR=
	STACK=$(STACK) MODE=suite scripts/run-qemu.sh

demo:
	$(MAKE) --no-print-directory modules tools KDIR=
	STACK=$(STACK) MODE=demo SHOW_CONSOLE=1 scripts/run-qemu.sh

# Every part runs even when an earlier one fails; summary.sh counts a part
# that did not report (e.g. a build error) as failed and prints the last line.
# The guests of the stacks run CHECK_JOBS at a time (they spend much of their
# time waiting on each other's sides); each one's output is shown when it ends.
CHECK_JOBS ?= 2
check:
	@rm -rf $(RESULTS)
	@scripts/host-test.sh || true
	@$(MAKE) --no-print-directory modules tools KDIR= || true
	@printf '%s\n' $(STACKS) | xargs -P $(CHECK_JOBS) -I{} sh -c \
		'out=$$(STACK={} MODE=suite scripts/run-qemu.sh 2>&1); printf "%s\n" "$$out"' || true
	@scripts/summary.sh host $(STACKS:%=qemu-%-suite)

clippy:
	$(KMAKE) CLIPPY=1 modules
	cargo clippy --workspace --all-targets

fmt-check:
	scripts/fmt-check.sh

# Leaves the caches (kernel source and builds, cargo target) alone.
clean:
	-kdir="$(or $(KDIR),$$(scripts/build-kernel.sh --dir))" && $(MAKE) -C "$$kdir" M=$(CURDIR) clean
	rm -rf $(dir $(RESULTS))
