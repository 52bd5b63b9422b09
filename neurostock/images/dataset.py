"""The dataset copies: `DIR/<rating 0-3>/<image_id>.jpg` for every usable full_set image,
and `DIR/4/<image_id>.jpg` (the team's folder for images rated unusable) with
`copy_unusable`; the folders, where a copy goes, and whether the last one is current.

A copy is an RGB JPEG whose pixels stand the way a viewer shows the source: an RGB
JPEG without an EXIF orientation (or with orientation 1) is copied byte for byte;
anything else goes through `neurostock.core.imaging.encode_rgb_jpeg` (turned upright,
transparency on white, EXIF kept without its orientation tag). A copy made before this
rule is kept while its source is unchanged; remove it to have it made again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256, write_atomically
from neurostock.core.imaging import encode_rgb_jpeg, exif_orientation
from neurostock.images.checks import Decoded, Job, Row, Settings, clip, one_line

RATINGS = (0, 1, 2, 3)
# The team's folder for images rated unusable (rating 5 on the file's scale).
UNUSABLE_FOLDER = 4


class DestinationError(Exception):
    """Writing the dataset copy failed: the destination's fault, so the whole run stops."""


def wants_copy(job: Job) -> bool:
    """Whether the job copies into the dataset folder (full_set's always; an unusable
    image's with copy_unusable; a pool row's never)."""
    return job.set_name in ("full_set", "unusable") and job.folder is not None


def copy_target(dest: Path, job: Job) -> Path:
    """Where the job's copy goes: `dest/<folder>/<image_id>.jpg`."""
    return dest / str(job.folder) / f"{job.image_id}.jpg"


def make_dataset_folders(dest: Path, jobs: pa.Table) -> None:
    """Create `dest/0` … `dest/3` (and `dest/4` for unusable images) up front when some job
    of the selection's table copies there, so an unwritable destination fails once, clearly."""
    folders: set[int] = set()
    if "full_set" in pc.unique(jobs["set_name"]).to_pylist():
        folders.update(RATINGS)
    copied_unusable = pc.and_(pc.equal(jobs["set_name"], "unusable"), pc.is_valid(jobs["folder"]))
    if pc.any(copied_unusable).as_py():
        folders.add(UNUSABLE_FOLDER)
    try:
        for folder in sorted(folders):
            (dest / str(folder)).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeurostockError(
            f"cannot create dataset folder under {dest}: {one_line(exc)}"
        ) from exc


def copy_into_dataset(job: Job, decoded: Decoded, settings: Settings, row: Row) -> None:
    """Write `dest/<folder>/<image_id>.jpg` unless the previous copy is still current.

    An upright RGB JPEG is copied byte for byte; anything else is converted to an
    upright RGB JPEG. A conversion failure makes the row `unreadable`; a write
    failure raises DestinationError.
    """
    if job.set_name == "full_set" and job.folder not in RATINGS:
        row.status_detail = f"rating {job.folder!r} is not 0-3: not copied"
        return
    target = copy_target(settings.dest, job)
    row.dataset_path = str(target)
    previous = job.previous
    if (
        previous is not None
        and previous.sha256 == row.sha256
        and previous.dataset_path == row.dataset_path
        and previous.dataset_sha256 is not None
        and sha256_or_none(target) == previous.dataset_sha256
    ):
        row.dataset_sha256 = previous.dataset_sha256
        row.skipped_copy = True
        return
    if row.format == "JPEG" and row.mode == "RGB" and exif_orientation(decoded.image) == 1:
        payload = decoded.data
    else:
        try:
            payload = encode_rgb_jpeg(decoded.image)
        except Exception as exc:
            row.dataset_path = None
            row.status = "unreadable"
            row.status_detail = clip(f"cannot convert mode {row.mode} to RGB: {one_line(exc)}")
            return
    try:
        write_atomically(target, payload)
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {one_line(exc)}") from exc
    row.dataset_sha256 = hashlib.sha256(payload).hexdigest()
    row.copied = True


def sha256_or_none(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read (then the copy is redone)."""
    try:
        return file_sha256(path)
    except OSError:
        return None
