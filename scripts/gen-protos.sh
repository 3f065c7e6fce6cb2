#!/usr/bin/env bash
# Regenerate the Go code of package images from images/*.proto.
#
# Deterministic: the generator is protoc-gen-go at the version pinned in
# go.mod's tool block, the compiler is the system protoc, and the files are
# passed in sorted order, so running this twice leaves no diff. The version
# header protoc-gen-go writes names the protoc version; CI installs the same
# Debian package (protobuf-compiler) as development machines.
#
# Usage (from anywhere): bash scripts/gen-protos.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

command -v protoc >/dev/null || { echo "gen-protos: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

# descriptor.proto (imported by opts.proto) ships with protoc's include dir.
inc=""
for d in /usr/include /usr/local/include; do
	if [ -f "$d/google/protobuf/descriptor.proto" ]; then
		inc="$d"
		break
	fi
done
[ -n "$inc" ] || { echo "gen-protos: google/protobuf/descriptor.proto not found" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Build the pinned generator from go.mod's tool block.
go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go

# Remove stale output first so a deleted .proto leaves no orphan .pb.go.
rm -f images/*.pb.go

mapfile -t protos < <(cd images && LC_ALL=C ls -1 -- *.proto)
protoc \
	--plugin=protoc-gen-go="$tmp/protoc-gen-go" \
	-I images -I "$inc" \
	--go_out=paths=source_relative:images \
	"${protos[@]}"
