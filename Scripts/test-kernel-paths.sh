#!/usr/bin/env bash
# Cross-checks the SIMD kernel paths against the portable one with Tests/KernelCrossCheck/crosscheck.c:
#   natively (the AVX2 path on x86-64), and
#   for arm64 (the NEON path), cross-compiled with aarch64-linux-gnu-gcc and run under qemu-aarch64.
# The arm64 run needs `gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user`; with --install this
# script installs them (Debian), otherwise it says the NEON check was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
src=(Sources/CVGKernels/*.c Tests/KernelCrossCheck/crosscheck.c)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== native ($(uname -m))"
cc -std=c11 -O2 -ffp-contract=off -Wall -Wextra -Werror -Wno-unknown-pragmas -ISources/CVGKernels/include "${src[@]}" -lm -o "$out/native"
"$out/native"

if [ "${1:-}" = "--install" ] && ! { command -v qemu-aarch64 && command -v aarch64-linux-gnu-gcc; } >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null; } || echo "could not install the arm64 tools"
fi
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    echo "== arm64 under qemu-aarch64"
    aarch64-linux-gnu-gcc -std=c11 -O2 -ffp-contract=off -Wall -Wextra -Werror -Wno-unknown-pragmas \
        -ISources/CVGKernels/include "${src[@]}" -lm -static -o "$out/arm64"
    qemu-aarch64 "$out/arm64"
else
    echo "== arm64: SKIPPED (no aarch64-linux-gnu-gcc / qemu-aarch64; run with --install)"
fi
