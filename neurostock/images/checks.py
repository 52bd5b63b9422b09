"""Checking one image file into one row of `files.images`: its status, size, hash and
decoded picture.

A file gets one of STATUSES (`ok`, `missing`, `unreadable`, `too_large`,
`outside_root`). The safety rules, in the order they are applied to each path:
- a path may only be read when its real path (symlinks followed) lies inside an
  allowed root; otherwise it is `outside_root` and the file is never opened
  (a path that leads nowhere is `missing`);
- the file's size is checked before reading and its pixel count (from the
  header) before decoding, so a decompression bomb costs only its header;
- any exception from a source file becomes a status row, never a crash.

The file is read once: the hash and the decoder see the same bytes. An `ok` row's
width and height are the picture as displayed, after its EXIF orientation (what
`neurostock.core.imaging.to_rgb` gives every step: a file stored sideways with
orientation 6 is recorded as its upright size); a row that is not `ok` keeps the size
its header states, if it got that far. Rows checked before this rule keep the size they
recorded until their file changes (the unchanged-file rule reuses them).

Also here: the shapes every step of a sync shares (a job, what the last check
recorded, the row, the settings), so that the selection, the dataset copies and the
orchestration all import this module and none imports another in a circle.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from neurostock.core.imaging import displayed_size
from neurostock.images.paths import PathMap, is_inside, resolve_path

STATUSES = ("ok", "missing", "unreadable", "too_large", "outside_root")
# Formats Pillow may try (its JPEG opener also reads MPO). Every other decoder is
# refused: the team's files are JPEG and PNG, and rarely used decoders are where
# image libraries' bugs live.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_DETAIL_MAX_CHARS = 200

# The order of files.images' columns; Row.values() follows it.
COLUMNS = (
    "image_id", "set_name", "img_path", "resolved_path", "status", "status_detail", "bytes",
    "sha256", "width", "height", "format", "mode", "dataset_path", "dataset_sha256",
    "checked_at", "file_size", "file_mtime_ns",
)


@dataclass(frozen=True)
class Previous:
    """What the last sync recorded for an image: enough to know whether its copy is current."""

    sha256: str | None
    dataset_path: str | None
    dataset_sha256: str | None
    # What is needed to trust the last check without reading the file again.
    status: str | None = None
    resolved_path: str | None = None
    file_size: int | None = None
    file_mtime_ns: int | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    set_name: str | None = None
    img_path: str | None = None


@dataclass(frozen=True)
class Job:
    """One image to check (and, for full_set and unusable, to copy into dataset folder
    `folder`: the full_set rating, or the unusable folder)."""

    image_id: int
    set_name: str
    img_path: str | None
    folder: int | None
    previous: Previous | None


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs besides its job; shared read-only by all threads."""

    maps: tuple[PathMap, ...]
    roots: tuple[str, ...]
    dest: Path
    max_pixels: int
    max_bytes: int
    # Where a relative source path starts (paths.resolve_path); None: nowhere known.
    base: str | None = None


@dataclass
class Row:
    """One row of files.images, plus what the copy step did (not stored)."""

    image_id: int
    set_name: str
    img_path: str | None
    resolved_path: str | None = None
    status: str = "unreadable"
    status_detail: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    dataset_path: str | None = None
    dataset_sha256: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    file_size: int | None = None
    file_mtime_ns: int | None = None
    copied: bool = False
    skipped_copy: bool = False
    # The file was read and hashed (False: unchanged since the last check, or never read).
    rehashed: bool = False
    # Nothing to store: the row in files.images already says all of this.
    unchanged: bool = False

    def values(self) -> tuple:
        """The row's values in the order of COLUMNS."""
        return tuple(getattr(self, name) for name in COLUMNS)


class Rejected(Exception):
    """A source file that gets a status other than `ok`; carries the status and its detail."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Decoded:
    """A source file that passed every check: its bytes and the fully decoded picture."""

    data: bytes
    image: Image.Image


@contextmanager
def pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Let Pillow's own bomb check use `max_pixels` for the duration of a sync, then restore it.

    Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; the warning
    is turned into an exception so a worker can record `too_large`. Both
    settings are process-wide, so they are set once, before any worker starts,
    and put back after the last one has finished.
    """
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def check_file(job: Job, settings: Settings, row: Row) -> Decoded:
    """Resolve, guard, size-check, hash and fully decode the image; fills `row`'s file facts.

    Raises Rejected with the status for anything that is not `ok`.
    """
    if not job.img_path:
        raise Rejected("missing", "img_path is empty")
    resolved = resolve_path(job.img_path, settings.maps, settings.base)
    if not os.path.isabs(resolved):
        # Never read relative to the folder the command happens to run in.
        raise Rejected("missing", clip(f"relative path {resolved} and no base folder "
                                       "(images.base, or an ingested source)"))
    row.resolved_path = os.path.abspath(resolved)
    real = os.path.realpath(resolved)
    # A path that leads nowhere is `missing` wherever it points (the usual case:
    # server paths never mapped); only an existing file outside the roots is a guard hit.
    if not os.path.lexists(real):
        raise Rejected("missing", clip(f"no such file: {real}"))
    if not is_inside(real, settings.roots):
        raise Rejected("outside_root", clip(f"resolves to {real}, outside the allowed roots"))
    data = _read_bounded(real, settings.max_bytes, row)
    row.bytes = len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    row.rehashed = True
    image = _open_header(data, settings.max_pixels, row)
    pixels = image.width * image.height
    if pixels > settings.max_pixels:
        raise Rejected(
            "too_large",
            f"{image.width}x{image.height} = {pixels:,} pixels "
            f"> max_pixels {settings.max_pixels:,}",
        )
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too_large", clip(f"while decoding: {one_line(exc)}")) from exc
    except Exception as exc:
        raise Rejected("unreadable", clip(f"cannot decode: {one_line(exc)}")) from exc
    # Decoded: the EXIF orientation is known now without reading more (a PNG may keep
    # its eXIf chunk after the pixels), so the size is the one every step sees.
    row.width, row.height = displayed_size(image)
    return Decoded(data, image)


def _read_bounded(real: str, max_bytes: int, row: Row) -> bytes:
    """The whole file, read once (hash and decoder see the same bytes), at most max_bytes."""
    try:
        # O_NOFOLLOW: `real` has no symlinks left, so one appearing now is a swap after the check.
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
        flags = os.O_RDONLY
        for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_BINARY"):
            flags |= getattr(os, name, 0)
        fd = os.open(real, flags)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise Rejected("missing", "no such file") from exc
    except OSError as exc:
        raise Rejected("unreadable", clip(f"cannot open: {one_line(exc)}")) from exc
    try:
        info = os.fstat(fd)
        # A FIFO or device would block or never end; a directory cannot be an image.
        if not stat.S_ISREG(info.st_mode):
            raise Rejected("unreadable", "not a regular file")
        row.bytes = info.st_size
        row.file_size, row.file_mtime_ns = info.st_size, info.st_mtime_ns
        if info.st_size > max_bytes:
            raise Rejected("too_large", f"{info.st_size:,} bytes > max_bytes {max_bytes:,}")
        with os.fdopen(fd, "rb") as fh:
            fd = -1  # closed by the file object from here on
            data = fh.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # it grew while we read it
        raise Rejected("too_large", f"more than max_bytes {max_bytes:,} bytes")
    if not data:
        raise Rejected("unreadable", "empty file (0 bytes)")
    return data


def _open_header(data: bytes, max_pixels: int, row: Row) -> Image.Image:
    """The image with only its header read; fills size (as stored), format and original
    mode into `row`."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's message gives the pixel count; its limit reads as 2 x max_pixels, so say ours.
        raise Rejected(
            "too_large", clip(f"more than max_pixels {max_pixels:,}: {one_line(exc)}")
        ) from exc
    except UnidentifiedImageError as exc:
        raise Rejected(
            "unreadable", f"not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})"
        ) from exc
    row.width, row.height = image.size
    row.format, row.mode = image.format, image.mode
    return image


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its type when it has no message."""
    text = " ".join(str(exc).split())
    return clip(text or type(exc).__name__)


def clip(text: str) -> str:
    """`text` cut to _DETAIL_MAX_CHARS characters, so a status_detail stays one short line."""
    text = " ".join(text.split())
    if len(text) <= _DETAIL_MAX_CHARS:
        return text
    return text[: _DETAIL_MAX_CHARS - 1] + "…"
