#!/usr/bin/env bash
# Run every fuzz target of the repository for a while each.
#
#   scripts/fuzz.sh [DURATION]      DURATION as go test -fuzztime takes it (default 10s)
#
# Environment: GO (default go); FUZZMINIMIZETIME (default 5s) bounds how
# long a new interesting input is minimized, which otherwise can eat a short
# run. A failing input is written under the package's testdata/fuzz/ and the
# script stops with go test's status.
set -euo pipefail

duration=${1:-10s}
go=${GO:-go}
minimize=${FUZZMINIMIZETIME:-5s}
cd "$(dirname "$0")/.."

# Only packages whose tests declare a fuzz target need a test binary built.
mapfile -t dirs < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | xargs -r -n1 dirname | sort -u)
if [ ${#dirs[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

count=0
for dir in "${dirs[@]}"; do
	pkg=./${dir#./}
	mapfile -t targets < <("$go" test -list '^Fuzz' "$pkg" | grep -E '^Fuzz' || true)
	for target in "${targets[@]}"; do
		echo "== $pkg $target ($duration)"
		"$go" test -run='^$' -fuzz="^${target}\$" -fuzztime="$duration" -fuzzminimizetime="$minimize" "$pkg"
		count=$((count + 1))
	done
done
echo "fuzz.sh: $count targets fuzzed for $duration each"
