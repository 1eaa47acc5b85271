#!/usr/bin/env bash
# Builds and runs Examples/: installs libvgrt into a temporary prefix, builds c-generate with
# pkg-config against it, runs both examples on a tiny model, checks their videos with ffprobe.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Quiet builds that still show the compiler's output when they fail.
quiet() { "$@" > "$out/build.log" 2>&1 || { cat "$out/build.log"; return 1; }; }
build=(-c release -Xswiftc -enable-testing)
SWIFT_BUILD_FLAGS="-Xswiftc -enable-testing" quiet ./Scripts/install.sh "$out/prefix"
export PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig"
cc -std=c99 -Wall -Wextra -Werror Examples/c-generate/main.c $(pkg-config --cflags --libs vgrt) -o "$out/c-generate"
quiet swift build "${build[@]}" --product vgtrain
quiet swift build "${build[@]}" --product swift-generate
bin=$(swift build "${build[@]}" --show-bin-path)
"$bin/vgtrain" tiny-model -o "$out/tiny.vgpk" >/dev/null
"$bin/vgtrain" tiny-model --latent -o "$out/tiny-latent.vgpk" >/dev/null
"$out/c-generate" "$out/tiny.vgpk" "a red ball moving right" "$out/c.mp4" 2>/dev/null
"$bin/swift-generate" "$out/tiny.vgpk" "a blue square moving left" "$out/swift.mp4"
"$out/prefix/bin/vgrt" generate "a green star" -o "$out/cli.mp4" --model "$out/tiny.vgpk" 2>/dev/null
# A latent model through the C ABI and the CLI: the packed autoencoder decodes 8x8x4 latents to 32x32 frames.
"$out/c-generate" "$out/tiny-latent.vgpk" "a red ball moving right" "$out/c-latent.mp4" 2>/dev/null
"$out/prefix/bin/vgrt" generate "a green star" -o "$out/cli-latent.mp4" --model "$out/tiny-latent.vgpk" 2>/dev/null
for f in c swift cli c-latent cli-latent; do
    got=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 "$out/$f.mp4")
    [ "$got" = "32,32,8" ] || { echo "FAIL: $f.mp4 is $got, expected 32x32 with 8 frames"; exit 1; }
done
echo "examples: c-generate (pkg-config, C99), swift-generate and the installed vgrt CLI wrote mp4s (c-generate and the CLI also from a latent model) that ffprobe reads as 8 frames of 32x32"
