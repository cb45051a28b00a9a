#!/bin/bash
# Fetches Debian's linux-source-7.3 into the cache without touching the
# system's apt sources: a private apt state that knows only trixie-backports.
# Prints the source directory on stdout. --no-fetch: only if already there.
source "$(dirname "$0")/lib.sh"

apt_dir="$CACHE/apt"
src_root="$CACHE/src"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src_root"

# The package's tarball unpacks into a directory named like the package.
dir="$src_root/$KERNEL_PKG"
if [ -f "$dir/.extracted" ]; then
	echo "$dir"
	exit 0
fi
[ "${1:-}" != --no-fetch ] || die "no extracted $KERNEL_PKG in $src_root"

cat > "$apt_dir/sources.list" <<LIST
deb http://deb.debian.org/debian trixie-backports main
LIST
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
	-o "Dir::State::status=/dev/null" -o "APT::Get::AllowUnauthenticated=false"
	-o "Debug::NoLocking=1")
log "refreshing the private trixie-backports index"
apt-get "${apt_opts[@]}" update -qq >&2 || die "apt update of trixie-backports failed"
version="$(apt-cache "${apt_opts[@]}" show "$KERNEL_PKG" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1)"
[ -n "$version" ] || die "$KERNEL_PKG is not available from trixie-backports"
upstream="${version%%-*}"; upstream="${upstream%%+*}"
if [ "$upstream" != "$KERNEL_TESTED_VERSION" ]; then
	log "WARNING: ******************************************************************"
	log "WARNING: $KERNEL_PKG is $version; this project was tested with $KERNEL_TESTED_VERSION."
	log "WARNING: continuing with $version."
	log "WARNING: ******************************************************************"
fi
(cd "$apt_dir" && apt-get "${apt_opts[@]}" download -qq "$KERNEL_PKG=$version" >&2) \
	|| die "download of $KERNEL_PKG=$version failed"
deb="$(ls -t "$apt_dir"/${KERNEL_PKG}_*.deb | head -n1)"
tmp="$(mktemp -d "$CACHE/extract.XXXXXX")"
log "extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$tmp"
tarball="$(ls "$tmp"/usr/src/linux-source-*.tar.xz)"
tar -C "$src_root" -xf "$tarball"
rm -rf "$tmp" "$deb"
[ -d "$dir" ] || die "$(basename "$tarball") did not unpack into $KERNEL_PKG/"
echo "$version" > "$dir/.debian-version"
touch "$dir/.extracted"
echo "$dir"
