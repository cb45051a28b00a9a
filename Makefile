# rpmsg-rs entry points; the work is done by scripts/ (see README.md).
#   make demo     boot a guest and talk to a simulated remote processor
#   make check    host unit tests + the QEMU suite of every stack, on x86_64
#                 and ARMv7 guests (ARCH=arm64, or any one ARCH, on its own)
#   make bench    the C stack against the Rust one, on a kernel without debug
#                 options (not part of check; Documentation/benchmarks.md)
#   make stress   the stress cases of the Rust stack (STACK=all: every stack) on one ARCH
# The kernel's own Kbuild reads ./Kbuild for the modules (make modules).

SHELL := /bin/bash
LLVM ?= -19
# The stack `make demo` and `make qemu-test` load (scripts/stacks): the
# project's own by default; STACK=c for the kernel's, to compare.
STACK ?= rust
# The guest's (and the modules') architecture, as the kernel names it:
# x86_64, arm (ARMv7, Thumb-2) or arm64. The scripts read it from the
# environment, as does the kernel's make.
ARCH ?= x86_64
export ARCH
# `make check` tests these; `make check ARCH=<arch>` only that one.
CHECK_ARCHS ?= $(if $(filter command line,$(origin ARCH)),$(ARCH),x86_64 arm)
# Every stack with rows in scripts/stacks is tested by `make check`.
STACKS := $(shell awk '!/^#/ && NF { print $$1 }' scripts/stacks | uniq)
CACHE := $(shell scripts/lib.sh CACHE)
RESULTS := $(shell scripts/lib.sh RESULTS)
BINDGEN := $(shell scripts/lib.sh BINDGEN)
export CARGO_TARGET_DIR ?= $(CACHE)/target

# Modules build against the cached kernel of ARCH and KFLAVOUR (test, or
# bench; built on first use) into a directory of their own per ARCH and
# KFLAVOUR (MODULES_DIR, in the cache), or
# against any prepared Rust-enabled kernel tree given as KDIR= (in place,
# or into MO=<dir>).
ifeq ($(KDIR),)
# Clippy's builds (CLIPPY=1) get a directory of their own: its objects differ
# from rustc's, and `make bench` would report their sizes.
MODULES_DIR = $(shell ARCH=$(ARCH) KFLAVOUR=$(KFLAVOUR) scripts/lib.sh MODULES_DIR)$(if $(filter 1,$(CLIPPY)),-clippy)
KMAKE = kdir="$$(scripts/build-kernel.sh)" && mkdir -p $(MODULES_DIR) && \
	$(MAKE) -C "$$kdir" M=$(CURDIR) MO=$(MODULES_DIR) LLVM=$(LLVM) BINDGEN=$(BINDGEN)
else
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(MO),MO=$(MO)) LLVM=$(LLVM) \
	$(if $(wildcard $(BINDGEN)),BINDGEN=$(BINDGEN))
endif

.PHONY: all toolchain toolchain-if-needed kernel modules tools host-test qemu-test check check-guests demo bench \
	stress clippy fmt-check clean

all: modules tools

toolchain:
	scripts/setup-toolchain.sh

# Runs the toolchain step when something it installs is missing (a cheap
# check first, so later runs do not pay for it): `make demo` and `make
# check` are all a fresh machine needs.
toolchain-if-needed:
	@scripts/setup-toolchain.sh --check >/dev/null 2>&1 || scripts/setup-toolchain.sh

kernel:
	scripts/build-kernel.sh

modules:
	$(KMAKE) modules
	scripts/check-modules.sh $(or $(MODULES_DIR),$(MO),$(CURDIR))

# The guest's static binaries: rpmsg-test (the suite) and rpmsg (the CLI).
tools:
	scripts/build-tools.sh >/dev/null

host-test:
	scripts/host-test.sh

# The modules must match the test kernel the guest boots: KDIR does not apply.
qemu-test:
	$(MAKE) --no-print-directory modules tools KDIR=
	STACK=$(STACK) MODE=suite scripts/run-qemu.sh

demo: toolchain-if-needed
	$(MAKE) --no-print-directory modules tools KDIR=
	STACK=$(STACK) MODE=demo SHOW_CONSOLE=1 scripts/run-qemu.sh

# Every part runs even when an earlier one fails; summary.sh counts a part
# that did not report (e.g. a build error) as failed and prints the last line.
CHECK_JOBS ?= 2
CHECK_STRESS ?= short
check: toolchain-if-needed
	@rm -rf $(RESULTS)
	@scripts/host-test.sh || true
	@for arch in $(CHECK_ARCHS); do $(MAKE) --no-print-directory check-guests ARCH=$$arch || true; done
	@scripts/summary.sh host $(foreach a,$(CHECK_ARCHS),$(STACKS:%=qemu-$(a)-%-suite))

# One ARCH's part of `make check`: its kernel, modules and tools, then the
# guests of the stacks, CHECK_JOBS at a time (they spend much of their time
# waiting on each other's sides); each one's output is shown when it ends.
# Each guest runs the short stress cases after the suite (CHECK_STRESS=
# leaves them out; STRESS_SEED=<n> repeats a run's).
# Without a kernel no guest can run: their results stay missing (failed).
check-guests:
	@$(MAKE) --no-print-directory modules tools KDIR= || true
	@scripts/build-kernel.sh --dir >/dev/null && printf '%s\n' $(STACKS) | xargs -P $(CHECK_JOBS) -I{} sh -c \
		'out=$$(STACK={} MODE=suite STRESS=$(CHECK_STRESS) scripts/run-qemu.sh 2>&1); printf "%s\n" "$$out"' || true

# The stress cases (Documentation/stress.md) of the Rust stack, or of
# STACK=<stack> ("a b" for several, all for every one), on ARCH; STRESS=short for the short ones,
# STRESS_SEED=<n> to repeat a run. Prints each stack's figures at the end.
stress:
	$(MAKE) --no-print-directory modules tools KDIR=
	STACK="$(if $(filter-out file,$(origin STACK)),$(STACK))" scripts/stress.sh

# Knobs: BENCH_ROUNDS=, BENCH_RTTS=, BENCH_MSGS=, BENCH_ICOUNT=, BENCH_RUST=, BENCH_SIZE_ARCHS= (scripts/bench.sh).
bench:
	scripts/bench.sh

clippy:
	$(MAKE) --no-print-directory modules CLIPPY=1
	cargo clippy --workspace --all-targets

fmt-check:
	scripts/fmt-check.sh

# Leaves the caches (kernel source and builds, cargo target) alone.
clean:
	-kdir="$(or $(KDIR),$$(scripts/build-kernel.sh --dir))" && $(MAKE) -C "$$kdir" M=$(CURDIR) clean
	rm -rf $(dir $(RESULTS))
