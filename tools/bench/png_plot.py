"""A line plot written as PNG with the standard library only (zlib + struct), for machines without matplotlib.

x is drawn on a log scale, y in percent from 0 to 100 with grid lines every 20%; text uses a 3x5 pixel font.
"""

from __future__ import annotations

import math
import struct
import zlib

_FONT = dict(g.split(":") for g in (
    "0:75557 1:26227 2:71747 3:71317 4:55711 5:74717 6:74757 7:71122 8:75757 9:75717 %:51245 +:02720 .:00002 "
    "-:00700 (:24442 ):42224 A:25755 B:65656 C:34443 D:65556 E:74647 F:74644 G:34553 H:55755 I:72227 J:11152 "
    "K:55655 L:44447 M:57755 N:65555 O:25552 P:65644 Q:25563 R:65655 S:34216 T:72222 U:55557 V:55552 W:55775 "
    "X:55255 Y:55222 Z:71247").split())
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
_WIDTH, _HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM = 800, 500, 60, 780, 60, 440
_BLACK, _GREY, _WHITE = (0, 0, 0), (210, 210, 210), (255, 255, 255)


class _Canvas:
    """An RGB image in a bytearray, with the few drawing operations the plot needs."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.pixels = bytearray(_WHITE * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: tuple) -> None:
        """Fills [x0, x1] x [y0, y1], clipped to the image."""
        for y in range(max(y0, 0), min(y1, self.height - 1) + 1):
            for x in range(max(x0, 0), min(x1, self.width - 1) + 1):
                self.pixels[3 * (y * self.width + x):3 * (y * self.width + x) + 3] = bytes(colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: tuple) -> None:
        """A 2-pixel-wide segment, stepped along its longer axis."""
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(steps + 1):
            x, y = round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps)
            self.rect(x, y, x + 1, y + 1, colour)

    def text(self, x: int, y: int, s: str, colour: tuple = _BLACK, scale: int = 2) -> int:
        """Draws `s` (upper-cased; unknown characters are blanks) from its top left; returns the x after it."""
        for ch in s.upper():
            for row, bits in enumerate(_FONT.get(ch, "00000")):
                for col in range(3):
                    if int(bits) >> (2 - col) & 1:
                        px, py = x + col * scale, y + row * scale
                        self.rect(px, py, px + scale - 1, py + scale - 1, colour)
            x += 4 * scale
        return x

    def png(self) -> bytes:
        """The image as PNG: 8-bit RGB, every scanline with filter 0."""
        stride = 3 * self.width
        raw = b"".join(b"\0" + self.pixels[y * stride:(y + 1) * stride] for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(
            b"IEND", b"")


def _x_scale(xs: list[float]):
    """Maps x to a pixel column on a log scale with a margin of 4% on both sides."""
    lo, hi = math.log(min(xs)), math.log(max(xs))
    pad = (hi - lo) * 0.04 or 1.0
    return lambda x: round(_LEFT + (math.log(x) - lo + pad) / (hi - lo + 2 * pad) * (_RIGHT - _LEFT))


def _y_pixel(percent: float) -> int:
    return round(_BOTTOM - min(max(percent, 0.0), 100.0) / 100 * (_BOTTOM - _TOP))


def plot(path: str, xs: list[float], series: dict[str, list[float | None]], x_label: str, y_label: str) -> None:
    """Writes a PNG of one line per series (values in percent, None = no point) against xs on a log scale."""
    canvas, x_pixel = _Canvas(_WIDTH, _HEIGHT), _x_scale(xs)
    for percent in range(0, 101, 20):
        y = _y_pixel(percent)
        canvas.rect(_LEFT, y, _RIGHT, y, _BLACK if percent == 0 else _GREY)
        canvas.text(_LEFT - 10 - 8 * len(f"{percent}%"), y - 5, f"{percent}%")
    canvas.rect(_LEFT, _TOP, _LEFT, _BOTTOM, _BLACK)
    label_end = 0
    for x in xs:
        px, label = x_pixel(x), f"{x / 1000:.0f}K"
        canvas.rect(px, _BOTTOM, px, _BOTTOM + 5, _BLACK)
        if px - 4 * len(label) > label_end + 6:
            label_end = canvas.text(px - 4 * len(label), _BOTTOM + 10, label)
    canvas.text((_LEFT + _RIGHT) // 2 - 4 * len(x_label), _BOTTOM + 32, x_label)
    canvas.text(_LEFT - 50, _TOP - 22, y_label)
    legend_x = _LEFT
    for (name, values), colour in zip(series.items(), COLOURS):
        canvas.rect(legend_x, 10, legend_x + 11, 21, colour)
        legend_x = canvas.text(legend_x + 18, 11, name) + 20
        points = [(x_pixel(x), _y_pixel(v)) for x, v in zip(xs, values) if v is not None]
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            canvas.line(xa, ya, xb, yb, colour)
        for px, py in points:
            canvas.rect(px - 3, py - 3, px + 3, py + 3, colour)
    with open(path, "wb") as f:
        f.write(canvas.png())
