"""The checks a downloaded photo must pass before it is kept (``idpsync.photos.checked``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idpsync.photos import IMAGE_TYPES, PhotoRefused, RawPhoto, checked, digest, sniffed_type

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 40
GIF = b"GIF89a" + b"x" * 40


@pytest.mark.parametrize(
    ("data", "kind"), [(JPEG, "image/jpeg"), (PNG, "image/png"), (GIF, "image/gif")]
)
def test_each_image_type_passes_with_its_own_bytes(data: bytes, kind: str) -> None:
    found = checked(RawPhoto("v", f"{kind.upper()}; charset=binary", data), 1000)
    assert (found.content_type, found.data, found.digest) == (kind, data, digest(data))


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (RawPhoto("v", "image/jpeg", JPEG * 30), "too large: 1,320 bytes"),
        (RawPhoto("v", "text/html", b"<html>"), "'text/html' is not one of"),
        (RawPhoto("v", "", JPEG), "'missing' is not one of"),
        (RawPhoto("v", "image/jpeg", PNG), "declared image/jpeg but the bytes are image/png"),
        (RawPhoto("v", "image/png", b"<html>"), "the bytes are no known image format"),
    ],
)
def test_refusals_say_why(raw: RawPhoto, why: str) -> None:
    with pytest.raises(PhotoRefused, match=why.replace("(", r"\(")):
        checked(raw, 1000)


@settings(max_examples=25)
@given(st.binary(max_size=64), st.sampled_from(sorted(IMAGE_TYPES)))
def test_only_bytes_of_the_declared_type_pass(data: bytes, kind: str) -> None:
    try:
        checked(RawPhoto("v", kind, data), 1000)
    except PhotoRefused:
        assert sniffed_type(data) != kind
    else:
        assert sniffed_type(data) == kind
