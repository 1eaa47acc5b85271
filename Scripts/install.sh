#!/usr/bin/env bash
# Installs libvgrt and the tools under a prefix:
#   PREFIX/include/vgrt.h, PREFIX/lib/libvgrt.so, PREFIX/lib/libvgrt-static.a,
#   PREFIX/lib/pkgconfig/vgrt.pc, PREFIX/bin/vgrt, PREFIX/bin/vgpack,
#   PREFIX/share/vgrt/default.vgpk (when Models/default.vgpk exists).
# Usage: Scripts/install.sh [PREFIX]   (default /usr/local; also PREFIX=... in the environment)
# libvgrt.so links the Swift runtime of the toolchain that built it (its path is in the library's rpath).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-${PREFIX:-/usr/local}}"
build=(-c release ${SWIFT_BUILD_FLAGS:-})
for p in vgrt vgrt-static vgrt-cli vgpack; do swift build "${build[@]}" --product "$p" >/dev/null; done
bin=$(swift build "${build[@]}" --show-bin-path)
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/bin" "$prefix/share/vgrt"
install -m 644 Include/vgrt.h "$prefix/include/vgrt.h"
install -m 755 "$bin/libvgrt.so" "$prefix/lib/libvgrt.so"
install -m 644 "$bin/libvgrt-static.a" "$prefix/lib/libvgrt-static.a"
install -m 755 "$bin/vgrt-cli" "$prefix/bin/vgrt"
install -m 755 "$bin/vgpack" "$prefix/bin/vgpack"
[ -f Models/default.vgpk ] && install -m 644 Models/default.vgpk "$prefix/share/vgrt/default.vgpk"
version=$(sed -n 's/#define VG_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' Include/vgrt.h | paste -sd.)
cat > "$prefix/lib/pkgconfig/vgrt.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: vgrt
Description: Text-to-video generation on the CPU (libvgrt)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lvgrt -Wl,-rpath,\${libdir}
PC
echo "installed vgrt $version under $prefix"
