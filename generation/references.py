"""Reference images: checked by what they are, not what they are called, then re-encoded.

An upload is read once, within the byte cap; Pillow identifies it from its content and only
JPEG, PNG and WEBP pass (a GIF, an SVG or anything else renamed .jpg does not). The picture's
size is read from its header and checked against the pixel and side caps before a single pixel
is decoded, so a decompression bomb costs nothing. Then it is decoded in full (a truncated file
fails here), turned upright from its EXIF orientation, checked against the chosen model's
minimum side and aspect limits, and saved again from the pixels alone: no EXIF, GPS, ICC
profile, comments or XMP survive into the stored file or what is sent to a provider.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from generation.providers.capabilities import Mode, ModelSpec

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}


class ReferenceRejected(ValueError):
    """The upload is not an image Greenlight will store or send; the message says why."""


@dataclass(frozen=True)
class CleanImage:
    """A validated, re-encoded reference image, ready to store."""

    content: bytes
    format: str
    width: int
    height: int
    original_name: str = ""

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][1]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def takes_images(spec: ModelSpec) -> bool:
    return bool({Mode.IMAGE, Mode.REFERENCE} & spec.modes)


def reference_limit(spec: ModelSpec) -> int:
    """How many reference images one brief may give this model."""
    if not takes_images(spec):
        return 0
    return max(1, spec.max_reference_images)


def reference_clean(upload, *, spec: ModelSpec | None = None, name: str = "") -> CleanImage:
    """Validate an uploaded file (a file object with `read`) and return it re-encoded.

    Raises ReferenceRejected naming the first rule the file breaks: too many bytes, not a
    JPEG/PNG/WEBP by content, too many pixels or too long a side (from the header, before
    decoding), truncated or damaged, below the model's minimum side, outside its aspect
    limits, or a model that takes no images at all.
    """
    if spec is not None and not takes_images(spec):
        raise ReferenceRejected(f"{spec.label} does not take reference images")
    max_bytes = settings.GREENLIGHT_REFERENCE_MAX_BYTES
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ReferenceRejected(f"the file is larger than {max_bytes // 1024**2} MB")
    if not data:
        raise ReferenceRejected("the file is empty")
    with warnings.catch_warnings():
        # Pillow warns before its own bomb limit; here every warning about size is an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ReferenceRejected(
                f"the image is more than {settings.GREENLIGHT_REFERENCE_MAX_PIXELS / 1e6:.0f} "
                "megapixels (its header claims far more pixels than its bytes could hold)"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ReferenceRejected("the file is not a JPEG, PNG or WEBP image") from None
        with image:
            fmt = image.format
            width, height = image.size
            _check_size(width, height)
            try:
                image.load()
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
                    Image.DecompressionBombWarning):  # fmt: skip
                raise ReferenceRejected("the image is truncated or damaged") from None
            upright = ImageOps.exif_transpose(image)
    width, height = upright.size
    if spec is not None:
        _check_model(spec, width, height)
    return CleanImage(
        content=_encode(upright, fmt), format=fmt, width=width, height=height, original_name=name
    )


def _check_size(width: int, height: int) -> None:
    max_pixels = settings.GREENLIGHT_REFERENCE_MAX_PIXELS
    max_side = settings.GREENLIGHT_REFERENCE_MAX_SIDE
    if width * height > max_pixels:
        raise ReferenceRejected(
            f"the image is {width}×{height}, more than {max_pixels / 1e6:.0f} megapixels"
        )
    if max(width, height) > max_side:
        raise ReferenceRejected(f"the image is {width}×{height}; its sides may be {max_side} px")
    if min(width, height) < 1:
        raise ReferenceRejected("the image has no pixels")


def _check_model(spec: ModelSpec, width: int, height: int) -> None:
    if spec.min_image_side and min(width, height) < spec.min_image_side:
        raise ReferenceRejected(
            f"{spec.label} needs images at least {spec.min_image_side} px on each side; "
            f"this one is {width}×{height}"
        )
    aspect = width / height
    if spec.min_image_aspect and aspect < spec.min_image_aspect:
        raise ReferenceRejected(
            f"{spec.label} takes images from {spec.min_image_aspect:g}:1 wide; this one is "
            f"{width}×{height}"
        )
    if spec.max_image_aspect and aspect > spec.max_image_aspect:
        raise ReferenceRejected(
            f"{spec.label} takes images up to {spec.max_image_aspect:g}:1 wide; this one is "
            f"{width}×{height}"
        )


def _encode(image: Image.Image, fmt: str) -> bytes:
    """Save the pixels alone in the same format: no EXIF, ICC, XMP or text chunks.

    `convert()` copies `info` (where Pillow keeps EXIF and the ICC profile, and some savers
    read them back), so the pixels go into a fresh image that has none.
    """
    if fmt == "JPEG":
        mode = "RGB"
    elif fmt == "PNG":
        mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
    else:
        mode = "RGBA" if "A" in image.getbands() else "RGB"
    clean = Image.frombytes(mode, image.size, image.convert(mode).tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "WEBP", quality=90)
    return out.getvalue()
