#!/usr/bin/env bash
# Make the pinned helm binary available to the chart tests on a fresh machine.
#
# Called by the README's test command before pytest. helm is built from its Go
# module (the Go module proxy is reachable where release tarballs are not) and
# installed as ${MRTFEED_CACHE:-$HOME/.cache/mrtfeed}/helm-<version>/helm; a
# later run finds it there and returns at once. The version is the one in
# VERSION beside this script; tests/helm/conftest.py reads the same file and
# path and fails when the binary is missing. Prints nothing on success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(tr -d '[:space:]' <"$here/VERSION")"
cache="${MRTFEED_CACHE:-$HOME/.cache/mrtfeed}"
dest="$cache/helm-$version"

if [[ -x "$dest/helm" ]]; then
    exit 0
fi

# The Go toolchain's default place, for a shell whose PATH lacks it.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "ci.sh: building helm $version needs the Go toolchain (go) on PATH" >&2
    exit 1
fi

mkdir -p "$dest"
# Build into a temporary GOBIN and move the result into place, so an
# interrupted build never leaves a half-written binary that the check above
# would accept.
tmp="$(mktemp -d "$cache/helm-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# go prints a line per module it downloads; keep them for a failure only.
if ! GOBIN="$tmp" GOFLAGS=-mod=mod CGO_ENABLED=0 \
    go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
    "helm.sh/helm/v3/cmd/helm@$version" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    echo "ci.sh: building helm $version failed" >&2
    exit 1
fi
mv "$tmp/helm" "$dest/helm"
