"""Product pictures for the demo store, drawn as small SVGs, so nothing is downloaded."""

from __future__ import annotations

import colorsys
import hashlib
import re
from xml.sax.saxutils import escape

from services.demo.data import CATALOG_BY_HANDLE

DEMO_IMAGE_PREFIX = "/demo-images/"

_SHAPES = ("bottle", "jar", "bag", "box", "tube", "candle", "pouch")

# Each shape: (body drawing, label rectangle x y w h). {b} body colour, {c} cap/accent colour.
_SHAPE_SVG: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "bottle": (
        '<rect x="176" y="68" width="48" height="30" rx="6" fill="{c}"/>'
        '<rect x="184" y="96" width="32" height="24" fill="{b}"/>'
        '<rect x="136" y="116" width="128" height="204" rx="30" fill="{b}"/>',
        (150, 176, 100, 86),
    ),
    "jar": (
        '<rect x="130" y="116" width="140" height="34" rx="8" fill="{c}"/>'
        '<rect x="120" y="146" width="160" height="174" rx="32" fill="{b}"/>',
        (138, 190, 124, 90),
    ),
    "bag": (
        '<path d="M128 112H272L288 318Q200 332 112 318Z" fill="{b}"/>'
        '<rect x="122" y="96" width="156" height="22" rx="5" fill="{c}"/>',
        (146, 180, 108, 90),
    ),
    "box": (
        '<rect x="118" y="104" width="164" height="216" rx="14" fill="{b}"/>'
        '<path d="M118 142H282" stroke="{c}" stroke-width="8"/>',
        (138, 182, 124, 90),
    ),
    "tube": (
        '<rect x="142" y="76" width="116" height="18" rx="4" fill="{c}"/>'
        '<path d="M148 92H252L236 290H164Z" fill="{b}"/>'
        '<rect x="176" y="288" width="48" height="32" rx="6" fill="{c}"/>',
        (160, 150, 80, 80),
    ),
    "candle": (
        '<path d="M200 96Q182 124 200 150Q218 124 200 96Z" fill="#f6b53d"/>'
        '<rect x="197" y="146" width="6" height="22" fill="#3a2f25"/>'
        '<rect x="126" y="164" width="148" height="156" rx="20" fill="{b}"/>'
        '<ellipse cx="200" cy="168" rx="68" ry="10" fill="{c}"/>',
        (144, 200, 112, 84),
    ),
    "pouch": (
        '<path d="M132 104H268L272 300Q272 320 252 320H148Q128 320 128 300Z" fill="{b}"/>'
        '<path d="M140 126H260" stroke="{c}" stroke-width="5" stroke-dasharray="10 6"/>',
        (146, 178, 108, 90),
    ),
}


def _hex(hue: float, lightness: float, saturation: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def _initials(text: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def product_image_svg(handle: str) -> str:
    """A small, deterministic product picture (400x400 SVG) for a demo product's handle.

    Unknown handles still get a picture (shape and label from the handle), so the image route
    never fails; all text is XML-escaped.
    """
    digest = hashlib.sha256(handle.encode("utf-8", "replace")).digest()
    spec = CATALOG_BY_HANDLE.get(handle)
    if spec is not None:
        shape, caption = spec.shape, spec.short
    else:
        shape = _SHAPES[digest[2] % len(_SHAPES)]
        caption = " ".join(w.capitalize() for w in handle.split("-") if w)[:22] or "Product"
    hue = int.from_bytes(digest[:2], "big") / 65536
    body, (lx, ly, lw, lh) = _SHAPE_SVG[shape]
    body_colour = _hex(hue, 0.45, 0.42)
    accent = _hex(hue + 0.04, 0.3, 0.38)
    ink = _hex(hue, 0.22, 0.35)
    gradient = "g" + digest[:4].hex()
    initials = escape(_initials(caption))
    size = 34 if lw >= 100 else 28
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">'
        f'<defs><linearGradient id="{gradient}" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="{_hex(hue, 0.94, 0.6)}"/>'
        f'<stop offset="1" stop-color="{_hex(hue + 0.08, 0.82, 0.5)}"/>'
        "</linearGradient></defs>"
        f'<rect width="400" height="400" fill="url(#{gradient})"/>'
        '<ellipse cx="200" cy="324" rx="104" ry="12" fill="#000" opacity=".1"/>'
        + body.format(b=body_colour, c=accent)
        + f'<rect x="{lx}" y="{ly}" width="{lw}" height="{lh}" rx="10" fill="#fff" '
        'opacity=".92"/>'
        f'<text x="200" y="{ly + lh // 2 + size // 3}" font-family="Helvetica,Arial,sans-serif" '
        f'font-size="{size}" font-weight="700" text-anchor="middle" fill="{body_colour}">'
        f"{initials}</text>"
        '<text x="200" y="370" font-family="Helvetica,Arial,sans-serif" font-size="24" '
        f'text-anchor="middle" fill="{ink}">{escape(caption)}</text>'
        "</svg>"
    )


def product_image_path(handle: str) -> str:
    """Where the web app serves a demo product's picture."""
    return f"{DEMO_IMAGE_PREFIX}{handle}.svg"
