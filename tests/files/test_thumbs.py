"""The thumbnail engine: spec parsing, sizes per mode, orientation, metadata, bombs."""

from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from apps.files.thumbs import (
    THUMB_RE,
    THUMBABLE_TYPES,
    Thumb,
    ThumbError,
    parse_thumb,
    render_thumb,
    thumb_name,
)

BIG = 10**9  # a max_pixels that never gets in the way
REPO = Path(__file__).resolve().parents[2]
RED, GREEN, BLUE = (255, 0, 0), (0, 160, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Save an image to bytes."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def thumb(data: bytes, spec: str, max_pixels: int = BIG) -> tuple[Image.Image, str]:
    """Render a thumb of `data` and reopen the result."""
    body, content_type = render_thumb(
        io.BytesIO(data), parse_thumb(spec), max_pixels=max_pixels
    )
    return Image.open(io.BytesIO(body)), content_type


def near(pixel: tuple[int, ...], color: tuple[int, int, int], tol: int = 40) -> bool:
    """Whether a (lossy) pixel is close to a color."""
    return all(abs(a - b) <= tol for a, b in zip(pixel[:3], color, strict=True))


def stripes(width: int, height: int) -> Image.Image:
    """Three horizontal bands, top to bottom: red, green, blue."""
    image = Image.new("RGB", (width, height), GREEN)
    image.paste(RED, (0, 0, width, height // 3))
    image.paste(BLUE, (0, height - height // 3, width, height))
    return image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def bomb_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A 1-bit greyscale PNG of width x height whose rows are zlib-compressed zeros.

    `rows` limits how many rows the IDAT holds (the header still claims `height`).
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(rows or height))
    idat += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb_50k() -> bytes:
    """A real 50 000 x 50 000 PNG (2.5 gigapixels, about 300 KB of IDAT)."""
    return bomb_png(50_000, 50_000)


# --- parse_thumb ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100x100", Thumb(100, 100, "crop")),
        ("100x100t", Thumb(100, 100, "crop_top")),
        ("100x100b", Thumb(100, 100, "crop_bottom")),
        ("100x100f", Thumb(100, 100, "fit")),
        ("0x50", Thumb(0, 50, "resize")),
        ("50x0", Thumb(50, 0, "resize")),
        ("4000x4000", Thumb(4000, 4000, "crop")),
        ("1x4000f", Thumb(1, 4000, "fit")),
    ],
)
def test_parse_thumb_accepts(spec: str, expected: Thumb) -> None:
    assert parse_thumb(spec) == expected
    assert parse_thumb(spec).spec == spec
    assert THUMB_RE.match(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "0x0",
        "100",
        "x100",
        "100x",
        "-1x5",
        "+1x5",
        "100x100z",
        "5000x10",
        "10x4001",
        " 10x10",
        "10x10 ",
        "10x10\n",
        "10X10",
        "10x10tt",
        "0x50t",
        "50x0f",
        "010x10",
        "10x00",
        "１0x10",  # a full-width digit
        "",
    ],
)
def test_parse_thumb_refuses(spec: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_thumb(spec)
    assert str(excinfo.value)
    assert not THUMB_RE.match(spec)


def test_parse_thumb_messages_say_what_is_wrong() -> None:
    messages = {}
    for spec in ("0x0", "5000x10", "100x100z", "junk"):
        with pytest.raises(ValueError) as excinfo:
            parse_thumb(spec)
        messages[spec] = str(excinfo.value)
    assert "both be 0" in messages["0x0"]
    assert "4000" in messages["5000x10"]
    assert "'z'" in messages["100x100z"]
    assert "WxH" in messages["junk"]


def test_thumb_refuses_inconsistent_fields() -> None:
    for args in [(0, 10, "crop"), (10, 10, "resize"), (0, 0, "resize"), (1, 1, "x")]:
        with pytest.raises(ValueError):
            Thumb(*args)


def test_thumb_name_uses_the_pocketbase_layout() -> None:
    assert thumb_name("100x100t", "photo_ab12.jpg") == (
        "thumbs_photo_ab12.jpg/100x100t_photo_ab12.jpg"
    )
    for spec, name in [("../x", "a.png"), ("10x10", "a/b.png"), ("10x10", "..")]:
        with pytest.raises(ValueError):
            thumb_name(spec, name)


def test_thumbable_types() -> None:
    assert THUMBABLE_TYPES == {"image/png", "image/jpeg", "image/gif", "image/webp"}


# --- sizes per mode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        ("100x100", (100, 100)),
        ("100x100t", (100, 100)),
        ("100x100b", (100, 100)),
        ("100x100f", (100, 75)),
        ("0x50", (67, 50)),
        ("50x0", (50, 38)),
        ("300x100", (300, 100)),
        ("1x1", (1, 1)),
    ],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_output_size_per_mode(fmt: str, spec: str, size: tuple[int, int]) -> None:
    result, _ = thumb(encode(stripes(400, 300), fmt), spec)
    assert result.size == size


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        ("100x100f", (40, 30)),
        ("0x50", (40, 30)),
        ("50x0", (40, 30)),
        ("40x30f", (40, 30)),
        ("0x20", (27, 20)),
        ("20x0", (20, 15)),
        ("100x100", (100, 100)),  # crops give exactly WxH, upscaling if needed
        ("100x50t", (100, 50)),
    ],
)
def test_fit_and_resize_never_upscale(spec: str, size: tuple[int, int]) -> None:
    result, _ = thumb(encode(stripes(40, 30), "PNG"), spec)
    assert result.size == size


@pytest.mark.parametrize(
    ("spec", "color"),
    [("100x100t", RED), ("100x100", GREEN), ("100x100b", BLUE)],
)
def test_crop_anchor(spec: str, color: tuple[int, int, int]) -> None:
    result, _ = thumb(encode(stripes(100, 300), "PNG"), spec)
    assert result.size == (100, 100)
    for point in [(5, 5), (50, 50), (95, 95)]:
        assert near(result.getpixel(point), color, tol=2)


def test_center_crop_of_a_wide_image_keeps_the_middle_columns() -> None:
    image = Image.new("RGB", (300, 100), RED)
    image.paste(GREEN, (100, 0, 200, 100))
    result, _ = thumb(encode(image, "PNG"), "50x50")
    assert near(result.getpixel((2, 25)), GREEN, tol=2)
    assert near(result.getpixel((47, 25)), GREEN, tol=2)


def test_large_jpeg_downscale_uses_draft_and_keeps_the_picture() -> None:
    data = encode(stripes(2400, 1800), "JPEG", quality=90)
    result, content_type = thumb(data, "120x90f")
    assert (result.size, content_type) == ((120, 90), "image/jpeg")
    assert near(result.getpixel((60, 10)), RED)
    assert near(result.getpixel((60, 45)), GREEN)
    assert near(result.getpixel((60, 80)), BLUE)


# --- formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "out_format", "content_type"),
    [
        ("PNG", "PNG", "image/png"),
        ("GIF", "PNG", "image/png"),
        ("WEBP", "WEBP", "image/webp"),
        ("JPEG", "JPEG", "image/jpeg"),
    ],
)
def test_output_format(fmt: str, out_format: str, content_type: str) -> None:
    result, got_type = thumb(encode(stripes(60, 60), fmt), "30x30")
    assert (result.format, got_type) == (out_format, content_type)


@pytest.mark.parametrize(
    ("image", "fmt", "out_mode"),
    [
        (Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", "RGB"),
        (Image.new("L", (40, 40), 128), "JPEG", "L"),
        (Image.new("LA", (40, 40), (128, 100)), "PNG", "LA"),
        (Image.new("RGBA", (40, 40), (255, 0, 0, 100)), "PNG", "RGBA"),
        (Image.new("RGBA", (40, 40), (255, 0, 0, 100)), "WEBP", "RGBA"),
        (Image.new("1", (40, 40), 1), "PNG", "L"),
        (Image.new("I;16", (40, 40), 40000), "PNG", "L"),
        (Image.new("RGB", (40, 40), RED).quantize(4), "PNG", "RGB"),
    ],
)
def test_modes_are_converted(image: Image.Image, fmt: str, out_mode: str) -> None:
    result, _ = thumb(encode(image, fmt), "20x20")
    assert result.mode == out_mode
    result.load()


def test_cmyk_jpeg_colors_survive() -> None:
    data = encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG")
    result, _ = thumb(data, "20x20")
    assert near(result.getpixel((10, 10)), RED)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    result, _ = thumb(encode(Image.new("I;16", (40, 40), 32768), "PNG"), "20x20")
    assert abs(result.getpixel((10, 10)) - 128) <= 1


def test_palette_png_with_transparency_keeps_alpha() -> None:
    image = Image.new("P", (40, 40), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    data = encode(image, "PNG", transparency=1)
    result, _ = thumb(data, "20x20")
    assert result.mode == "RGBA"
    assert result.getpixel((10, 10))[3] == 0


def test_animated_gif_gives_its_first_frame_as_a_still_png() -> None:
    frames = [Image.new("RGB", (40, 20), color) for color in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    result, content_type = thumb(data, "20x0")
    assert (result.format, content_type, result.size) == ("PNG", "image/png", (20, 10))
    assert getattr(result, "n_frames", 1) == 1
    assert near(result.getpixel((10, 5)), RED, tol=2)


def test_animated_webp_gives_its_first_frame_as_a_still_webp() -> None:
    frames = [Image.new("RGB", (40, 20), color) for color in (RED, GREEN, BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 3
    result, content_type = thumb(data, "20x0")
    assert (result.format, content_type, result.size) == (
        "WEBP",
        "image/webp",
        (20, 10),
    )
    assert getattr(result, "n_frames", 1) == 1
    assert near(result.getpixel((10, 5)), RED)


# --- orientation and metadata --------------------------------------------------


def quadrant_image() -> Image.Image:
    """80x40, red in the top-left 40x20 quadrant, blue elsewhere."""
    image = Image.new("RGB", (80, 40), BLUE)
    image.paste(RED, (0, 0, 40, 20))
    return image


def test_exif_orientation_is_applied_and_exif_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: turn 90 degrees clockwise to display
    data = encode(quadrant_image(), "JPEG", exif=exif, quality=95)
    result, _ = thumb(data, "200x200f")
    assert result.size == (40, 80)  # width and height swapped, not upscaled
    assert near(result.getpixel((30, 10)), RED)  # the stored top-left is now top-right
    assert near(result.getpixel((10, 10)), BLUE)
    assert near(result.getpixel((30, 70)), BLUE)
    assert "exif" not in result.info
    assert len(result.getexif()) == 0


@pytest.mark.parametrize(
    ("spec", "size"), [("20x0", (20, 40)), ("0x20", (10, 20)), ("20x20t", (20, 20))]
)
def test_orientation_is_applied_before_resizing(
    spec: str, size: tuple[int, int]
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    result, _ = thumb(encode(quadrant_image(), "JPEG", exif=exif), spec)
    assert result.size == size


def test_orientation_with_draft_on_a_large_jpeg() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stripes(2000, 1000), "JPEG", exif=exif)
    result, _ = thumb(data, "100x0")
    assert result.size == (100, 200)
    # Stored top band (red) is displayed on the right after the turn.
    assert near(result.getpixel((95, 100)), RED)
    assert near(result.getpixel((5, 100)), BLUE)


def secret_exif() -> Image.Exif:
    """EXIF with camera, GPS and orientation entries carrying recognisable strings."""
    exif = Image.Exif()
    exif[0x010F] = "SecretMake"  # Make
    exif[0x0110] = "SecretModel"  # Model
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    gps[0x1B] = "SecretGpsMethod"  # GPSProcessingMethod
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b"<rdf:Description>SecretXmp</rdf:Description></rdf:RDF></x:xmpmeta>"
)
SECRETS = [b"Secret", b"Exif", b"GPS", b"xmpmeta", b"sRGB", b"Comment"]


def metadata_rich(fmt: str) -> bytes:
    """A picture carrying EXIF with GPS, an ICC profile, XMP and (where the format has
    them) comments and text chunks."""
    image = stripes(120, 90)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    params: dict[str, object] = {"exif": secret_exif(), "icc_profile": icc, "xmp": XMP}
    if fmt == "JPEG":
        params["comment"] = b"SecretComment"
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", "SecretText")
        info.add_itxt("Description", "SecretItxt")
        params["pnginfo"] = info
    data = encode(image, fmt, **params)
    reopened = Image.open(io.BytesIO(data))
    reopened.load()
    assert b"SecretGpsMethod" in data and "icc_profile" in reopened.info
    return data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("spec", ["60x60", "60x60f", "0x45"])
def test_all_metadata_is_stripped(fmt: str, spec: str) -> None:
    body, _ = render_thumb(
        io.BytesIO(metadata_rich(fmt)), parse_thumb(spec), max_pixels=BIG
    )
    for secret in SECRETS:
        assert secret not in body
    result = Image.open(io.BytesIO(body))
    result.load()
    assert len(result.getexif()) == 0
    leaked = {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"}
    assert not leaked & set(result.info)
    assert not getattr(result, "text", {})


# --- bombs and limits ---------------------------------------------------------------


def test_the_pixel_limit_is_checked_from_the_header() -> None:
    data = encode(stripes(400, 300), "PNG")
    assert thumb(data, "10x10", max_pixels=120_000)[0].size == (10, 10)
    with pytest.raises(ThumbError) as excinfo:
        render_thumb(io.BytesIO(data), parse_thumb("10x10"), max_pixels=119_999)
    assert excinfo.value.code == "image_too_large"
    assert excinfo.value.message


def test_the_limit_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import PngImagePlugin

    loads: list[tuple[int, int]] = []
    original_load = PngImagePlugin.PngImageFile.load

    def spy_load(self: Image.Image) -> object:  # records every decode
        loads.append(self.size)
        return original_load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", spy_load)
    # A 4 000 x 4 000 header over a single row of data (Pillow fills in the rest).
    data = bomb_png(4_000, 4_000, rows=1)
    with pytest.raises(ThumbError) as excinfo:
        render_thumb(io.BytesIO(data), parse_thumb("10x10"), max_pixels=1_000_000)
    assert excinfo.value.code == "image_too_large"
    assert loads == []
    assert thumb(data, "10x10", max_pixels=16_000_000)[0].size == (10, 10)
    assert loads and loads[0] == (4_000, 4_000)


def test_pillow_bomb_warning_is_an_error_even_with_a_high_max_pixels() -> None:
    # 10 000 x 10 000 = 1e8 pixels: above Image.MAX_IMAGE_PIXELS (warning), below
    # twice that (error); the local warnings filter makes it a refusal.
    data = bomb_png(10_000, 10_000, rows=1)
    with pytest.raises(ThumbError) as excinfo:
        render_thumb(io.BytesIO(data), parse_thumb("10x10"), max_pixels=BIG * 10)
    assert excinfo.value.code == "image_too_large"


@pytest.mark.parametrize("max_pixels", [40_000_000, 10**12])
def test_50k_png_bomb_is_refused_with_little_memory(
    bomb_50k: bytes, max_pixels: int
) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ThumbError) as excinfo:
            render_thumb(
                io.BytesIO(bomb_50k), parse_thumb("100x100"), max_pixels=max_pixels
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert excinfo.value.code == "image_too_large"
    assert peak < 50 * 1024 * 1024


BOMB_SCRIPT = textwrap.dedent(
    """
    import io, resource, sys
    from PIL import Image
    from apps.files.thumbs import ThumbError, parse_thumb, render_thumb
    # 1.5 GB of address space: decoding 2.5 gigapixels cannot fit.
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
    data = sys.stdin.buffer.read()
    if sys.argv[1] == "control":  # prove the limit catches a real decode
        Image.MAX_IMAGE_PIXELS = None
        image = Image.open(io.BytesIO(data))
        try:
            image.load()
        except MemoryError:
            print("MemoryError")
        raise SystemExit(0)
    try:
        render_thumb(io.BytesIO(data), parse_thumb("100x100"), max_pixels=10**12)
    except ThumbError as error:
        print(error.code)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux")
@pytest.mark.parametrize(
    ("mode", "expected"), [("real", "image_too_large"), ("control", "MemoryError")]
)
def test_50k_png_bomb_allocates_no_pixels(
    bomb_50k: bytes, mode: str, expected: str
) -> None:
    # tracemalloc sees only Python allocations; Pillow's pixel buffers come from C. A
    # capped address space shows that no pixel memory is asked for, and the control
    # run shows that the cap does catch an actual decode of the same file.
    done = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, mode],
        input=bomb_50k,
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.stdout.decode().strip() == expected, done.stderr.decode()[-2000:]


# --- unreadable input ---------------------------------------------------------------


def noisy(width: int, height: int) -> Image.Image:
    """An image of random pixels (compresses badly, so truncation bites)."""
    rng = random.Random(7)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_image_is_unreadable(fmt: str) -> None:
    data = encode(noisy(200, 200), fmt)
    with pytest.raises(ThumbError) as excinfo:
        render_thumb(
            io.BytesIO(data[: len(data) // 2]), parse_thumb("50x50"), max_pixels=BIG
        )
    assert excinfo.value.code == "image_unreadable"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not an image",
        b"%PDF-1.4\n" + bytes(100),
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF89a",
        b"RIFF\x00\x00\x00\x00WEBP",
    ],
)
def test_non_image_bytes_are_unreadable(data: bytes) -> None:
    with pytest.raises(ThumbError) as excinfo:
        render_thumb(io.BytesIO(data), parse_thumb("50x50"), max_pixels=BIG)
    assert excinfo.value.code == "image_unreadable"


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_other_formats_are_not_even_parsed(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(stripes(32, 32), fmt)
    opened = Image.open(io.BytesIO(data))
    parsed: list[str] = []
    original_open = type(opened)._open

    def spy_open(self: Image.Image) -> None:  # the plugin's header parser
        parsed.append(fmt)
        original_open(self)

    monkeypatch.setattr(type(opened), "_open", spy_open)
    with pytest.raises(ThumbError) as excinfo:
        render_thumb(io.BytesIO(data), parse_thumb("16x16"), max_pixels=BIG)
    assert excinfo.value.code == "image_unreadable"
    assert parsed == []


def test_broken_exif_does_not_prevent_a_thumbnail() -> None:
    data = encode(quadrant_image(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\xff\xff")
    result, _ = thumb(data, "20x20")
    assert result.size == (20, 20)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_corrupted_bytes_never_raise_anything_but_thumb_error(fmt: str) -> None:
    rng = random.Random(fmt)
    original = bytearray(
        encode(
            stripes(64, 48), fmt, **({"exif": secret_exif()} if fmt != "GIF" else {})
        )
    )
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        try:
            body, _ = render_thumb(
                io.BytesIO(bytes(data)), parse_thumb("32x32"), max_pixels=10**6
            )
        except ThumbError as error:
            assert error.code in {"image_unreadable", "image_too_large"}
        else:
            assert body


def test_large_jpeg_is_decoded_at_a_reduced_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import JpegImagePlugin

    decoded: list[tuple[int, int]] = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def spy_load(self: Image.Image) -> object:  # records the size decoded
        decoded.append(self.size)
        return original_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy_load)
    data = encode(stripes(2400, 1800), "JPEG")
    result, _ = thumb(data, "100x100")
    assert result.size == (100, 100)
    assert decoded and decoded[0] == (300, 225)  # 1/8 scale, still >= 2x the target
