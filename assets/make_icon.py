#!/usr/bin/env python3
"""Draws assets/icon.png (256 x 256 RGBA): three clusters of points, one colour each, on a dark
rounded square inside a dashed ring -- views fused into clusters. Needs only numpy; 4x4 supersampled.
Run from the repository root: python3 assets/make_icon.py"""
import struct
import zlib

import numpy as np

S, SS = 256, 4
N = S * SS
y, x = np.mgrid[0:N, 0:N] / SS + 0.5 / SS
img = np.zeros((N, N, 4))


def paint(mask, rgb):
    img[mask, :3] = np.array(rgb) / 255.0
    img[mask, 3] = 1.0


def rounded(x0, y0, x1, y1, r):
    cx, cy = np.clip(x, x0 + r, x1 - r), np.clip(y, y0 + r, y1 - r)
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & ((x - cx) ** 2 + (y - cy) ** 2 <= r * r)


paint(rounded(8, 8, 248, 248, 44), (31, 41, 55))
d = np.hypot(x - 128, y - 128)
ang = (np.degrees(np.arctan2(y - 128, x - 128)) + 360) % 24
paint((np.abs(d - 92) <= 3) & (ang < 14), (229, 231, 235))
clusters = [
    ((78, 84), (78, 121, 167)),
    ((176, 92), (242, 142, 43)),
    ((128, 178), (89, 161, 79)),
]
offsets = [(0, 0, 13), (24, -14, 10), (-16, 26, 9), (18, 16, 8), (6, -24, 7)]
for (cx, cy), rgb in clusters:
    for dx, dy, r in offsets:
        paint((x - cx - dx) ** 2 + (y - cy - dy) ** 2 <= r * r, rgb)

small = img.reshape(S, SS, S, SS, 4).mean(axis=(1, 3))
alpha = small[..., 3:4]
rgb = np.where(alpha > 0, small[..., :3] / np.maximum(alpha, 1e-9), 0)
out = (np.concatenate([rgb, alpha], axis=2) * 255).round().astype(np.uint8)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


raw = b"".join(b"\x00" + row.tobytes() for row in out)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", S, S, 8, 6, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
with open("assets/icon.png", "wb") as f:
    f.write(png)
