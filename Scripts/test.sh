#!/usr/bin/env bash
# The test suite, as the README and CI run it:
#   1. installs the Debian packages (quick when present),
#   2. builds and runs every Swift test in release mode (numeric loops are far too slow in debug;
#      -enable-testing keeps @testable imports working),
#   3. compiles Include/vgrt.h alone as strict C99 and runs the C ABI test against libvgrt.so
#      (videos checked with ffprobe),
#   4. runs the training diagnostics' command lines on tiny models, good and bad options,
#   5. cross-checks the SIMD kernel paths against the portable path: AVX2 natively, NEON for arm64
#      under qemu-aarch64 (installed on demand on Debian; reported as skipped where it cannot be).
set -euo pipefail
cd "$(dirname "$0")/.."
./Scripts/install-deps.sh
swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build
./Scripts/test-c-abi.sh
./Scripts/test-examples.sh
./Scripts/test-diagnostics-cli.sh
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
    ./Scripts/test-kernel-paths.sh --install
else
    ./Scripts/test-kernel-paths.sh
fi
