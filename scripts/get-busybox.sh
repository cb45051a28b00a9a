#!/bin/bash
# Prints the path of a static busybox for the guest of $ARCH. x86_64 uses the
# host's (busybox-static, scripts/setup-toolchain.sh); arm and arm64 fetch
# Debian's busybox-static for armhf / arm64 into the cache, without touching
# the system's apt state: a private one that knows only this architecture.
# --no-fetch: only if already there.
source "$(dirname "$0")/lib.sh"

if [ -z "$DEBIAN_ARCH" ]; then
	echo /bin/busybox
	exit 0
fi
dir="$CACHE/busybox/$DEBIAN_ARCH"
if [ -f "$dir/.extracted" ]; then
	echo "$dir/bin/busybox"
	exit 0
fi
[ "${1:-}" != --no-fetch ] || die "no busybox for $DEBIAN_ARCH in $dir"

# make check boots several guests at once, each asking for busybox: one
# fetches, the others wait for it (the private apt state has no lock of its
# own: Debug::NoLocking).
mkdir -p "$CACHE"
exec 9>"$CACHE/busybox-$DEBIAN_ARCH.lock"
flock 9
if [ -f "$dir/.extracted" ]; then
	echo "$dir/bin/busybox"
	exit 0
fi

# The host's Debian release (bookworm on the machines this was tested on).
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[ -n "$suite" ] || die "cannot tell the Debian release from /etc/os-release"
apt_dir="$CACHE/apt-$DEBIAN_ARCH"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb http://deb.debian.org/debian $suite main" > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
	-o "Dir::State::status=/dev/null" -o "APT::Architecture=$DEBIAN_ARCH"
	-o "APT::Architectures=$DEBIAN_ARCH" -o "APT::Get::AllowUnauthenticated=false"
	-o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
log "fetching busybox-static:$DEBIAN_ARCH from Debian $suite (private apt state in $apt_dir)"
apt-get "${apt_opts[@]}" update -qq >&2 || die "apt update of $suite for $DEBIAN_ARCH failed"
rm -f "$apt_dir"/busybox-static_*.deb
(cd "$apt_dir" && apt-get "${apt_opts[@]}" download -qq "busybox-static:$DEBIAN_ARCH" >&2) \
	|| die "download of busybox-static:$DEBIAN_ARCH failed"
deb="$(ls "$apt_dir"/busybox-static_*.deb)"
tmp="$(mktemp -d "$CACHE/extract.XXXXXX")"
dpkg-deb -x "$deb" "$tmp"
[ -x "$tmp/bin/busybox" ] || die "$(basename "$deb") has no /bin/busybox"
rm -rf "$dir"
mkdir -p "$dir/bin"
mv "$tmp/bin/busybox" "$dir/bin/busybox"
dpkg-deb -f "$deb" Version > "$dir/.debian-version"
rm -rf "$tmp" "$deb"
touch "$dir/.extracted"
log "busybox-static:$DEBIAN_ARCH $(cat "$dir/.debian-version") in $dir"
echo "$dir/bin/busybox"
