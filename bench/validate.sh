#!/bin/bash
# bench/validate.sh — image validation time and peak memory against the
# codecs' own command-line decoders, on a deterministic set of files.
#
#   bench/validate.sh            (from the project root; `make bench` runs it too)
#
# Environment: TALENTD_BUILD (default build), TALENTD_CORPUS (default
# ../shared/corpus), RUNS (default 7: every time is the best of RUNS runs),
# OUT (default $TALENTD_BUILD/bench/validate: generated files and results.md).
#
# Inputs are generated with tests/tools/talentd-imggen (seeded, photo-like
# noise + gradients), cjpeg, cwebp and gif2webp, plus the corpus' 4.9 MiB JPEG.
# For each file:
#   validate    µs per talentd validate() in process (best of RUNS, file in memory)
#   process     ms of a `talentd-validate FILE` process (best of RUNS): the figure
#               comparable with the CLIs, which also start, read and decode
#   reference   ms of the codec's own CLI full decode (best of RUNS), and of
#               djpeg -scale 1/8 / dwebp -scale for JPEG / WebP
#   peak RSS    KiB (getrusage in talentd-validate; GNU time %M for the CLIs)
# Then the corpus bombs: verdict, time and peak RSS.
set -euo pipefail

BUILD=${TALENTD_BUILD:-build}
CORPUS=${TALENTD_CORPUS:-../shared/corpus}
RUNS=${RUNS:-7}
OUT=${OUT:-$BUILD/bench/validate}
TV=$BUILD/tests/tools/talentd-validate
GEN=$BUILD/tests/tools/talentd-imggen

for t in cjpeg djpeg cwebp dwebp gif2webp gif2rgb pngfix; do
    command -v $t >/dev/null || { echo "bench/validate.sh: $t is missing (libjpeg-turbo-progs, webp, giflib-tools, libpng-tools)" >&2; exit 1; }
done
TIME=/usr/bin/time
[ -x $TIME ] || { echo "bench/validate.sh: GNU time (/usr/bin/time) is missing" >&2; exit 1; }
if [ ! -x "$TV" ] || [ ! -x "$GEN" ]; then
    make --no-print-directory "$TV" "$GEN" >/dev/null
fi
mkdir -p "$OUT"

# ---------------------------------------------------------------- inputs
f=$OUT
[ -s $f/photo_2000x1500.ppm ] || $GEN ppm 2000 1500 1 $f/photo_2000x1500.ppm
[ -s $f/photo_1000x750.ppm ] || $GEN ppm 1000 750 4 $f/photo_1000x750.ppm
[ -s $f/jpeg_2000x1500_q85.jpg ] || cjpeg -quality 85 -outfile $f/jpeg_2000x1500_q85.jpg $f/photo_2000x1500.ppm
[ -s $f/jpeg_progressive_2000x1500_q85.jpg ] ||
    cjpeg -quality 85 -progressive -outfile $f/jpeg_progressive_2000x1500_q85.jpg $f/photo_2000x1500.ppm
cp -f "$CORPUS/valid/jpeg/large_4000x3000_4.9MiB.jpg" $f/jpeg_4000x3000_q90.jpg
[ -s $f/png_1200x900_rgb.png ] || $GEN png 1200 900 2 $f/png_1200x900_rgb.png
[ -s $f/gif_400x300_20frames.gif ] || $GEN gif 400 300 20 3 $f/gif_400x300_20frames.gif
[ -s $f/webp_lossy_2000x1500_q80.webp ] || cwebp -quiet -q 80 $f/photo_2000x1500.ppm -o $f/webp_lossy_2000x1500_q80.webp
[ -s $f/webp_lossless_1000x750.webp ] || cwebp -quiet -lossless -m 1 -q 20 $f/photo_1000x750.ppm -o $f/webp_lossless_1000x750.webp
[ -s $f/webp_anim_400x300_20frames.webp ] ||
    gif2webp -quiet -lossy -q 70 $f/gif_400x300_20frames.gif -o $f/webp_anim_400x300_20frames.webp

# ---------------------------------------------------------------- helpers
# best wall-clock ms of RUNS runs of a command (output discarded)
best_ms() {
    local best="" t0 t1 ms
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
        ms=$(( (t1 - t0) / 1000 ))
        if [ -z "$best" ] || [ $ms -lt $best ]; then best=$ms; fi
    done
    printf '%d.%02d' $((best / 1000)) $(((best % 1000) / 10))
}
# peak RSS (KiB) of one run of a command
peak_kb() { $TIME -f %M "$@" 2>&1 >/dev/null | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

results=$OUT/results.md
{
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $(date -u +%Y-%m-%d); RUNS=$RUNS"
echo
echo "| file | size | WxH, frames | validate µs (in process) | validate ms (process) | peak RSS KiB | reference | ref ms | ref RSS KiB | process / ref |"
echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$results"

row() {  # file, reference label, reference command...
    local file=$1 label=$2; shift 2
    local line us rss dims frames size proc ref refkb
    line=$($TV --repeat "$RUNS" "$file" | head -1)
    us=$(sed -n 's/.* us=\([0-9]*\).*/\1/p' <<<"$line")
    rss=$(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line")
    dims=$(awk '{print $4}' <<<"$line")
    frames=$(sed -n 's/.* frames=\([0-9]*\).*/\1/p' <<<"$line")
    size=$(stat -c %s "$file")
    proc=$(best_ms $TV "$file")
    if [ $# -gt 0 ]; then
        ref=$(best_ms "$@"); refkb=$(peak_kb "$@")
    else
        ref="n/a"; refkb="n/a"
    fi
    echo "| $(basename "$file") | $size | $dims, $frames | $us | $proc | $rss | $label | $ref | $refkb | $(ratio "$proc" "$ref") |" >> "$results"
}

for j in jpeg_2000x1500_q85.jpg jpeg_progressive_2000x1500_q85.jpg jpeg_4000x3000_q90.jpg; do
    row $f/$j "djpeg (full)" djpeg -outfile /dev/null $f/$j
    row $f/$j "djpeg -scale 1/8" djpeg -scale 1/8 -outfile /dev/null $f/$j
done
row $f/png_1200x900_rgb.png "pngfix (inflate + CRC, no unfiltering)" pngfix --quiet $f/png_1200x900_rgb.png
row $f/gif_400x300_20frames.gif "gif2rgb -1 (DGifSlurp, all frames)" gif2rgb -1 -o /dev/null $f/gif_400x300_20frames.gif
row $f/webp_lossy_2000x1500_q80.webp "dwebp -ppm (full)" dwebp -ppm -o /dev/null $f/webp_lossy_2000x1500_q80.webp
row $f/webp_lossy_2000x1500_q80.webp "dwebp -ppm -scale 250 187" dwebp -ppm -scale 250 187 -o /dev/null $f/webp_lossy_2000x1500_q80.webp
row $f/webp_lossless_1000x750.webp "dwebp -ppm (full)" dwebp -ppm -o /dev/null $f/webp_lossless_1000x750.webp
row $f/webp_anim_400x300_20frames.webp "none (dwebp refuses animation)"

{
echo
echo "Bombs (corpus invalid/bomb, default limits):"
echo
echo "| file | size | verdict | validate µs | peak RSS KiB |"
echo "|---|---|---|---|---|"
} >> "$results"
for b in "$CORPUS"/invalid/bomb/*; do
    out=$($TV --repeat "$RUNS" "$b" || true)
    line=$(head -1 <<<"$out")
    msg=$(sed -n 's/^  message: //p' <<<"$out")
    echo "| $(basename "$b") | $(stat -c %s "$b") | $msg | $(sed -n 's/.* us=\([0-9]*\).*/\1/p' <<<"$line") | $(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line") |" >> "$results"
done
cat "$results"
