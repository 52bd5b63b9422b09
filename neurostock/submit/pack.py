"""`neurostock submit`: the upload pack of one marketplace policy, read from the
warehouse's `submission_decisions` (a reader: no lock).

DIR/images/<name>.jpg    every image with verdict `submit`: sRGB JPEG, no EXIF, XMP with
                         the title, keywords and IPTC digital source type
                         trainedAlgorithmicMedia; names of at most the policy's length
                         (extension included), unique
DIR/<policy>.csv         the upload CSV (split into <policy>_2.csv, ... past the row or
                         byte limit), UTF-8, quoted by the csv module
DIR/declarations.csv     per file: "Created using generative AI tools", whether
                         "People and Property are fictional" must be ticked, and the
                         content type (photo for photorealistic prompts, else illustration)
DIR/to_upscale/, upscale.csv   images whose only problem is resolution, and the factor
DIR/manifest.json        policy and rules, counts per verdict and reason, the pack id, the
                         sell decision the quality rule applied (score, threshold,
                         out-of-sample precision with its 95% interval, rated images
                         measured on, coverage, shift warning) and how many of the pack's
                         images it expects to be sellable; the files written with their
                         sha256 (the record of neurostock.core.outputs)
Once every file is written, the pack's images go into the submission ledger
(`annotations.submissions`, neurostock/submit/ledger.py): an image of an earlier pack
(not withdrawn) is not packed again unless `resubmit` names it, and a motif gets at most
the policy's `max_versions_per_motif` images over all packs. `submit` holds the
warehouse's writer lock from its first read to the ledger's last row.
A file whose bytes would not change is not written again. A later run replaces or
removes only the files this record lists that are still what it wrote, inside DIR
(neurostock.core.outputs: anything else is told in one line and left alone).

A source image is opened only while it is the file `images sync` checked: real path
inside the allowed roots, a regular file within `images: max_bytes`, of the size and
mtime files.images recorded (neurostock.images.recorded, the rule the rating app
uses too); any other is left out of the pack, named in the manifest's notes and in
one progress line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import struct
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageCms

from neurostock.core.config import ImagesConfig
from neurostock.core.csvsafe import safe_rows
from neurostock.core.errors import NeurostockError
from neurostock.core.imaging import JPEG_QUALITY, to_rgb
from neurostock.core.outputs import Outputs
from neurostock.core.warehouse import connect, resolve_warehouse
from neurostock.deliver.selection import unseen_figures
from neurostock.images.recorded import FileRefused, FileRules, read_recorded
from neurostock.submit.ledger import MotifBudget, Sent, new_pack_id, record_pack
from neurostock.submit.policy import Policy, load_policy

MANIFEST = "manifest.json"
IMAGES_DIR = "images"
UPSCALE_DIR = "to_upscale"
UPSCALE_LIST = "upscale.csv"
DECLARATIONS = "declarations.csv"
# Little words a file name can do without ("jellyfish-glowing-dark", not "a-jellyfish-in").
_NAME_SKIP = frozenset("a an the of in on at and with by for to".split())


def _srgb_profile() -> bytes:
    """LittleCMS's sRGB profile with a fixed creation date. It writes the time it made
    the profile into the header (bytes 24-35, six big-endian uint16: year to second; the
    profile ID, bytes 84-99, stays zero), so without this the same image gave a new file
    in every run, and `submit` rewrote every unchanged image of a pack."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return bytes(data)


_SRGB_BYTES = _srgb_profile()
_SRGB = ImageCms.ImageCmsProfile(io.BytesIO(_SRGB_BYTES))


@dataclass(frozen=True)
class PackSummary:
    out_dir: Path
    n_submit: int
    n_images: int
    n_upscaled_in: int
    n_to_upscale: int
    n_csv_files: int
    n_written: int
    n_unchanged: int
    counts: dict
    # Source files refused (not what `images sync` checked): left out, in the notes.
    n_refused: int = 0
    # Files in DIR changed since the last pack wrote them (or not its own): kept.
    n_kept: int = 0
    pack_id: str = ""
    # Images with verdict submit left out by the ledger: sent in an earlier pack, or
    # their motif's versions used up.
    n_sent_before: int = 0
    n_motif_full: int = 0
    # The sell decision of the quality rule and what it expects of this pack
    # (manifest.json's `decision`); None: the percentile override, or no policy built.
    decision: dict | None = None


def short_name(title: str, image_id: int, max_chars: int, suffix: str = ".jpg") -> str:
    """`<title words>-<image id><suffix>` in lower-case ASCII without little words, at most
    `max_chars`; the image id keeps names unique."""
    ascii_title = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode()
    words = [w for w in re.findall(r"[a-z0-9]+", ascii_title.lower()) if w not in _NAME_SKIP]
    tail = f"-{image_id}{suffix}" if words else f"image-{image_id}{suffix}"
    room = max_chars - len(tail)
    if room < 0:
        raise NeurostockError(f"image id {image_id} is too long for a {max_chars}-character name")
    stem = ""
    for word in words:
        candidate = f"{stem}-{word}" if stem else word
        if len(candidate) > room:
            break
        stem = candidate
    if not stem and words:
        stem = words[0][:room]
    return f"{stem}{tail}" if stem else tail.lstrip("-")


# IPTC's digital source type for media made by a trained model (generative AI), the
# value Adobe Stock and other agencies read to label an upload as AI-generated.
TRAINED_ALGORITHMIC_MEDIA = ("http://cv.iptc.org/newscodes/digitalsourcetype/"
                             "trainedAlgorithmicMedia")


def xmp_packet(title: str, keywords: list[str]) -> bytes:
    """An XMP packet: dc:title and dc:description (the title), dc:subject (the keywords,
    in their order of importance) and Iptc4xmpExt:DigitalSourceType
    trainedAlgorithmicMedia. Contributor tools and agencies read these from the file."""
    items = "".join(f"<rdf:li>{escape(k)}</rdf:li>" for k in keywords)
    alt = f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt>'
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f"<dc:title>{alt}</dc:title><dc:description>{alt}</dc:description>"
        f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>"
        f"<Iptc4xmpExt:DigitalSourceType>{TRAINED_ALGORITHMIC_MEDIA}"
        "</Iptc4xmpExt:DigitalSourceType>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>')
    return text.encode("utf-8")


def jpeg_bytes(path: str | Path | bytes, quality: int = JPEG_QUALITY,
               xmp: bytes | None = None) -> tuple[bytes, int, int]:
    """The image at `path` (or the image file's bytes) as an sRGB JPEG without EXIF
    (turned upright as its EXIF orientation says, transparency on white, an embedded
    colour profile converted to sRGB), carrying `xmp` (an XMP packet) when given, with
    its width and height as displayed."""
    with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as image:
        image.load()
        icc = image.info.get("icc_profile")
        rgb = to_rgb(image)
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(rgb, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # an unreadable profile: the pixels are taken as sRGB
    buffer = io.BytesIO()
    extra = {"xmp": xmp} if xmp else {}
    rgb.save(buffer, format="JPEG", quality=quality, icc_profile=_SRGB_BYTES, **extra)
    return buffer.getvalue(), rgb.width, rgb.height


def csv_chunks(rows: list[list[str]], header: list[str], max_rows: int,
               max_bytes: int) -> list[bytes]:
    """The upload CSV as files of at most `max_rows` rows and `max_bytes` bytes each."""
    def encode(lines: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(safe_rows(lines))
        return buffer.getvalue().encode("utf-8")

    chunks: list[bytes] = []
    current: list[list[str]] = []
    size = len(encode([]))
    for row in rows:
        row_bytes = len(encode([row])) - len(encode([]))
        if current and (len(current) >= max_rows or size + row_bytes > max_bytes):
            chunks.append(encode(current))
            current, size = [], len(encode([]))
        if size + row_bytes > max_bytes:
            raise NeurostockError(f"CSV row for {row[0]} alone is over {max_bytes} bytes")
        current.append(row)
        size += row_bytes
    if current or not chunks:
        chunks.append(encode(current))
    return chunks


def csv_name(policy: str, index: int) -> str:
    return f"{policy}.csv" if index == 1 else f"{policy}_{index}.csv"


class _Writer:
    """Writes the pack's files under DIR through `Outputs` (only when their bytes change,
    only over files the last pack wrote); remembers what it wrote."""

    def __init__(self, outputs: Outputs):
        self.outputs = outputs
        self.files: list[str] = []

    def put(self, relative: str, payload: bytes) -> None:
        self.files.append(relative)
        self.outputs.write(relative, payload)


def _decisions(con, policy: Policy) -> list[dict]:
    exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'main' "
                         "and table_name = 'submission_decisions'").fetchone()[0]
    if not exists:
        raise NeurostockError("table submission_decisions is missing: run `neurostock build`")
    built = [r[0] for r in con.execute(
        "select distinct policy from submission_decisions where policy is not null").fetchall()]
    if built and policy.name not in built:
        raise NeurostockError(
            f"policy {policy.name} is not built in this warehouse (built: {', '.join(built)}): "
            f"set `submission: {{policy: {policy.name}}}` in neurostock.yml and run "
            "`neurostock build`")
    versions = [r[0] for r in con.execute(
        "select distinct policy_version from submission_decisions where policy = ?",
        [policy.name]).fetchall()]
    if versions and versions != [policy.version]:
        raise NeurostockError(
            f"submission_decisions holds policy {policy.name} version {versions[0]}, the file "
            f"says version {policy.version}: run `neurostock build`")
    has_files = con.execute("select count(*) from duckdb_tables() where schema_name = 'files' "
                            "and table_name = 'images'").fetchone()[0]
    # What `images sync` recorded of each file: a file is opened only while it matches.
    recorded = ("f.resolved_path as recorded_path, f.status as file_status, f.file_size, "
                "f.file_mtime_ns" if has_files else
                "null as recorded_path, null as file_status, null as file_size, "
                "null as file_mtime_ns")
    joined = "left join files.images f using (image_id)" if has_files else ""
    cursor = con.execute(
        f"""
        select d.image_id, d.image_set, d.rating, d.verdict, d.reasons, d.quality_score,
               d.title, d.keywords, d.category_id, d.has_fictional_people, d.content_type,
               d.needs_upscaling_only, d.upscale_factor, d.resolved_path, d.width, d.height,
               d.policy_version, coalesce(r.is_sellable, false) as is_sellable,
               d.near_duplicate_group_id, p.prompt_group as motif, {recorded}
        from submission_decisions d {joined}
        left join image_ratings r using (image_id)
        left join pool p using (image_id)
        where d.policy = ?
        order by d.quality_rank desc nulls last, d.image_id
        """, [policy.name])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


DECISION_FIELDS = ("scorer_id", "chosen_by", "is_random_init", "target_precision", "min_kept",
                   "is_reached", "direction", "threshold", "operating_point", "oos_precision",
                   "oos_precision_low", "oos_precision_high", "oos_precision_ci_low",
                   "oos_precision_ci_high", "oos_keep_rate", "measured_on", "coverage",
                   "shift_warning", "reliability", "reason", "measured_by", "forward_reason")


def _decision_rule(con, policy: Policy) -> dict | None:
    """The sell decision the gate applied (submission_decision_rule), or None when the
    quality rule is the percentile override."""
    if policy.params.get("quality_rule", "decision") != "decision":
        return None
    exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'main' "
                         "and table_name = 'submission_decision_rule'").fetchone()[0]
    if not exists:
        raise NeurostockError("table submission_decision_rule is missing: run `neurostock build`")
    cursor = con.execute(f"select {', '.join(DECISION_FIELDS)} from submission_decision_rule "
                         "where policy = ?", [policy.name])
    row = cursor.fetchone()
    if row is None:
        raise NeurostockError(f"submission_decision_rule has no row for policy {policy.name}: "
                              "run `neurostock build`")
    decision = dict(zip(DECISION_FIELDS, row, strict=True))
    # A learned decision model's figures on images it could not have seen, as `select`
    # says them (rpt_learned_forward; None for any other score).
    decision["unseen"], decision["forward_warning"] = (
        unseen_figures(con, decision["scorer_id"]) if decision["scorer_id"] else (None, None))
    if decision.get("measured_by") == "forward in time":
        # The forward figure decides already (forward_reason): the grouped figure's
        # optimism is not what the pack relies on.
        decision["forward_warning"] = None
    return decision


def expected_in_pack(decision: dict | None, n_pool: int, n_rated: int) -> dict | None:
    """What the decision expects of a pack of `n_pool` unrated images (and `n_rated` rated
    ones, sellable by the team's own rating): sellable images, with the 95% interval of
    the out-of-sample precision carried over (the pool's shift warning applies)."""
    if decision is None or not decision["is_reached"]:
        return None
    # Bounds only (the score leaves rated images unscored): the low bound, the cautious one.
    point = decision["oos_precision"]
    if point is None:
        point = decision["oos_precision_low"]
    low, high = decision["oos_precision_ci_low"], decision["oos_precision_ci_high"]

    def times(value: float | None) -> float | None:
        return None if value is None else round(n_rated + n_pool * value, 1)

    return {"unrated_images": n_pool, "rated_sellable_images": n_rated,
            "expected_sellable": times(point),
            "expected_sellable_ci95": [times(low), times(high)]}


def _counts(rows: list[dict]) -> dict:
    verdicts = Counter((r["image_set"], r["verdict"]) for r in rows)
    reasons = Counter((r["image_set"], reason["rule_id"], reason["status"])
                      for r in rows for reason in (r["reasons"] or []))
    return {
        "verdicts": [{"image_set": s, "verdict": v, "n": n}
                     for (s, v), n in sorted(verdicts.items())],
        "reasons": [{"image_set": s, "rule_id": rule, "status": status, "n": n}
                    for (s, rule, status), n in sorted(reasons.items(),
                                                       key=lambda kv: (kv[0][0], -kv[1]))],
    }


def _upscaled_file(folder: Path, stem: str) -> Path | None:
    matches = sorted(p for p in folder.glob(f"{stem}.*") if p.is_file())
    return matches[0] if matches else None


def build_pack(warehouse: str | Path | None, out_dir: str | Path, policy_name: str | None,
               overrides: dict | None = None, limit: int | None = None,
               upscaled: str | Path | None = None, force: bool = False,
               progress: Callable[[str], None] | None = None,
               images: ImagesConfig | None = None,
               resubmit: set[int] | None = None) -> PackSummary:
    """Write the pack of `policy_name` into `out_dir` (see the module docstring), then
    record it in the ledger; source files are read under the rules of `images` (the
    config's `images:`; None: its defaults). `resubmit`: image ids of earlier packs to
    pack again. The caller holds the writer lock (the CLI does)."""
    say = progress or (lambda _m: None)
    policy = load_policy(policy_name, overrides)
    upscaled_dir = Path(upscaled) if upscaled else None
    if upscaled_dir is not None and not upscaled_dir.is_dir():
        raise NeurostockError(f"--upscaled {upscaled_dir} is not a directory")
    if limit is not None and limit < 1:
        raise NeurostockError(f"--limit must be at least 1, got {limit}")
    target = resolve_warehouse(warehouse)
    with connect(target, read_only=True) as con:
        rows = _decisions(con, policy)
        decision = _decision_rule(con, policy)
        rules = FileRules.from_config(con, images)
        replacing = _pack_in(Path(out_dir)) if force else None
        sent = Sent.read(con, replacing)
    if sent.replaced:
        say(f"submit: replaces pack {sent.replaced} in {out_dir}: withdrawn in the ledger "
            "once the new pack is written (its images may be packed again)")
    unknown = sorted((resubmit or set()) - set(sent.images))
    if unknown:
        raise NeurostockError(f"--resubmit: image(s) {', '.join(map(str, unknown[:10]))} are "
                              "in no pack of the ledger (withdrawn packs do not count)")
    ledger = _Ledger(new_pack_id(), sent, resubmit or set(), MotifBudget(
        sent, {r["image_id"]: r["near_duplicate_group_id"] for r in rows},
        int(policy.params.get("max_versions_per_motif", 3))))
    out = Path(out_dir)
    with Outputs(out, command="submit", record=MANIFEST, warehouse=target, force=force,
                 replaces="submission pack", say=say) as outputs:
        summary = _write_pack(outputs, policy, rows, rules, target, limit, upscaled_dir, say,
                              ledger, decision)
    # Only now, with every file and the manifest written: the pack enters the ledger (and
    # the pack it replaced in DIR leaves it: replacing says it was not uploaded).
    record_pack(target, ledger.pack_id, policy.name, policy.version, ledger.packed,
                outputs.root, replaced=sent.replaced)
    return summary


def _pack_in(out: Path) -> str | None:
    """The pack id DIR's manifest names (None: no manifest, or not one of ours)."""
    try:
        value = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("pack_id")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@dataclass
class _Ledger:
    """What the ledger says for this pack, and what it packs."""

    pack_id: str
    sent: Sent
    resubmit: set[int]
    budget: MotifBudget
    packed: list[dict] = field(default_factory=list)
    n_sent_before: int = 0
    n_motif_full: int = 0

    def sent_before(self, row: dict, notes: list[dict]) -> bool:
        """Whether `row` went in an earlier pack and is not named by --resubmit (counted
        and noted when so)."""
        image_id = row["image_id"]
        if image_id in self.sent.images and image_id not in self.resubmit:
            self.n_sent_before += 1
            notes.append({"image_id": image_id, "note": "not packed: sent in pack "
                          f"{self.sent.images[image_id][0]} (--resubmit to send it again)"})
            return True
        return False

    def admits(self, row: dict, notes: list[dict]) -> bool:
        """Whether `row` may go into this pack (noted when not)."""
        image_id = row["image_id"]
        if self.sent_before(row, notes):
            return False
        versions = self.budget.versions(image_id, row["motif"])
        if len(versions) >= self.budget.max_versions:
            self.n_motif_full += 1
            notes.append({"image_id": image_id, "note": (
                f"not packed: {len(versions)} versions of its motif sent or packed already "
                f"(at most {self.budget.max_versions}: images "
                f"{', '.join(map(str, sorted(versions)[:5]))})")})
            return False
        return True


def _write_pack(outputs: Outputs, policy: Policy, rows: list[dict], rules: FileRules,
                target: Path, limit: int | None, upscaled_dir: Path | None,
                say: Callable[[str], None], ledger: _Ledger,
                decision: dict | None = None) -> PackSummary:
    limits = policy.csv
    params = policy.params
    writer = _Writer(outputs)
    max_chars = int(limits["max_filename_chars"])

    def wanted(row: dict) -> bool:
        # A rated image the team did not judge sellable (image_ratings.is_sellable: below
        # good, or unusable) stays out of a pack whatever the gate says: a human said no.
        return row["image_set"] == "pool" or row["is_sellable"]

    chosen = [r for r in rows if r["verdict"] == "submit" and wanted(r)]
    to_upscale = [r for r in rows if r["verdict"] == "hold" and r["needs_upscaling_only"]
                  and wanted(r)]
    csv_rows: list[list[str]] = []
    declarations: list[list[str]] = []
    notes: list[dict] = []
    n_upscaled_in = 0
    refused: list[int] = []

    def source_bytes(row: dict) -> bytes | None:
        """The row's source file as `images sync` checked it; None (noted) otherwise."""
        try:
            if row["file_status"] != "ok" or row["recorded_path"] != row["resolved_path"]:
                raise FileRefused("files.images does not record this file as checked ok: "
                                  "run `neurostock build`")
            return read_recorded(row["resolved_path"], row["file_size"],
                                 row["file_mtime_ns"], rules)
        except FileRefused as exc:
            refused.append(row["image_id"])
            notes.append({"image_id": row["image_id"], "note": f"not packed: {exc.reason}"})
            say(f"submit: image {row['image_id']} not packed: {exc.reason}")
            return None

    def add(row: dict, source: Path, via: str, data: bytes | None = None) -> bool:
        if not (row["title"] or "").strip():
            notes.append({"image_id": row["image_id"],
                          "note": "not packed: no title (nothing of the prompt is left "
                                  "for one once names, filler and symbols are cut)"})
            return False
        if not ledger.admits(row, notes):
            return False
        name = short_name(row["title"], row["image_id"], max_chars)
        title = (row["title"] or "").replace(",", " ")[: int(limits["max_title_chars"])]
        keywords = [k.replace(",", " ") for k in (row["keywords"] or [])]
        keywords = keywords[: int(limits["max_keywords"])]
        try:
            payload, width, height = jpeg_bytes(source if data is None else data,
                                                xmp=xmp_packet(title.strip(), keywords))
        except (OSError, ValueError) as exc:
            notes.append({"image_id": row["image_id"], "note": f"unreadable {source}: {exc}"})
            return False
        megapixels = width * height / 1e6
        if megapixels < params["min_megapixels"] or megapixels > params["max_megapixels"] \
                or len(payload) / 1e6 > params["max_file_mb"]:
            notes.append({"image_id": row["image_id"],
                          "note": f"{via} file {source.name}: {width}x{height}, "
                                  f"{len(payload) / 1e6:.1f} MB JPEG outside the policy"})
            return False
        writer.put(f"{IMAGES_DIR}/{name}", payload)
        csv_rows.append([name, title.strip(), ", ".join(keywords),
                         str(row["category_id"] or ""), ""])
        fictional = {True: "yes", False: "no"}.get(row["has_fictional_people"], "unknown")
        declarations.append([name, str(row["image_id"]), "yes", fictional,
                             row["content_type"] or "illustration"])
        ledger.budget.take(row["image_id"], row["motif"])
        ledger.packed.append({
            "image_id": row["image_id"], "file_name": name,
            "file_sha256": hashlib.sha256(payload).hexdigest(), "title": title.strip(),
            "keywords": keywords, "category_id": row["category_id"], "motif": row["motif"]})
        return True

    for i, row in enumerate(chosen, start=1):
        if limit is not None and len(csv_rows) >= limit:
            break
        if not row["resolved_path"]:
            notes.append({"image_id": row["image_id"], "note": "no image file"})
            continue
        data = source_bytes(row)
        if data is not None:
            add(row, Path(row["resolved_path"]), "source", data)
        if i % 200 == 0:
            say(f"submit: {i:,}/{len(chosen):,} images")

    upscale_lines = []
    for row in to_upscale:
        if ledger.sent_before(row, notes):
            continue  # sent already: no upscaling wanted
        # The stem of the JPEG it will become, so the upscaler's file comes back by name.
        stem = short_name(row["title"], row["image_id"], max_chars).removesuffix(".jpg")
        returned = _upscaled_file(upscaled_dir, stem) if upscaled_dir else None
        if returned is not None and (limit is None or len(csv_rows) < limit):
            if add(row, returned, "upscaled"):
                n_upscaled_in += 1
                continue
        if not row["resolved_path"]:
            continue
        data = source_bytes(row)
        if data is None:
            continue
        factor = float(row["upscale_factor"] or 1)
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgb = to_rgb(image)
        buffer = io.BytesIO()
        rgb.save(buffer, format="PNG")
        writer.put(f"{UPSCALE_DIR}/{stem}.png", buffer.getvalue())
        upscale_lines.append([f"{stem}.png", f"{factor:g}", str(row["image_id"]),
                              str(rgb.width), str(rgb.height),
                              str(math.ceil(rgb.width * factor)),
                              str(math.ceil(rgb.height * factor))])

    header = list(limits["header"])
    chunks = csv_chunks(csv_rows, header, int(limits["max_rows"]), int(limits["max_bytes"]))
    for index, chunk in enumerate(chunks, start=1):
        writer.put(csv_name(policy.name, index), chunk)
    writer.put(DECLARATIONS, _csv_bytes(
        ["Filename", "image_id", "created_using_generative_ai",
         "people_and_property_fictional", "content_type"], declarations))
    if upscale_lines:
        writer.put(UPSCALE_LIST, _csv_bytes(
            ["name", "factor", "image_id", "width", "height", "min_width", "min_height"],
            upscale_lines))
    counts = _counts(rows)
    sets = {r["image_id"]: r["image_set"] for r in chosen}
    n_pool = sum(1 for r in ledger.packed if sets.get(r["image_id"]) == "pool")
    decision_record = None if decision is None else {
        **decision, "pack": expected_in_pack(decision, n_pool, len(ledger.packed) - n_pool)}
    manifest = {
        **policy.describe(),
        "warehouse": str(target),
        "counts": counts,
        "pack_id": ledger.pack_id,
        "decision": decision_record,
        "pack": {"images": len(csv_rows), "from_upscaled": n_upscaled_in,
                 "to_upscale": len(upscale_lines), "csv_files": len(chunks),
                 "left_out_rated_below_good": sum(
                     1 for r in rows if r["verdict"] == "submit" and not wanted(r)),
                 "sent_in_earlier_packs": ledger.n_sent_before,
                 "motif_versions_used_up": ledger.n_motif_full,
                 "limit": limit, "notes": notes},
        "files": sorted([*writer.files, MANIFEST]),
    }
    # The manifest records every file with its sha256; files an earlier pack wrote that
    # this one does not go, when they are still what it wrote (nothing else is touched).
    outputs.finish(manifest)
    return PackSummary(out_dir=outputs.root, n_submit=len(chosen), n_images=len(csv_rows),
                       n_upscaled_in=n_upscaled_in, n_to_upscale=len(upscale_lines),
                       n_csv_files=len(chunks), n_written=outputs.written,
                       n_unchanged=outputs.unchanged, counts=counts, n_refused=len(refused),
                       n_kept=len(outputs.kept), pack_id=ledger.pack_id,
                       n_sent_before=ledger.n_sent_before, n_motif_full=ledger.n_motif_full,
                       decision=decision_record)


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(safe_rows(rows))
    return buffer.getvalue().encode("utf-8")
