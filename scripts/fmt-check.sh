#!/bin/bash
# Checks Rust formatting: the Cargo workspace with `cargo fmt`, the kernel
# modules' Rust (every tracked .rs file outside a Cargo package) with rustfmt
# and the repository's .rustfmt.toml.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

status=0
cargo fmt --all -- --check || status=1
files=()
while read -r f; do
	d="$(dirname "$f")"
	while [ "$d" != . ]; do
		[ -f "$d/Cargo.toml" ] && continue 2
		d="$(dirname "$d")"
	done
	files+=("$f")
done < <(git ls-files --cached --others --exclude-standard -- '*.rs')
if [ "${#files[@]}" -gt 0 ]; then
	rustfmt --check --edition 2021 "${files[@]}" || status=1
fi
[ "$status" -eq 0 ] && log "formatting ok" || die "formatting differs (fix with cargo fmt / rustfmt)"
