"""Checks on uploaded floorplan images, through Pillow: the bytes must decode as PNG, JPEG or WebP (whatever the
file name or the declared content type says), within a byte size and a pixel count. SVG and everything else is
refused: an SVG can carry scripts, and the admin shows floorplans to every member."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
MAX_PIXELS = 40_000_000


class ImageRejected(ValueError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    format: str  # file extension: png, jpeg, webp
    width: int
    height: int


def max_bytes() -> int:
    return getattr(settings, "FLOORPLAN_MAX_BYTES", 10 * 1024 * 1024)


def inspect(upload) -> ImageInfo:
    """Identify and check `upload` (a file object); it is left at its start."""
    limit = max_bytes()
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise ImageRejected(f"The image is larger than {limit // (1024 * 1024)} MB.")
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    if b"<svg" in head.lower() or head.lstrip().startswith(b"<"):
        raise ImageRejected("SVG and other text formats are not accepted; upload a PNG, JPEG or WebP image.")
    try:
        with Image.open(upload) as image:
            kind = image.format
            width, height = image.size
            if kind not in ALLOWED_FORMATS:
                raise ImageRejected(f"{kind or 'This'} images are not accepted; upload a PNG, JPEG or WebP image.")
            if width * height > MAX_PIXELS:
                raise ImageRejected(f"The image has more than {MAX_PIXELS // 1_000_000} million pixels.")
            image.verify()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ImageRejected("This file is not a readable PNG, JPEG or WebP image.") from None
    finally:
        upload.seek(0)
    if width < 1 or height < 1:
        raise ImageRejected("The image has no pixels.")
    return ImageInfo(ALLOWED_FORMATS[kind], width, height)
