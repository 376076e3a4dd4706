#!/usr/bin/env bash
# Make the real Kafka broker available to the test suite on a fresh machine.
#
# Called by .ci/run before pytest. Needs Java 17+ and Maven (both on the CI
# image; installed from Debian here if a machine lacks them). Downloads the
# broker's jars from Maven Central into ${MRTFEED_CACHE:-$HOME/.cache/mrtfeed}
# once; later runs find them and return at once. Prints nothing on success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "ci.sh: the Kafka test broker needs: ${missing[*]}" >&2
        exit 1
    fi
fi

python="${PYTHON:-$(command -v python3 || command -v python)}"
"$python" "$here/broker.py" fetch >/dev/null
