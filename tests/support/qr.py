"""Decoding rendered QR images back to text, as a scanner at the gate would."""

from __future__ import annotations

import io

import cairosvg
import zxingcpp
from PIL import Image


def decode_png(data: bytes) -> str:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    # Read QR codes only, as a gate scanner does; "all formats" can find a false 1-D barcode
    # inside the QR pattern.
    image = Image.open(io.BytesIO(data)).convert("L")
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    return results[0].text


def decode_svg(data: bytes) -> str:
    assert data.lstrip().startswith(b"<svg"), "not an SVG document"
    return decode_png(cairosvg.svg2png(bytestring=data))


def decode(data: bytes, content_type: str) -> str:
    return decode_svg(data) if content_type == "image/svg+xml" else decode_png(data)
