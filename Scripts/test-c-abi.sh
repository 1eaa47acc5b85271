#!/usr/bin/env bash
# The C ABI from plain C: the header alone as strict C99, then Tests/CABI/abi_test.c linked against
# libvgrt.so and run on a tiny random model; the videos it writes are checked with ffprobe.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Quiet builds that still show the compiler's output when they fail.
quiet() { "$@" > "$out/build.log" 2>&1 || { cat "$out/build.log"; return 1; }; }
# The same build flags as Scripts/test.sh, so the products come from the build it already made.
build=(-c release -Xswiftc -enable-testing)
quiet swift build "${build[@]}" --product vgrt
quiet swift build "${build[@]}" --product vgtrain
flags=(-std=c99 -Wall -Wextra -Werror -pedantic -IInclude)
cc "${flags[@]}" -c Tests/CABI/header_only.c -o "$out/header_only.o"
echo "header: Include/vgrt.h compiles alone as C99 with -Wall -Wextra -Werror -pedantic"
cc "${flags[@]}" -D_POSIX_C_SOURCE=200809L Tests/CABI/abi_test.c -L.build/release -lvgrt -Wl,-rpath,"$PWD/.build/release" -lpthread -o "$out/abi_test"
.build/release/vgtrain tiny-model -o "$out/tiny.vgpk" >/dev/null
"$out/abi_test" "$out/tiny.vgpk" "$out"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height,r_frame_rate -of csv=p=0 "$out/out.mp4")
echo "ffprobe out.mp4: $frames"
[ "$frames" = "32,32,12/1,7" ] || { echo "FAIL: mp4 should be 32x32 at 12 fps with 7 frames"; exit 1; }
y4m=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$out/out.y4m")
[ "$y4m" = "7" ] || { echo "FAIL: y4m has $y4m frames"; exit 1; }
png=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$out/frame-0006.png")
[ "$png" = "64,64" ] || { echo "FAIL: png frame 6 is $png"; exit 1; }
gif=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 "$out/out.gif")
[ "$gif" = "32,32,7" ] || { echo "FAIL: gif is $gif"; exit 1; }
echo "ffprobe: mp4 (7 frames, 32x32, 12 fps), gif and y4m (7 frames) and png frames (64x64, scale 2) decode"
