#!/usr/bin/env bash
# Installs the Debian packages vgrt builds and tests against. Idempotent: when every package is
# already installed it only checks and returns (about a second). Used by the README, .ci/run and
# developers alike, so there is exactly one way to get a working machine.
set -euo pipefail
packages=(libopenblas-dev libzstd-dev libavcodec-dev libavformat-dev libswscale-dev libavutil-dev
          pkg-config ffmpeg)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
