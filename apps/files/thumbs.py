"""Image thumbnails for file fields: spec parsing, bounded decoding, resizing, encoding.

Specs follow PocketBase: `WxH` crops to WxH from the center, `WxHt` from the top, `WxHb`
from the bottom, `WxHf` fits inside WxH without cropping, `0xH` and `Wx0` resize to one
side keeping the aspect ratio. Crops always give exactly WxH (upscaling if needed); the
other modes never upscale. Only PNG, JPEG, GIF and WebP are decoded; the pixel count is
checked from the header before any pixel memory is allocated, and all metadata (EXIF,
GPS, XMP, ICC, comments, text chunks) is dropped from the output.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from PIL import ExifTags, Image, ImageOps

MAX_SIDE = 4000

_SIDE = r"(?:[1-9][0-9]{0,2}|[1-3][0-9]{3}|4000)"  # 1..4000, no leading zero

THUMB_RE = re.compile(
    rf"\A(?:{_SIDE}x{_SIDE}[tbf]?|0x{_SIDE}|{_SIDE}x0)\Z",
)
"""A valid thumb spec, the whole string: `WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH`, `Wx0`."""

_LOOSE_RE = re.compile(r"\A([0-9]+)x([0-9]+)([a-z]?)\Z")

THUMBABLE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

MODES = frozenset({"crop", "crop_top", "crop_bottom", "fit", "resize"})
_SUFFIX_MODES = {"": "crop", "t": "crop_top", "b": "crop_bottom", "f": "fit"}
_MODE_SUFFIXES = {mode: suffix for suffix, mode in _SUFFIX_MODES.items()}
_CROP_CENTERING = {"crop": 0.5, "crop_top": 0.0, "crop_bottom": 1.0}

# Pillow format name -> (output format, content type). MPO is a multi-picture JPEG.
_OUTPUTS = {
    "PNG": ("PNG", "image/png"),
    "GIF": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "JPEG": ("JPEG", "image/jpeg"),
    "MPO": ("JPEG", "image/jpeg"),
}
_OPEN_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")

# What Pillow's decoders raise on truncated or malformed input.
_DECODE_ERRORS = (
    OSError,  # includes Image.UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
)

_ERROR_MESSAGES = {
    "image_too_large": "The image is too large to make a thumbnail of.",
    "image_unreadable": "The file could not be read as an image.",
}

_RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0
_JPEG_QUALITY = 85
_WEBP_QUALITY = 85


@dataclass(frozen=True)
class Thumb:
    """A parsed thumb spec: target size and how to get there."""

    width: int
    height: int
    mode: str

    def __post_init__(self) -> None:
        """Refuse sizes and modes that `parse_thumb` would never produce."""
        if self.mode not in MODES:
            raise ValueError(f"Unknown thumb mode {self.mode!r}.")
        if not (0 <= self.width <= MAX_SIDE and 0 <= self.height <= MAX_SIDE):
            raise ValueError(f"Thumb sides must be between 0 and {MAX_SIDE}.")
        zero_side = self.width == 0 or self.height == 0
        if (self.mode == "resize") != zero_side or self.width == self.height == 0:
            raise ValueError("Only a resize thumb has exactly one side 0.")

    @property
    def spec(self) -> str:
        """The canonical spec string, e.g. `100x100t`."""
        suffix = _MODE_SUFFIXES.get(self.mode, "")
        return f"{self.width}x{self.height}{suffix}"


class ThumbError(Exception):
    """An image that cannot be thumbnailed; `.code` and `.message` are safe to show."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or _ERROR_MESSAGES.get(code, "Cannot make a thumbnail.")
        super().__init__(self.message)


def parse_thumb(spec: str) -> Thumb:
    """Parse `WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH` or `Wx0`; ValueError if malformed."""
    if not isinstance(spec, str) or not THUMB_RE.match(spec):
        raise ValueError(_explain(spec))
    size, _, _ = spec.partition("x")
    width = int(size)
    rest = spec[len(size) + 1 :]
    suffix = rest[-1] if rest[-1] in "tbf" else ""
    height = int(rest[: len(rest) - len(suffix)])
    mode = "resize" if width == 0 or height == 0 else _SUFFIX_MODES[suffix]
    return Thumb(width, height, mode)


def _explain(spec: object) -> str:
    """A human message for a spec THUMB_RE refused."""
    usage = "Use WxH, WxHt, WxHb, WxHf, 0xH or Wx0, e.g. 100x100."
    match = _LOOSE_RE.match(spec) if isinstance(spec, str) else None
    if match is None:
        return f"Invalid thumb size. {usage}"
    width, height, suffix = match.groups()
    if suffix and suffix not in "tbf":
        return f"Unknown thumb suffix {suffix!r}. {usage}"
    if int(width) == int(height) == 0:
        return "Thumb width and height cannot both be 0."
    if max(int(width), int(height)) > MAX_SIDE:
        return f"Thumb width and height must be at most {MAX_SIDE}."
    if (len(width) > 1 and width[0] == "0") or (len(height) > 1 and height[0] == "0"):
        return "Thumb width and height must not have leading zeros."
    return f"A thumb with a 0 side takes no suffix. {usage}"


def thumb_name(thumb_spec: str, file_name: str) -> str:
    """Return the stored thumbnail name relative to the record's folder.

    PocketBase's layout: `thumbs_{file_name}/{thumb_spec}_{file_name}`, so all thumbs
    of a file live in one folder next to it and go away with it. Raises ValueError for
    a spec that THUMB_RE refuses or a file name that is not a single path segment.
    """
    if not THUMB_RE.match(thumb_spec):
        raise ValueError(_explain(thumb_spec))
    bad_chars = any(char in file_name for char in "/\\\x00")
    if not file_name or bad_chars or file_name in (".", ".."):
        raise ValueError("A file name must be a single path segment.")
    return f"thumbs_{file_name}/{thumb_spec}_{file_name}"


def render_thumb(
    source: BinaryIO, thumb: Thumb, *, max_pixels: int
) -> tuple[bytes, str]:
    """Make the thumbnail of an image; return (encoded bytes, content type).

    Raises ThumbError: `image_too_large` when the header's width * height exceeds
    `max_pixels` (or Pillow's own decompression bomb limit, whichever is lower),
    `image_unreadable` for anything that is not a whole PNG, JPEG, GIF or WebP image.
    """
    try:
        # Pillow warns (above MAX_IMAGE_PIXELS) before it errors (above twice that):
        # both refuse. Note: catch_warnings changes process-wide state (Python < 3.14).
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Corrupt EXIF blocks are survivable; keep Pillow's notes out of the logs.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            with Image.open(source, formats=_OPEN_FORMATS) as image:
                return _render(image, thumb, max_pixels)
    except ThumbError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ThumbError("image_too_large") from None
    except MemoryError:
        raise ThumbError("image_too_large") from None
    except _DECODE_ERRORS:
        raise ThumbError("image_unreadable") from None


def _render(image: Image.Image, thumb: Thumb, max_pixels: int) -> tuple[bytes, str]:
    """Check the header size, decode (first frame only), resize and encode."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ThumbError("image_unreadable")
    if width * height > max_pixels:
        raise ThumbError("image_too_large")
    out_format, content_type = _OUTPUTS[image.format or ""]
    is_jpeg = out_format == "JPEG"
    rotated = is_jpeg and _jpeg_orientation(image) in (5, 6, 7, 8)
    oriented = (height, width) if rotated else (width, height)
    target = _target_size(thumb, oriented)
    if is_jpeg:
        request = _draft_request(thumb, oriented, target)
        image.draft(None, (request[1], request[0]) if rotated else request)
    image.load()  # the first frame of an animation; nothing else is decoded
    image = _oriented(image)
    image = _normalize_mode(image, out_format)
    image = _resize(image, thumb, target)
    return _encode(image, out_format), content_type


def _jpeg_orientation(image: Image.Image) -> int:
    """The EXIF orientation of a not yet decoded JPEG (1 when absent or unreadable)."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) else 1


def _oriented(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        ImageOps.exif_transpose(image, in_place=True)  # no full-size copy
    except _DECODE_ERRORS:
        pass  # the pixels are either untouched or already transposed
    return image


def _target_size(thumb: Thumb, size: tuple[int, int]) -> tuple[int, int]:
    """The output size for a source of `size` (already oriented)."""
    src_w, src_h = size
    if thumb.mode.startswith("crop"):
        return thumb.width, thumb.height
    if thumb.mode == "fit":
        scale = min(thumb.width / src_w, thumb.height / src_h)
    elif thumb.width == 0:
        scale = thumb.height / src_h
    else:
        scale = thumb.width / src_w
    if scale >= 1:
        return src_w, src_h  # never upscale
    if thumb.mode == "resize" and thumb.width == 0:
        return max(1, _round(src_w * scale)), thumb.height
    if thumb.mode == "resize":
        return thumb.width, max(1, _round(src_h * scale))
    return max(1, _round(src_w * scale)), max(1, _round(src_h * scale))


def _round(value: float) -> int:
    """Round half up (Python's round() goes to even)."""
    return math.floor(value + 0.5)


def _draft_request(
    thumb: Thumb, size: tuple[int, int], target: tuple[int, int]
) -> tuple[int, int]:
    """The smallest whole-image size worth decoding a JPEG at (twice what is used)."""
    src_w, src_h = size
    if thumb.mode.startswith("crop"):
        scale = max(target[0] / src_w, target[1] / src_h)
        needed = (math.ceil(src_w * scale), math.ceil(src_h * scale))
    else:
        needed = target
    return max(1, needed[0] * 2), max(1, needed[1] * 2)


def _normalize_mode(image: Image.Image, out_format: str) -> Image.Image:
    """Convert to a mode the output format stores and LANCZOS can resample."""
    mode = image.mode
    if mode.startswith("I"):  # 16/32-bit grey (PNG): scale to 8 bits, not clip
        image = image.convert("I").point(lambda value: value * (1 / 256))
        image = image.convert("L")
        mode = "L"
    if mode == "1":
        image, mode = image.convert("L"), "L"
    if out_format == "JPEG":
        return image if mode in ("L", "RGB") else image.convert("RGB")
    if out_format == "PNG" and mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if out_format == "WEBP" and mode in ("RGB", "RGBA"):
        return image
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _resize(image: Image.Image, thumb: Thumb, target: tuple[int, int]) -> Image.Image:
    """Crop-and-scale to exactly `target`, or scale the whole image to it."""
    width, height = image.size
    if not thumb.mode.startswith("crop"):
        if image.size == target:
            return image
        return image.resize(target, _RESAMPLE, reducing_gap=_REDUCING_GAP)
    target_ratio = target[0] / target[1]
    if width / height > target_ratio:  # too wide: keep the middle columns
        box_w = height * target_ratio
        left = (width - box_w) / 2
        box = (left, 0.0, left + box_w, float(height))
    else:  # too tall: keep the top, middle or bottom rows
        box_h = width / target_ratio
        top = (height - box_h) * _CROP_CENTERING[thumb.mode]
        box = (0.0, top, float(width), top + box_h)
    return image.resize(target, _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)


def _encode(image: Image.Image, out_format: str) -> bytes:
    """Encode a metadata-free copy of the pixels."""
    clean = Image.new(image.mode, image.size)  # no info, EXIF, ICC, XMP or text
    clean.paste(image)
    out = io.BytesIO()
    if out_format == "JPEG":
        clean.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    elif out_format == "WEBP":
        clean.save(out, "WEBP", quality=_WEBP_QUALITY)
    else:
        clean.save(out, "PNG")
    return out.getvalue()
