#!/usr/bin/env python3
"""gen-photo.py — a deterministic, photo-like JPEG of a given size, for the load benchmark.

    bench/gen-photo.py --width W --height H --target-bytes N --out FILE.jpg [--seed S]

The picture is drawn in pure Python (no PIL, no numpy) as a binary PPM, then
encoded with cjpeg (libjpeg-turbo, baseline, 4:2:0 as a camera does), trying
qualities until the file is as close as it gets to --target-bytes.  What makes
it compress like a photo rather than like a test card:

  * smooth low-frequency colour fields (sky, walls, skin: most of a photo),
  * mid-frequency texture (foliage, fabric) that varies over the frame,
  * hard-edged shaded objects (edges are what the DCT pays for),
  * sensor noise, mostly luma, a little chroma — the part that sets the size
    at high quality.

Everything comes from one seeded Mersenne Twister and integer arithmetic, so
the same seed, size and libjpeg-turbo version give the same bytes.  The
arithmetic is done a row at a time with bytes.translate (scaling) and
big-integer addition (adding byte rows whose sums never carry), which keeps a
12-megapixel frame to a few seconds of CPython.

Prints one line: FILE WxH quality=Q noise=A bytes=N (target T, +-P%) sha256=...
"""
import argparse
import hashlib
import math
import os
import random
import subprocess
import sys
import tempfile


def scaled_table(cache, s):
    """A translate table mapping v -> v*s/256 (s in 0..256)."""
    t = cache.get(s)
    if t is None:
        t = bytes((v * s) >> 8 for v in range(256))
        cache[s] = t
    return t


def add_rows(a, b):
    """Byte-wise a+b, when no byte sum exceeds 255 (no carries between bytes)."""
    n = len(a)
    return (int.from_bytes(a, "big") + int.from_bytes(b, "big")).to_bytes(n, "big")


def draw(width, height, seed, noise_amp):
    rng = random.Random(seed)
    w3 = width * 3

    # Separable colour fields: each term is a per-column RGB profile (bytes,
    # values <= cap) times a per-row weight (0..256).  Sum of caps <= 200.
    def column_profile(cap, freq, phases):
        out = bytearray(w3)
        for x in range(width):
            u = x / width
            for c in range(3):
                v = 0.5 + 0.5 * math.sin(2 * math.pi * (freq[c] * u) + phases[c])
                out[3 * x + c] = int(cap * v)
        return bytes(out)

    terms = []
    # Large soft fields (two of them, different colours and directions).
    for cap, fx, fy in ((95, 0.6, 0.5), (45, 1.3, 1.1)):
        freq = [fx * (0.8 + 0.4 * rng.random()) for _ in range(3)]
        phases = [2 * math.pi * rng.random() for _ in range(3)]
        prof = column_profile(cap, freq, phases)
        ph = 2 * math.pi * rng.random()
        weights = [int(256 * (0.5 + 0.5 * math.sin(2 * math.pi * fy * y / height + ph))) for y in range(height)]
        terms.append((prof, weights))

    # Mid-frequency texture: a few hundred cycles across the frame, whose
    # strength drifts slowly down the picture (textured and flat regions).
    tex_cap = 40
    tex = bytearray(w3)
    f1 = width / (7.0 + 3 * rng.random())
    f2 = width / (23.0 + 5 * rng.random())
    for x in range(width):
        v = 0.5 + 0.25 * math.sin(2 * math.pi * x / f1) + 0.25 * math.sin(2 * math.pi * x / f2 + 1.0)
        g = int(tex_cap * v)
        tex[3 * x] = g
        tex[3 * x + 1] = min(tex_cap, g + 3)
        tex[3 * x + 2] = max(0, g - 3)
    tex = bytes(tex)
    # Shifting the texture row by row (a slanted weave) makes it 2-D.
    tex2 = tex + tex
    tex_ph = 2 * math.pi * rng.random()
    tex_weights = [int(256 * (0.5 + 0.5 * math.sin(2 * math.pi * 2.3 * y / height + tex_ph))) for y in range(height)]

    # Hard-edged objects: discs and boxes with a flat colour and a vertical shade.
    objects = []
    for _ in range(24):
        kind = rng.choice(("disc", "box"))
        cx, cy = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(8, width // 40), max(16, width // 7))
        colour = [rng.randrange(20, 200) for _ in range(3)]
        objects.append((kind, cx, cy, r, colour))

    # Noise tables: a luma part shared by the three channels and a small chroma part.
    luma_amp = noise_amp
    chroma_amp = max(1, noise_amp // 4)
    luma_table = bytes((v * (luma_amp + 1)) >> 8 for v in range(256))
    chroma_table = bytes((v * (chroma_amp + 1)) >> 8 for v in range(256))

    cache = {}
    header = b"P6\n%d %d\n255\n" % (width, height)
    rows = [header]
    for y in range(height):
        row = b"\0" * w3
        for prof, weights in terms:
            row = add_rows(row, prof.translate(scaled_table(cache, weights[y])))
        shift = (y * 3) % w3 // 3 * 3
        t = tex2[shift:shift + w3].translate(scaled_table(cache, tex_weights[y]))
        row = add_rows(row, t)  # <= 95+45+40 = 180
        # Objects replace the background where they cover the row.
        for kind, cx, cy, r, colour in objects:
            dy = y - cy
            if dy < -r or dy > r:
                continue
            if kind == "disc":
                half = int(math.sqrt(r * r - dy * dy))
            else:
                half = r
            x0, x1 = max(0, cx - half), min(width, cx + half)
            if x1 <= x0:
                continue
            shade = 0.65 + 0.35 * (dy + r) / (2 * r)
            px = bytes(min(200, int(c * shade)) for c in colour)
            row = row[:3 * x0] + px * (x1 - x0) + row[3 * x1:]
        # Sensor noise: luma (same for R, G and B) plus a little chroma.
        lum = rng.randbytes(width).translate(luma_table)
        row = add_rows(row, _triple(lum))
        row = add_rows(row, rng.randbytes(w3).translate(chroma_table))
        rows.append(row)
    return b"".join(rows)


def _triple(b):
    """Each byte three times: b'ab' -> b'aaabbb' (fast, via slicing assignments)."""
    n = len(b)
    out = bytearray(3 * n)
    out[0::3] = b
    out[1::3] = b
    out[2::3] = b
    return bytes(out)


def encode(ppm_path, quality, out_path):
    subprocess.run(["cjpeg", "-quality", str(quality), "-outfile", out_path, ppm_path], check=True)
    return os.path.getsize(out_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--target-bytes", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--noise", type=int, default=28, help="luma noise amplitude, 0..55 (default 28)")
    args = ap.parse_args()
    if not 0 <= args.noise <= 55:
        sys.exit("gen-photo: --noise must be within 0..55 (the sums must stay below 256)")

    outdir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outdir) as tmp:
        def attempt(noise):
            """Draw with this noise, bisect the quality; (error, quality, path)."""
            ppm_path = os.path.join(tmp, "photo.ppm")
            with open(ppm_path, "wb") as f:
                f.write(draw(args.width, args.height, args.seed, noise))
            sizes = {}
            lo, hi = 30, 98  # JPEG size grows with quality
            while lo <= hi:
                q = (lo + hi) // 2
                sizes[q] = encode(ppm_path, q, os.path.join(tmp, "n%d-q%d.jpg" % (noise, q)))
                if sizes[q] < args.target_bytes:
                    lo = q + 1
                else:
                    hi = q - 1
            q = min(sizes, key=lambda k: abs(sizes[k] - args.target_bytes))
            return (sizes[q] - args.target_bytes) / args.target_bytes, q, os.path.join(tmp, "n%d-q%d.jpg" % (noise, q))

        # Quality steps are a few per cent apart; the noise level fills in
        # between them until the size is within 1 % (or 8 tries).
        noise = args.noise
        best = attempt(noise) + (noise,)
        for _ in range(8):
            if abs(best[0]) <= 0.01:
                break
            noise += -1 if best[0] > 0 else 1
            if not 0 <= noise <= 55:
                break
            trial = attempt(noise) + (noise,)
            if abs(trial[0]) < abs(best[0]):
                best = trial
        _, quality, path, noise = best
        os.replace(path, args.out)
    data = open(args.out, "rb").read()
    err = 100.0 * (len(data) - args.target_bytes) / args.target_bytes
    print("%s %dx%d quality=%d noise=%d bytes=%d (target %d, %+.1f%%) sha256=%s" % (
        args.out, args.width, args.height, quality, noise, len(data), args.target_bytes, err,
        hashlib.sha256(data).hexdigest()))


if __name__ == "__main__":
    main()
