"""Decoding rendered QR images back to text, as a scanner at the gate would: with zxing-cpp, and
with zbar as a second, independent decoder (its library is Debian's libzbar0, which `make test`
installs; `make check` runs without it, so the unit tests read with zxing-cpp alone)."""

from __future__ import annotations

import io

import cairosvg
import zxingcpp
from PIL import Image


def _zxing(image: Image.Image) -> str:
    # Read QR codes only, as a gate scanner does; "all formats" can find a false 1-D barcode
    # inside the QR pattern.
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1, f"zxing-cpp: expected one QR code, found {len(results)}"
    return results[0].text


def _zbar(image: Image.Image) -> str:
    from pyzbar import pyzbar  # loads libzbar0

    results = pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])
    assert len(results) == 1, f"zbar: expected one QR code, found {len(results)}"
    return results[0].data.decode("utf-8")


def decode_png(data: bytes, *, zbar: bool = True) -> str:
    """The text both decoders read, at the image's own size; fails if either cannot."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    image = Image.open(io.BytesIO(data)).convert("L")
    text = _zxing(image)
    if zbar:
        assert _zbar(image) == text, "zbar reads another text than zxing-cpp"
    return text


def decode_svg(data: bytes, *, zbar: bool = True) -> str:
    assert data.lstrip().startswith(b"<svg"), "not an SVG document"
    return decode_png(cairosvg.svg2png(bytestring=data), zbar=zbar)


def decode(data: bytes, content_type: str, *, zbar: bool = True) -> str:
    if content_type == "image/svg+xml":
        return decode_svg(data, zbar=zbar)
    return decode_png(data, zbar=zbar)
