#!/usr/bin/env python3
"""What a screenshot shows, without PIL: reads a PNG (8-bit RGB or RGBA,
not interlaced, as Chromium writes them) with zlib, undoes the scanline
filters, and prints one JSON object: width, height, how many distinct
colours, and how many pixels are near each colour given as #rrggbb
arguments (within 24 per channel: anti-aliased edges aside, a filled
shape is drawn in its exact colour).

usage: png_check.py FILE.png [#rrggbb ...]
"""
import collections
import json
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as fp:
        data = fp.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d, colour type %d, "
                         "interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev, i = [], bytes(stride), 0
    for _ in range(h):
        f = raw[i]
        line = raw[i + 1:i + 1 + stride]
        i += 1 + stride
        if f == 2 and not any(line):
            line = prev                 # Up, nothing changed: most rows
        elif f == 2:
            line = bytes((x + y) & 0xFF for x, y in zip(line, prev))
        elif f != 0:
            line = unfilter(f, bytearray(line), prev, bpp)
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def unfilter(f, line, prev, bpp):
    """Undoes filter Sub (1), Average (3) or Paeth (4) on one scanline."""
    for x in range(len(line)):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1:
            line[x] = (line[x] + a) & 0xFF
        elif f == 3:
            line[x] = (line[x] + (a + b) // 2) & 0xFF
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[x] = (line[x] + pr) & 0xFF
    return bytes(line)


def main():
    w, h, bpp, rows = read_png(sys.argv[1])
    # Pixels counted by colour (Counter and zip do the work in C).
    pixels = collections.Counter()
    for row in rows:
        pixels.update(zip(row[0::bpp], row[1::bpp], row[2::bpp]))
    near = {}
    for c in sys.argv[2:]:
        want = tuple(int(c[k:k + 2], 16) for k in (1, 3, 5))
        near[c] = sum(n for px, n in pixels.items()
                      if all(abs(px[j] - want[j]) <= 24 for j in range(3)))
    json.dump({"width": w, "height": h, "colours": len(pixels),
               "near": near}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
