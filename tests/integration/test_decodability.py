"""Every image the API accepts scans with two decoders at its own size (zxing-cpp and zbar), and
what would not is refused naming the limit. Rendering is pure; this lives beside the integration
tests because zbar's library comes with `make test`'s system packages."""

from __future__ import annotations

import itertools

import pytest

from image_service.errors import InvalidOptions
from image_service.render import RenderOptions, contrast_ratio, render
from qrpass.vocabulary import EC_LEVELS, MIN_CONTRAST_RATIO, MIN_SCALE
from tests.support.qr import decode

# A pass as the token service signs it (an EdDSA JWT), and a text near the longest a pass holds.
PASS = ("eyJhbGciOiJFZERTQSIsImtpZCI6ImsyMDI2YSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJTMDAwMDEiLCJraW5kIjoi"
        "c3R1ZGVudCIsInYiOjEsImlzcyI6InFycGFzcyIsImF1ZCI6InFycGFzcy1nYXRlIiwiaWF0IjoxNzAwMDAwMDAwfQ."
        + "Q9x_" * 21 + "bw")  # fmt: skip
LONG = PASS + "." + "k7Z-" * 150


@pytest.mark.parametrize("text", [PASS, LONG], ids=["pass", "long"])
@pytest.mark.parametrize("image_format", ["png", "svg"])
def test_every_accepted_size_border_and_level_scans_with_both_decoders(text, image_format) -> None:
    """From the smallest scale up, at every border from none to the standard's 4 modules."""
    failures = []
    for ec_level, scale, border in itertools.product(
        EC_LEVELS, (MIN_SCALE, MIN_SCALE + 1, 8), range(5)
    ):
        options = RenderOptions.checked(format=image_format, scale=scale, border=border,
                                        ec_level=ec_level)  # fmt: skip
        try:
            assert decode(render(text, options), options.content_type) == text
        except AssertionError as error:
            failures.append((ec_level, scale, border, str(error)))
    assert not failures


@pytest.mark.parametrize(("dark", "light"), [
    ("#000000", "#ffffff"), ("#1a237e", "#fffde7"), ("#767676", "#ffffff"),  # 4.5:1
    ("#000000", "#5a5a5a"),  # 3.04:1, about the least allowed
    ("#c00000", "#ffe0e0"), ("#004d40", "#e0f2f1"),
])  # fmt: skip
def test_accepted_colours_scan_with_both_decoders(dark: str, light: str) -> None:
    options = RenderOptions.checked(dark=dark, light=light, scale=MIN_SCALE, border=1)
    assert decode(render(PASS, options), options.content_type) == PASS


@pytest.mark.parametrize(("dark", "light"), [
    ("#ffffff", "#000000"),  # inverted: zbar and many phone scanners read nothing
    ("#999999", "#ffffff"), ("#000000", "#000000"), ("#808080", "#7f7f7f"),
])  # fmt: skip
def test_colours_a_scanner_cannot_rely_on_are_refused_naming_the_minimum(dark, light) -> None:
    assert contrast_ratio(dark, light) < MIN_CONTRAST_RATIO
    with pytest.raises(InvalidOptions, match=f"at least {MIN_CONTRAST_RATIO:g}:1"):
        RenderOptions.checked(dark=dark, light=light)


def test_a_scale_below_the_minimum_is_refused_naming_it() -> None:
    with pytest.raises(InvalidOptions, match=f"at least {MIN_SCALE} pixels per module"):
        RenderOptions.checked(scale=MIN_SCALE - 1)
