"""Check every image file the marts need and copy the labelled ones into the dataset layout.

The safe successor of the team's `get_ness_file.py`: every image of `full_set`
and `big_set` becomes one row of `files.images` with a status (`ok`, `missing`,
`unreadable`, `too_large`, `outside_root`), and every usable `full_set` image is
copied to `<dest>/<rating>/<image_id>.jpg` as an RGB JPEG.

Safety rules, in the order they are applied to each path:
- a path may only be read when its real path (symlinks followed) lies inside an
  allowed root; otherwise it is `outside_root` and the file is never opened
  (a path that leads nowhere is `missing`);
- the file's size is checked before reading and its pixel count (from the
  header) before decoding, so a decompression bomb costs only its header;
- any exception from a source file becomes a status row, never a crash.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_images_table
from neurostock.core.warehouse import connect, resolve_warehouse

STATUSES = ("ok", "missing", "unreadable", "too_large", "outside_root")
BATCH_SIZE = 500
JPEG_QUALITY = 95
RATINGS = (0, 1, 2, 3)
# Formats Pillow may try (its JPEG opener also reads MPO). Every other decoder is
# refused: the team's files are JPEG and PNG, and rarely used decoders are where
# image libraries' bugs live.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_DETAIL_MAX_CHARS = 200
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WHITE = (255, 255, 255)


# The order of files.images' columns; _Row.values() follows it.
COLUMNS = (
    "image_id", "set_name", "img_path", "resolved_path", "status", "status_detail", "bytes",
    "sha256", "width", "height", "format", "mode", "dataset_path", "dataset_sha256",
    "checked_at",
)
_TYPES = {"image_id": pa.int64(), "bytes": pa.int64(), "width": pa.int32(),
          "height": pa.int32(), "checked_at": pa.timestamp("us", tz="UTC")}
_ARROW_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in COLUMNS])


@dataclass(frozen=True)
class PathMap:
    """Replace a leading `source_prefix` of an image path with `target_prefix`.

    Prefixes match whole path components: `/media/s1` maps `/media/s1/x.jpg`
    but not `/media/s10/x.jpg`.
    """

    source_prefix: str
    target_prefix: str

    @classmethod
    def parse(cls, text: str) -> PathMap:
        """`FROM=TO` as a PathMap (split at the first `=`); NeurostockError for anything else."""
        source, sep, target = (text or "").partition("=")
        if not sep or not source or not target:
            raise NeurostockError(
                f"bad path map {text!r}: expected FROM=TO, "
                "e.g. /media/s1/dataset/neurostocker=/mnt/neurostocker"
            )
        return cls(source, target)

    def apply(self, path: str) -> str | None:
        """`path` with the prefix replaced, or None when the prefix does not match."""
        source = self.source_prefix.rstrip("/")
        if source == "":  # the map's source is "/": every absolute path matches
            if not path.startswith("/"):
                return None
            rest = path
        elif path == source:
            rest = ""
        elif path.startswith(source + "/"):
            rest = path[len(source):]
        else:
            return None
        mapped = self.target_prefix.rstrip("/") + rest
        return mapped or self.target_prefix


@dataclass(frozen=True)
class SyncSummary:
    """What one `sync_images` call did: images checked, their statuses, copies made and skipped."""

    total: int
    by_status: dict[str, int]
    copied: int
    skipped_copies: int
    seconds: float


@dataclass(frozen=True)
class _Previous:
    """What the last sync recorded for an image: enough to know whether its copy is current."""

    sha256: str | None
    dataset_path: str | None
    dataset_sha256: str | None


@dataclass(frozen=True)
class _Job:
    """One image to check (and, for full_set, to copy)."""

    image_id: int
    set_name: str
    img_path: str | None
    rating: int | None
    previous: _Previous | None


@dataclass(frozen=True)
class _Settings:
    """Everything a worker needs besides its job; shared read-only by all threads."""

    maps: tuple[PathMap, ...]
    roots: tuple[str, ...]
    dest: Path
    max_pixels: int
    max_bytes: int


@dataclass
class _Row:
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
    copied: bool = False
    skipped_copy: bool = False

    def values(self) -> tuple:
        """The row's values in the order of COLUMNS."""
        return tuple(getattr(self, name) for name in COLUMNS)


@dataclass
class _Tally:
    """Running counts of a sync, for its summary."""

    statuses: Counter[str] = field(default_factory=Counter)
    copied: int = 0
    skipped_copies: int = 0

    def add(self, row: _Row) -> None:
        """Count one finished row."""
        self.statuses[row.status] += 1
        self.copied += row.copied
        self.skipped_copies += row.skipped_copy


class _Rejected(Exception):
    """A source file that gets a status other than `ok`; carries the status and its detail."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _DestinationError(Exception):
    """Writing the dataset copy failed: the destination's fault, so the whole run stops."""


@dataclass
class _Decoded:
    """A source file that passed every check: its bytes and the fully decoded picture."""

    data: bytes
    image: Image.Image


def sync_images(
    warehouse: str | Path | None,
    maps: Sequence[PathMap] = (),
    dest: str | Path = "all_data",
    roots: Sequence[str | Path] = (),
    workers: int = 4,
    max_pixels: int = 64_000_000,
    max_bytes: int = 100_000_000,
    progress: bool = True,
) -> SyncSummary:
    """Check every image of full_set and big_set, record it in files.images, copy the usable
    full_set ones to `dest/<rating>/<image_id>.jpg`.

    Rows are written every BATCH_SIZE images, so a killed run keeps what it
    finished; a copy whose source and destination are unchanged is not made
    again. Rows of images no longer in either mart are deleted at the end.
    Raises NeurostockError for problems of the run (no marts, bad arguments, an
    unwritable destination), never for a problem of one file.
    """
    started = time.perf_counter()
    _check_limits(workers, max_pixels, max_bytes)
    maps = tuple(maps)
    target = resolve_warehouse(warehouse)
    # connect() would create an empty warehouse; a sync has nothing to do without one.
    if not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    with connect(target) as con:
        _require_mart(con, "full_set", ("image_id", "rating", "img_path"))
        _require_mart(con, "big_set", ("image_id", "img_path"))
        settings = _Settings(
            maps=maps,
            roots=_allowed_roots(con, roots, maps),
            dest=Path(os.path.abspath(dest)),
            max_pixels=max_pixels,
            max_bytes=max_bytes,
        )
        ensure_images_table(con)
        jobs = _load_jobs(con)
        if any(job.set_name == "full_set" for job in jobs):
            _make_rating_folders(settings.dest)
        tally = _run_jobs(con, jobs, settings, workers, progress)
        _delete_rows_not_in_marts(con)
    return SyncSummary(
        total=len(jobs),
        by_status={status: tally.statuses[status] for status in STATUSES},
        copied=tally.copied,
        skipped_copies=tally.skipped_copies,
        seconds=time.perf_counter() - started,
    )


def _check_limits(workers: int, max_pixels: int, max_bytes: int) -> None:
    """Refuse limits that would make every image fail or the pool impossible."""
    for name, value in (("workers", workers), ("max_pixels", max_pixels),
                        ("max_bytes", max_bytes)):
        if not isinstance(value, int) or value < 1:
            raise NeurostockError(f"{name} must be a positive whole number, got {value!r}")


def _allowed_roots(
    con: duckdb.DuckDBPyConnection, roots: Sequence[str | Path], maps: Sequence[PathMap]
) -> tuple[str, ...]:
    """Real paths of the folders images may be read from: `roots`, else the maps' targets,
    else the folder of the last ingested source file (the sample writes images there)."""
    chosen = [str(root) for root in roots] or [m.target_prefix for m in maps]
    if not chosen:
        try:
            last = con.execute(
                "select source_path from meta.loads order by load_id desc limit 1"
            ).fetchone()
        except duckdb.CatalogException:
            last = None
        if last is None or not last[0]:
            raise NeurostockError(
                "no folder to read images from: give roots or path maps, "
                "or run `neurostock ingest` first"
            )
        chosen = [str(Path(last[0]).parent)]
    return tuple(os.path.realpath(os.path.expanduser(root)) for root in chosen)


def _load_jobs(con: duckdb.DuckDBPyConnection) -> list[_Job]:
    """One job per image of full_set and big_set (full_set wins should an id be in both),
    with what the previous sync recorded for it."""
    rows = con.execute(
        """
        with wanted as (
            select image_id, 'full_set' as set_name, img_path, rating, 0 as priority
            from full_set
            union all
            select image_id, 'big_set', img_path, null, 1 from big_set
        )
        select w.image_id, w.set_name, w.img_path, w.rating,
               i.image_id is not null, i.sha256, i.dataset_path, i.dataset_sha256
        from wanted w
        left join files.images i using (image_id)
        where w.image_id is not null
        qualify row_number() over (partition by w.image_id order by w.priority) = 1
        order by w.image_id
        """
    ).fetchall()
    return [
        _Job(image_id, set_name, img_path, rating,
             _Previous(sha, dataset_path, dataset_sha) if seen else None)
        for image_id, set_name, img_path, rating, seen, sha, dataset_path, dataset_sha in rows
    ]


def _require_mart(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> None:
    """NeurostockError naming the table (or its missing columns) unless it can be read."""
    try:
        con.execute(f"select {', '.join(columns)} from {table} limit 0")
    except duckdb.CatalogException as exc:
        raise NeurostockError(
            f"warehouse has no table {table}: run `neurostock build` first"
        ) from exc
    except duckdb.BinderException as exc:
        raise NeurostockError(
            f"table {table} lacks one of the columns {', '.join(columns)}: "
            "run `neurostock build` again"
        ) from exc


def _make_rating_folders(dest: Path) -> None:
    """Create `dest/0` … `dest/3` up front, so an unwritable destination fails once, clearly."""
    try:
        for rating in RATINGS:
            (dest / str(rating)).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeurostockError(
            f"cannot create dataset folder under {dest}: {_one_line(exc)}"
        ) from exc


def _run_jobs(
    con: duckdb.DuckDBPyConnection,
    jobs: Sequence[_Job],
    settings: _Settings,
    workers: int,
    progress: bool,
) -> _Tally:
    """Process the jobs on a thread pool, upserting rows into files.images every BATCH_SIZE.

    Only this (the calling) thread uses the DuckDB connection. On an error or an
    interrupt the rows already finished are written before it propagates, and
    jobs not yet started are cancelled.
    """
    tally = _Tally()
    pending: list[_Row] = []
    bar = tqdm(total=len(jobs), unit="img", desc="images", file=sys.stderr,
               disable=not progress)
    with _pillow_pixel_limit(settings.max_pixels), ThreadPoolExecutor(workers) as pool:
        futures: list[Future[_Row]] = [pool.submit(_process, job, settings) for job in jobs]
        try:
            for future in as_completed(futures):
                try:
                    row = future.result()
                except _DestinationError as exc:
                    raise NeurostockError(str(exc)) from exc
                tally.add(row)
                pending.append(row)
                bar.update()
                if len(pending) >= BATCH_SIZE:
                    _write_rows(con, pending)
                    pending = []
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            _write_rows(con, pending)
            bar.close()
    return tally


def _write_rows(con: duckdb.DuckDBPyConnection, rows: list[_Row]) -> None:
    """Upsert `rows` into files.images by image_id (one statement, autocommitted)."""
    if not rows:
        return
    # One Arrow batch, not executemany: DuckDB runs executemany row by row (~4 ms a row).
    batch = pa.Table.from_pylist([dict(zip(COLUMNS, row.values(), strict=True)) for row in rows],
                                 schema=_ARROW_SCHEMA)
    columns = ", ".join(COLUMNS)
    con.register("neurostock_image_rows", batch)
    try:
        con.execute(
            f"insert or replace into files.images ({columns}) "
            f"select {columns} from neurostock_image_rows"
        )
    finally:
        con.unregister("neurostock_image_rows")


def _delete_rows_not_in_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Remove rows of images that are in neither mart, so files.images mirrors what they need."""
    # `not exists` rather than `not in`: one null id in a mart would make `not in` delete nothing.
    con.execute(
        """
        delete from files.images i
        where not exists (select 1 from full_set f where f.image_id = i.image_id)
          and not exists (select 1 from big_set b where b.image_id = i.image_id)
        """
    )


@contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
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


def _process(job: _Job, settings: _Settings) -> _Row:
    """Check one image and, for a usable full_set image, copy it; every source problem is a
    status on the returned row. Only _DestinationError escapes."""
    row = _Row(job.image_id, job.set_name, job.img_path)
    try:
        decoded = _check(job, settings, row)
        row.status = "ok"
    except _Rejected as rejected:
        row.status, row.status_detail = rejected.status, rejected.detail
        return row
    except Exception as exc:  # a hostile file may break Pillow in ways nobody listed
        row.status, row.status_detail = "unreadable", _one_line(exc)
        return row
    if job.set_name == "full_set":
        _copy_into_dataset(job, decoded, settings, row)
    return row


def _check(job: _Job, settings: _Settings, row: _Row) -> _Decoded:
    """Resolve, guard, size-check, hash and fully decode the image; fills `row`'s file facts.

    Raises _Rejected with the status for anything that is not `ok`.
    """
    if not job.img_path:
        raise _Rejected("missing", "img_path is empty")
    resolved = resolve_path(job.img_path, settings.maps)
    row.resolved_path = os.path.abspath(resolved)
    real = os.path.realpath(resolved)
    # A path that leads nowhere is `missing` wherever it points (the usual case:
    # server paths never mapped); only an existing file outside the roots is a guard hit.
    if not os.path.lexists(real):
        raise _Rejected("missing", _clip(f"no such file: {real}"))
    if not is_inside(real, settings.roots):
        raise _Rejected("outside_root", _clip(f"resolves to {real}, outside the allowed roots"))
    data = _read_bounded(real, settings.max_bytes, row)
    row.bytes = len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    image = _open_header(data, settings.max_pixels, row)
    pixels = image.width * image.height
    if pixels > settings.max_pixels:
        raise _Rejected(
            "too_large",
            f"{image.width}x{image.height} = {pixels:,} pixels "
            f"> max_pixels {settings.max_pixels:,}",
        )
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _Rejected("too_large", _clip(f"while decoding: {_one_line(exc)}")) from exc
    except Exception as exc:
        raise _Rejected("unreadable", _clip(f"cannot decode: {_one_line(exc)}")) from exc
    return _Decoded(data, image)


def resolve_path(img_path: str, maps: Sequence[PathMap]) -> str:
    """`img_path` rewritten by the first map whose prefix it starts with (unchanged if none)."""
    for path_map in maps:
        mapped = path_map.apply(img_path)
        if mapped is not None:
            return mapped
    return img_path


def is_inside(real_path: str, roots: Sequence[str]) -> bool:
    """True when `real_path` is one of `roots` or lies below one (both already realpath'd)."""
    for root in roots:
        prefix = root if root.endswith(os.sep) else root + os.sep
        if real_path == root or real_path.startswith(prefix):
            return True
    return False


def _read_bounded(real: str, max_bytes: int, row: _Row) -> bytes:
    """The whole file, read once (hash and decoder see the same bytes), at most max_bytes."""
    try:
        # O_NOFOLLOW: `real` has no symlinks left, so one appearing now is a swap after the check.
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
        flags = os.O_RDONLY
        for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_BINARY"):
            flags |= getattr(os, name, 0)
        fd = os.open(real, flags)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise _Rejected("missing", "no such file") from exc
    except OSError as exc:
        raise _Rejected("unreadable", _clip(f"cannot open: {_one_line(exc)}")) from exc
    try:
        info = os.fstat(fd)
        # A FIFO or device would block or never end; a directory cannot be an image.
        if not stat.S_ISREG(info.st_mode):
            raise _Rejected("unreadable", "not a regular file")
        row.bytes = info.st_size
        if info.st_size > max_bytes:
            raise _Rejected("too_large", f"{info.st_size:,} bytes > max_bytes {max_bytes:,}")
        with os.fdopen(fd, "rb") as fh:
            fd = -1  # closed by the file object from here on
            data = fh.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # it grew while we read it
        raise _Rejected("too_large", f"more than max_bytes {max_bytes:,} bytes")
    if not data:
        raise _Rejected("unreadable", "empty file (0 bytes)")
    return data


def _open_header(data: bytes, max_pixels: int, row: _Row) -> Image.Image:
    """The image with only its header read; fills size, format and original mode into `row`."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's message gives the pixel count; its limit reads as 2 x max_pixels, so say ours.
        raise _Rejected(
            "too_large", _clip(f"more than max_pixels {max_pixels:,}: {_one_line(exc)}")
        ) from exc
    except UnidentifiedImageError as exc:
        raise _Rejected(
            "unreadable", f"not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})"
        ) from exc
    row.width, row.height = image.size
    row.format, row.mode = image.format, image.mode
    return image


def _copy_into_dataset(job: _Job, decoded: _Decoded, settings: _Settings, row: _Row) -> None:
    """Write `dest/<rating>/<image_id>.jpg` unless the previous copy is still current.

    An RGB JPEG is copied byte for byte; anything else is converted to an RGB
    JPEG. A conversion failure makes the row `unreadable`; a write failure
    raises _DestinationError.
    """
    if job.rating not in RATINGS:
        row.status_detail = f"rating {job.rating!r} is not 0-3: not copied"
        return
    target = settings.dest / str(job.rating) / f"{job.image_id}.jpg"
    row.dataset_path = str(target)
    previous = job.previous
    if (
        previous is not None
        and previous.sha256 == row.sha256
        and previous.dataset_path == row.dataset_path
        and previous.dataset_sha256 is not None
        and _sha256_of_file(target) == previous.dataset_sha256
    ):
        row.dataset_sha256 = previous.dataset_sha256
        row.skipped_copy = True
        return
    if row.format == "JPEG" and row.mode == "RGB":
        payload = decoded.data
    else:
        try:
            payload = encode_rgb_jpeg(decoded.image)
        except Exception as exc:
            row.dataset_path = None
            row.status = "unreadable"
            row.status_detail = _clip(f"cannot convert mode {row.mode} to RGB: {_one_line(exc)}")
            return
    _write_atomically(target, payload)
    row.dataset_sha256 = hashlib.sha256(payload).hexdigest()
    row.copied = True


def encode_rgb_jpeg(image: Image.Image) -> bytes:
    """`image` as RGB JPEG bytes (quality JPEG_QUALITY), keeping its EXIF (e.g. orientation)."""
    rgb = to_rgb(image)
    options: dict = {"quality": JPEG_QUALITY}
    exif = image.info.get("exif")
    # JPEG's APP1 segment holds at most 65,533 bytes; a bigger block is dropped, not fatal.
    if isinstance(exif, bytes) and len(exif) < 65_000:
        options["exif"] = exif
    # An ICC profile describes the source's colour space, so it stays true only for RGB sources.
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "RGBa", "P", "PA"):
        options["icc_profile"] = icc
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB that looks like the original on a white page.

    Transparency is composited on white (dropping alpha would turn transparent
    pixels black); 16-bit and 32-bit greyscale is scaled, not clipped; CMYK
    goes through Pillow, which also undoes Adobe's inverted CMYK on decode.
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _ALPHA_MODES or mode == "P" or "transparency" in image.info:
        return _on_white(image.convert("RGBA"))
    if mode.startswith("I") or mode == "F":
        return _grey_to_8bit(image).convert("RGB")
    return image.convert("RGB")


def _on_white(rgba: Image.Image) -> Image.Image:
    """An RGBA image composited over an opaque white background, as RGB."""
    page = Image.new("RGB", rgba.size, _WHITE)
    page.paste(rgba, mask=rgba.getchannel("A"))
    return page


def _grey_to_8bit(image: Image.Image) -> Image.Image:
    """A wide greyscale image (I;16*, I, F) as mode L, its range mapped linearly onto 0-255.

    The range is the type's (0-65535 for 16-bit and for `I` data that fits it,
    0-1 for `F` data that fits it); other data is stretched from its own
    minimum to maximum.
    """
    values = np.asarray(image)
    low, high = float(values.min()), float(values.max())
    if image.mode.startswith("I;16") and values.dtype.kind == "u":
        low, high = 0.0, 65535.0
    elif image.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    span = (high - low) or 1.0
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / span)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _write_atomically(target: Path, payload: bytes) -> None:
    """Write `payload` to `target` through a temporary file and os.replace, so `target` is
    either the old file or the whole new one. Raises _DestinationError on failure."""
    temp_name = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as temp:
            temp_name = temp.name
            temp.write(payload)
        os.replace(temp_name, target)
    except OSError as exc:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
        raise _DestinationError(f"cannot write {target}: {_one_line(exc)}") from exc


def _sha256_of_file(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read (then the copy is redone)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: its type when it has no message."""
    text = " ".join(str(exc).split())
    return _clip(text or type(exc).__name__)


def _clip(text: str) -> str:
    """`text` cut to _DETAIL_MAX_CHARS characters, so a status_detail stays one short line."""
    text = " ".join(text.split())
    if len(text) <= _DETAIL_MAX_CHARS:
        return text
    return text[: _DETAIL_MAX_CHARS - 1] + "…"
