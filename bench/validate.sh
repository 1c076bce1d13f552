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
#   validate()  ms per talentd validate() in process, CPU and wall (best of RUNS,
#               file already in memory)
#   process     ms of a `talentd-validate FILE` process, CPU and wall (best of
#               RUNS): the figure comparable with the CLIs, which also start,
#               read and decode
#   reference   the same for the codec's own CLI full decode, and for
#               djpeg -scale 1/8 / dwebp -scale for JPEG / WebP
#   peak RSS    KiB (getrusage in talentd-validate; GNU time %M for the CLIs)
# Then the corpus bombs: verdict, time and peak RSS.  Then the decoder
# sandbox (tests/tools/talentd-sandbox-bench, SANDBOX_RUNS times, default
# 40): what decoding in a sandboxed child adds to one upload, wall (median
# and best) and CPU (the worker, the zygote and the decoder children), the
# same files plus a 145-byte PNG for the fixed cost; a bare fork + exit +
# wait of a small process calibrates the machine; the idle zygote's and
# armed decoder's memory.
set -euo pipefail

BUILD=${TALENTD_BUILD:-build}
CORPUS=${TALENTD_CORPUS:-../shared/corpus}
RUNS=${RUNS:-7}
OUT=${OUT:-$BUILD/bench/validate}
TV=$BUILD/tests/tools/talentd-validate
SB=$BUILD/tests/tools/talentd-sandbox-bench
SANDBOX_RUNS=${SANDBOX_RUNS:-40}
GEN=$BUILD/tests/tools/talentd-imggen

for t in cjpeg djpeg cwebp dwebp gif2webp gif2rgb pngfix; do
    command -v $t >/dev/null || { echo "bench/validate.sh: $t is missing (libjpeg-turbo-progs, webp, giflib-tools, libpng-tools)" >&2; exit 1; }
done
TIME=/usr/bin/time
[ -x $TIME ] || { echo "bench/validate.sh: GNU time (/usr/bin/time) is missing" >&2; exit 1; }
if [ ! -x "$TV" ] || [ ! -x "$GEN" ] || [ ! -x "$SB" ] || [ ! -x "$BUILD/talentd-decoder" ]; then
    make --no-print-directory "$TV" "$GEN" "$SB" "$BUILD/talentd-decoder" >/dev/null
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
[ -s $f/png_800x600_rgb.png ] || $GEN png 800 600 2 $f/png_800x600_rgb.png
[ -s $f/gif_400x300_20frames.gif ] || $GEN gif 400 300 20 3 $f/gif_400x300_20frames.gif
[ -s $f/webp_lossy_2000x1500_q80.webp ] || cwebp -quiet -q 80 $f/photo_2000x1500.ppm -o $f/webp_lossy_2000x1500_q80.webp
[ -s $f/webp_lossless_1000x750.webp ] || cwebp -quiet -lossless -m 1 -q 20 $f/photo_1000x750.ppm -o $f/webp_lossless_1000x750.webp
[ -s $f/webp_anim_400x300_20frames.webp ] ||
    gif2webp -quiet -lossy -q 70 $f/gif_400x300_20frames.gif -o $f/webp_anim_400x300_20frames.webp

# ---------------------------------------------------------------- helpers
# best of RUNS runs of a command: "CPU_MS WALL_MS" (CPU = user + system of the
# child, from getrusage(RUSAGE_CHILDREN); robust when the machine is shared)
best_ms() {
    python3 - "$RUNS" "$@" <<'PY'
import resource, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
best_cpu = best_wall = None
for _ in range(runs):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = time.perf_counter(); r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    best_wall = t1 - t0 if best_wall is None else min(best_wall, t1 - t0)
print("%.2f %.2f" % (best_cpu * 1e3, best_wall * 1e3))
PY
}
# peak RSS (KiB) of one run of a command
peak_kb() { $TIME -f %M "$@" 2>&1 >/dev/null | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

results=$OUT/results.md
{
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; $(date -u +%Y-%m-%d); RUNS=$RUNS"
echo
echo "Times are the best of RUNS runs, in ms; CPU = user + system."
echo
echo "| file | size | WxH, frames | validate() CPU (wall), in process | talentd-validate process CPU (wall) | peak RSS KiB | reference | reference CPU (wall) | ref RSS KiB | process CPU / ref CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$results"

row() {  # file, reference label, reference command...
    local file=$1 label=$2; shift 2
    local line us cpu rss dims frames size proc ref refkb
    line=$($TV --repeat "$RUNS" "$file" | head -1)
    us=$(sed -n 's/.* us=\([0-9]*\).*/\1/p' <<<"$line")
    cpu=$(sed -n 's/.* cpu_us=\([0-9]*\).*/\1/p' <<<"$line")
    rss=$(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line")
    dims=$(awk '{print $4}' <<<"$line")
    frames=$(sed -n 's/.* frames=\([0-9]*\).*/\1/p' <<<"$line")
    size=$(stat -c %s "$file")
    read -r pcpu pwall <<<"$(best_ms $TV "$file")"
    if [ $# -gt 0 ]; then
        read -r rcpu rwall <<<"$(best_ms "$@")"; refkb=$(peak_kb "$@")
        ref="$rcpu ($rwall)"
    else
        rcpu=0; ref="n/a"; refkb="n/a"
    fi
    printf '| %s | %s | %s, %s | %.2f (%.2f) | %s (%s) | %s | %s | %s | %s | %s |\n' "$(basename "$file")" "$size" \
        "$dims" "$frames" "$(awk -v c="$cpu" 'BEGIN{print c/1000}')" "$(awk -v c="$us" 'BEGIN{print c/1000}')" \
        "$pcpu" "$pwall" "$rss" "$label" "$ref" "$refkb" "$(ratio "$pcpu" "$rcpu")" >> "$results"
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

# Metadata stripping (image/strip) next to validation, in process, best of
# RUNS: the one-pass container rewrite against the full validation.  The
# photo copies carry what a phone writes (EXIF with GPS and a thumbnail, XMP,
# IPTC, a comment, an ICC profile), written by exiftool when it is installed.
if command -v exiftool >/dev/null; then
    for src in jpeg_2000x1500_q85.jpg jpeg_4000x3000_q90.jpg png_1200x900_rgb.png webp_lossy_2000x1500_q80.webp \
               gif_400x300_20frames.gif; do
        dst=$f/meta_$src
        [ -s "$dst" ] && continue
        cp -f $f/$src "$dst"
        [ -s $f/icc.icc ] || exiftool -b -ICC_Profile "$CORPUS/policy/monkey12.jpg" > $f/icc.icc
        djpeg -scale 1/8 $f/jpeg_2000x1500_q85.jpg | cjpeg -quality 75 > $f/thumb.jpg
        exiftool -q -q -overwrite_original -GPSLatitude=52.52 -GPSLatitudeRef=N -GPSLongitude=13.405 \
            -GPSLongitudeRef=E -SerialNumber=SERIAL-4711 -OwnerName="Jane Owner" -Make=PhoneCo -Model=Phone9 \
            -XMP-dc:Creator="Jane Owner" -IPTC:By-line="Jane Owner" -Comment=bench -Orientation#=6 \
            "-ThumbnailImage<=$f/thumb.jpg" "-ICC_Profile<=$f/icc.icc" "$dst" || true
    done
fi
{
echo
echo "Metadata stripping (strip_metadata), in process, best of RUNS: validate() and strip_metadata() CPU (wall) in ms:"
echo
echo "| file | size | validate() CPU (wall) | strip CPU (wall) | strip / validate CPU | removed |"
echo "|---|---|---|---|---|---|"
} >> "$results"
for file in $f/jpeg_2000x1500_q85.jpg $f/meta_jpeg_2000x1500_q85.jpg $f/jpeg_progressive_2000x1500_q85.jpg \
            $f/jpeg_4000x3000_q90.jpg $f/meta_jpeg_4000x3000_q90.jpg $f/png_1200x900_rgb.png $f/meta_png_1200x900_rgb.png \
            $f/gif_400x300_20frames.gif $f/meta_gif_400x300_20frames.gif $f/webp_lossy_2000x1500_q80.webp \
            $f/meta_webp_lossy_2000x1500_q80.webp $f/webp_anim_400x300_20frames.webp; do
    [ -s "$file" ] || continue
    out=$($TV --strip --repeat "$RUNS" "$file")
    v=$(head -1 <<<"$out"); st=$(sed -n 's/^  strip: //p' <<<"$out")
    vcpu=$(sed -n 's/.* cpu_us=\([0-9]*\).*/\1/p' <<<"$v"); vus=$(sed -n 's/.* us=\([0-9]*\).*/\1/p' <<<"$v")
    scpu=$(sed -n 's/.*cpu_us=\([0-9]*\).*/\1/p' <<<"$st"); sus=$(sed -n 's/^us=\([0-9]*\).*/\1/p' <<<"$st")
    removed=$(sed -n 's/.* removed=\(.*\) orientation=.*/\1/p' <<<"$st")
    printf '| %s | %s | %.2f (%.2f) | %.3f (%.3f) | %s %% | %s |\n' "$(basename "$file")" "$(stat -c %s "$file")" \
        "$(awk -v c="$vcpu" 'BEGIN{print c/1000}')" "$(awk -v c="$vus" 'BEGIN{print c/1000}')" \
        "$(awk -v c="$scpu" 'BEGIN{print c/1000}')" "$(awk -v c="$sus" 'BEGIN{print c/1000}')" \
        "$(awk -v a="$scpu" -v b="$vcpu" 'BEGIN{ if (b > 0) printf "%.1f", 100 * a / b; else print "-" }')" \
        "$removed" >> "$results"
done

{
echo
echo "Bombs (corpus invalid/bomb, default limits):"
echo
echo "| file | size | verdict | validate() µs CPU | peak RSS KiB |"
echo "|---|---|---|---|---|"
} >> "$results"
for b in "$CORPUS"/invalid/bomb/*; do
    out=$($TV --repeat "$RUNS" "$b" || true)
    line=$(head -1 <<<"$out")
    msg=$(sed -n 's/^  message: //p' <<<"$out")
    echo "| $(basename "$b") | $(stat -c %s "$b") | $msg | $(sed -n 's/.* cpu_us=\([0-9]*\).*/\1/p' <<<"$line") | $(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line") |" >> "$results"
done

# ---------------------------------------------------------------- the decoder sandbox
fork_cpu_us=$($SB --calibrate | sed -n 's/fork_exit_wait_cpu_us=//p')
{
echo
echo "Decoder sandbox (talentd-sandbox-bench, $SANDBOX_RUNS runs each, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "a bare fork + exit + wait of a small process (talentd-sandbox-bench --calibrate) costs $fork_cpu_us µs of CPU on this machine now."
echo
echo "| decoder_max_jobs | file | size | in process µs median/best | sandboxed µs median/best | added µs median/best | added CPU µs per upload |"
echo "|---|---|---|---|---|---|---|"
} >> "$results"
# 64: the default (a decoder reused while every picture was valid); 1: a
# fresh decoder process for every picture.
for max_jobs in 64 1; do
$SB --talentd "$BUILD/talentd-decoder" --repeat "$SANDBOX_RUNS" --max-jobs $max_jobs "$CORPUS/valid/png/basn2c08.png" \
    $f/jpeg_2000x1500_q85.jpg $f/jpeg_4000x3000_q90.jpg $f/png_800x600_rgb.png $f/png_1200x900_rgb.png \
    $f/webp_lossy_2000x1500_q80.webp $f/gif_400x300_20frames.gif \
    > "$OUT/sandbox-$max_jobs.txt"
while read -r path rest; do
    case $path in
    idle) ;;
    this) ;;
    *) printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$max_jobs" "$(basename "$path")" \
           "$(sed -n 's/.*size=\([0-9]*\).*/\1/p' <<<"$rest")" "$(sed -n 's/.*inproc_us=\([0-9/]*\).*/\1/p' <<<"$rest")" \
           "$(sed -n 's/.*sandbox_us=\([0-9/]*\).*/\1/p' <<<"$rest")" "$(sed -n 's/.*added_us=\([-0-9/]*\).*/\1/p' <<<"$rest")" \
           "$(sed -n 's/.*added_cpu_us=\([-0-9]*\).*/\1/p' <<<"$rest")" >> "$results" ;;
    esac
done < "$OUT/sandbox-$max_jobs.txt"
done
{
echo
echo "Idle memory of the sandbox (KiB, /proc/PID/smaps_rollup):"
echo
grep -E '^(idle|this)' "$OUT/sandbox-64.txt" | sed 's/^/    /'
} >> "$results"
# ---------------------------------------------------------------- cost (issue 10)
# The issue's costly files (talentd-imggen) and every corpus file, default
# limits: verdict, CPU and peak RSS of validate() (best of RUNS for CPU).
c=$OUT/cost
mkdir -p "$c"
[ -s $c/ztxt.png ] || $GEN png-text ztxt 250 16777216 $c/ztxt.png
[ -s $c/itxt.png ] || $GEN png-text itxt 256 16777216 $c/itxt.png
[ -s $c/iccp.png ] || $GEN png-iccp 16777216 $c/iccp.png
[ -s $c/apng16.png ] || $GEN apng 7071 7071 5 16 $c/apng16.png
[ -s $c/apng_7071_rgba8.png ] || $GEN apng 7071 7071 1 8 $c/apng_7071_rgba8.png
[ -s $c/gif5.gif ] || $GEN gif-solid 7071 7071 5 $c/gif5.gif
[ -s $c/gif500.gif ] || $GEN gif-solid 1000 500 500 $c/gif500.gif
[ -s $c/gif_7071.gif ] || $GEN gif-solid 7071 7071 1 $c/gif_7071.gif
[ -s $c/webp40k.webp ] || $GEN webp-groups 1024 1024 40000 $c/webp40k.webp
[ -s $c/webp40kp.webp ] || $GEN webp-groups-predictor 1024 1024 40000 $c/webp40kp.webp
{
echo
echo "Costly files (issue 10), default limits (decode_cpu_limit 0.5 s, max_decoded_bytes 200 MiB):"
echo
echo "| file | size | verdict | validate() CPU ms | peak RSS KiB | reason |"
echo "|---|---|---|---|---|---|"
} >> "$results"
for x in ztxt.png itxt.png iccp.png apng16.png apng_7071_rgba8.png gif5.gif gif500.gif gif_7071.gif webp40k.webp webp40kp.webp; do
    out=$($TV --repeat "$RUNS" "$c/$x" || true)
    line=$(head -1 <<<"$out")
    reason=$(sed -n 's/^  reason: //p' <<<"$out")
    verdict=$(awk '{print $2}' <<<"$line")
    echo "| $x | $(stat -c %s "$c/$x") | $verdict | $(awk -v c="$(sed -n 's/.* cpu_us=\([0-9]*\).*/\1/p' <<<"$line")" 'BEGIN{printf "%.1f", c/1000}') | $(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line") | ${reason:-} |" >> "$results"
done
# Every corpus file, one process each: the worst CPU and the worst peak RSS.
worst_cpu=0 worst_cpu_file="" worst_rss=0 worst_rss_file=""
while IFS= read -r -d '' file; do
    line=$($TV --repeat 3 "$file" 2>/dev/null | head -1 || true)
    cpu=$(sed -n 's/.* cpu_us=\([0-9]*\).*/\1/p' <<<"$line"); rss=$(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$cpu" ] || continue
    if [ "$cpu" -gt "$worst_cpu" ]; then worst_cpu=$cpu; worst_cpu_file=${file#$CORPUS/}; fi
    if [ "$rss" -gt "$worst_rss" ]; then worst_rss=$rss; worst_rss_file=${file#$CORPUS/}; fi
done < <(find "$CORPUS" -type f ! -name '*.tsv' ! -name '*.md' ! -name '*.sh' -print0)
{
echo
echo "Corpus, every file: worst validate() CPU $(awk -v c=$worst_cpu 'BEGIN{printf "%.1f", c/1000}') ms ($worst_cpu_file); worst peak RSS $worst_rss KiB ($worst_rss_file)."
} >> "$results"
cat "$results"
