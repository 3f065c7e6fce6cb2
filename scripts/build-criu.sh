#!/bin/bash
# build-criu.sh [DEST]: builds CRIU 4.2.1 from Debian's source tarball into
# DEST (default build/criu-4.2.1), for the C/R harness's interop modes:
# our dump restored by CRIU, CRIU's dump restored by us (test/run-cr.sh,
# CRIU=DEST/criu). Debian 12 ships CRIU 3.17, which stops at start-up on
# kernels with a [vvar_vclock] area; 4.2.1 is in Debian's pool as source.
#
# Needs: curl or python3, gcc, make, pkg-config, protobuf-compiler,
# protobuf-c-compiler, libprotobuf-c-dev, libprotobuf-dev, libnl-3-dev,
# libnet1-dev, libcap-dev, libbsd-dev, uuid-dev, libnftables-dev (so CRIU
# can restore a network namespace's nft ruleset), python3, xz-utils (.ci/run
# installs them). Extra make variables for CRIU's build can be given in
# CRIU_MAKEFLAGS.
#
# Prints the path of the binary on success. Exits non-zero, saying why,
# if the tarball cannot be had or does not match its checksum, or the
# build fails.

set -euo pipefail

version=4.2.1
tarball=criu_$version.orig.tar.xz
# From Debian's criu_4.2.1-1.dsc.
sha256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9
url=${CRIU_SOURCE_URL:-http://deb.debian.org/debian/pool/main/c/criu/$tarball}

dest=${1:-build/criu-$version}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

if [ -x "$dest/criu" ] && "$dest/criu" --version 2>/dev/null | grep -q "$version"; then
	echo "$dest/criu"
	exit 0
fi

if [ ! -f "$dest/$tarball" ]; then
	echo "build-criu: fetching $url" >&2
	if command -v curl >/dev/null; then
		curl -fsSL --retry 3 -o "$dest/$tarball.part" "$url"
	else
		python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$dest/$tarball.part"
	fi
	mv "$dest/$tarball.part" "$dest/$tarball"
fi
if ! echo "$sha256  $dest/$tarball" | sha256sum -c --quiet - >&2; then
	echo "build-criu: $dest/$tarball does not match its sha256 $sha256" >&2
	rm -f "$dest/$tarball"
	exit 1
fi

src=$dest/src
rm -rf "$src"
mkdir -p "$src"
tar -xJf "$dest/$tarball" -C "$src" --strip-components=1
echo "build-criu: building CRIU $version in $src" >&2
# shellcheck disable=SC2086
if ! make -C "$src" -j"$(nproc)" criu ${CRIU_MAKEFLAGS:-} >"$dest/build.log" 2>&1; then
	tail -n 20 "$dest/build.log" >&2
	echo "build-criu: the build failed; the whole log is $dest/build.log" >&2
	exit 1
fi
cp "$src/criu/criu" "$dest/criu"
echo "$dest/criu"
