#!/usr/bin/env bash
# Installs the Debian packages that provide missing commands or files (apt-get update
# first). Usage: scripts/ensure-apt.sh COMMAND-OR-ABSOLUTE-PATH=PACKAGE...
set -euo pipefail
missing=()
for pair in "$@"; do
    need=${pair%%=*}
    [ -e "$need" ] || command -v "$need" >/dev/null || missing+=("${pair#*=}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
