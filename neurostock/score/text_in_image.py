"""How much of an image is covered by text, with RapidOCR's bundled PP-OCRv4 models.

Generated images often carry lettering (mostly gibberish) and stock sites reject them
for it, so the area text covers is the score. ``rapidocr_onnxruntime`` 1.4.4 ships its
ONNX models (PP-OCRv4 detection and recognition, a mobile angle classifier) inside the
wheel; they are loaded from there, nothing is downloaded.

Per image:

- Speed: OCR runs on a copy downscaled so that its long side is at most ``MAX_SIDE``
  (1024) pixels (bicubic, aspect kept); smaller images are used as they are.
  Transparent areas are flattened onto white first. The text detector then sees that
  copy at its own size (rounded to multiples of 32): RapidOCR's default would upscale
  every image to a short side of 736 first, which took 2.3 times as long on AGIQA-3K
  (512-1024 px images) and found no more real lettering in a 60-image check.
- A text box is a quadrilateral found by the detector whose recognised text has a
  recognition confidence of at least ``MIN_TEXT_CONFIDENCE`` (RapidOCR's own default)
  and at least ``MIN_TEXT_CHARS`` (2) non-space characters. Why the second rule: on the
  1,200 AGIQA-3K images, 35 of the 98 images with any box had only one-character boxes,
  and those looked at were shapes, not lettering (a heart read as "福", a tree and a
  rabbit as "Y", a starfish as "木"), often covering 40-66 % of the image; real
  (gibberish) lettering came out as longer strings. A lone real letter is missed.
  Lowering the confidence threshold instead found more low-legibility gibberish but
  many more false boxes (a 60-image check), so RapidOCR's 0.5 is kept.
- ``n_boxes``: the number of such boxes.
- ``area_fraction``: the area of the *union* of the boxes divided by the image area,
  measured on the OCR copy by filling the polygons into a pixel mask (so overlapping
  boxes count once, and it can never exceed 1). The detector's boxes are its text
  regions expanded by its unclip ratio (1.6), so they include a small margin.
- ``mean_confidence``: the mean recognition confidence of the boxes (0.0 when none).
- ``text``: the recognised strings in reading order (top to bottom, left to right),
  joined by ``" | "``; None when there is no box.
- ``score`` = ``area_fraction``.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import cv2
import numpy as np
import rapidocr_onnxruntime
from PIL import Image
from rapidocr_onnxruntime import RapidOCR

from neurostock.core.fileio import file_sha256
from neurostock.core.imaging import to_rgb
from neurostock.score.technical import ImageScore

MAX_SIDE = 1024
"""Long side (pixels) of the copy OCR runs on."""

MIN_TEXT_CONFIDENCE = 0.5
"""Recognition confidence below which RapidOCR drops a box (its ``text_score`` default)."""

MIN_TEXT_CHARS = 2
"""Fewest non-space characters a box's text needs to count (one-glyph boxes are shapes)."""

TEXT_SEPARATOR = " | "
"""Joins the strings of an image's boxes in ``text``."""

PACKAGE_DIR = Path(rapidocr_onnxruntime.__file__).resolve().parent
DET_MODEL = PACKAGE_DIR / "models" / "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = PACKAGE_DIR / "models" / "ch_PP-OCRv4_rec_infer.onnx"
CLS_MODEL = PACKAGE_DIR / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def ocr_copy(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """RGB copy of the image, transparency flattened on white, long side <= max_side.

    Raises ValueError for an image with no pixels.
    """
    rgb = to_rgb(image)  # always a copy, so thumbnail() below is safe
    rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return rgb


def union_area_fraction(boxes: list, width: int, height: int) -> float:
    """Fraction of a width x height image covered by the union of quadrilaterals."""
    if not boxes:
        return 0.0
    mask = np.zeros((height, width), dtype=np.uint8)
    for box in boxes:
        polygon = np.rint(np.asarray(box, dtype=np.float64)).astype(np.int32)
        # One call per box: fillPoly given several polygons fills their overlap even-odd
        # (an overlap would count as empty), and we want the union.
        cv2.fillPoly(mask, [polygon], 1)
    return float(np.count_nonzero(mask)) / (width * height)


def counts_as_text(text: str) -> bool:
    """Whether a recognised string has enough characters to count as lettering."""
    return len("".join(str(text).split())) >= MIN_TEXT_CHARS


def to_image_score(ocr_result: list | None, width: int, height: int) -> ImageScore:
    """ImageScore from RapidOCR's ``[[box, text, confidence], ...]`` (None: nothing found).

    Boxes whose text is shorter than ``MIN_TEXT_CHARS`` are dropped before anything is
    counted; RapidOCR has already dropped those below ``MIN_TEXT_CONFIDENCE``.
    """
    rows = [row for row in ocr_result or [] if counts_as_text(row[1])]
    boxes = [row[0] for row in rows]
    confidences = [float(row[2]) for row in rows]
    texts = [str(row[1]).strip() for row in rows]
    area = union_area_fraction(boxes, width, height)
    components = {
        "n_boxes": float(len(rows)),
        "area_fraction": area,
        "mean_confidence": float(np.mean(confidences)) if confidences else 0.0,
    }
    if not all(np.isfinite(value) for value in components.values()):
        return ImageScore(None, {}, error=f"non-finite components: {components}")
    text = TEXT_SEPARATOR.join(t for t in texts if t) or None
    return ImageScore(area, components, text=text)


class TextInImage:
    """Fraction of an image covered by text found by RapidOCR (PP-OCRv4, bundled models).

    ``score`` is ``area_fraction`` (0-1): the union of the text boxes over the image area;
    ``components`` are ``n_boxes``, ``area_fraction`` and ``mean_confidence``; ``text`` is
    what was read, joined by " | " (None when nothing). See the module docstring for the
    downscaling (long side <= 1024) and thresholds. The models are loaded once, in the
    constructor, with ``threads`` onnxruntime threads each. An image that cannot be
    scored gets ``score`` None, empty ``components`` and ``error``; nothing is raised.
    """

    scorer_id = "text_in_image"

    def __init__(self, threads: int = 2):
        self.weights_path = DET_MODEL
        self.weights_sha256 = file_sha256(DET_MODEL)
        self.version = (
            f"rapidocr_onnxruntime {importlib.metadata.version('rapidocr_onnxruntime')} "
            f"{DET_MODEL.name} {REC_MODEL.name} max_side={MAX_SIDE} det_limit=max "
            f"min_confidence={MIN_TEXT_CONFIDENCE} min_chars={MIN_TEXT_CHARS}"
        )
        self._engine = RapidOCR(
            text_score=MIN_TEXT_CONFIDENCE,
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            # "max" only ever shrinks; in 1.4.4 it picks its limit itself (960, 1500 or
            # 2000 px by image size), never below our copy's long side, so the detector
            # sees the copy as it is (see the module docstring).
            det_limit_type="max",
            det_limit_side_len=MAX_SIDE,
            det_model_path=str(DET_MODEL),
            rec_model_path=str(REC_MODEL),
            cls_model_path=str(CLS_MODEL),
        )

    def score_images(self, images: list[Image.Image]) -> list[ImageScore]:
        """One ImageScore per image, in order (RapidOCR takes one image per call)."""
        return [self._score_one(image) for image in images]

    def _score_one(self, image: Image.Image) -> ImageScore:
        """Score one image; any failure becomes an error result."""
        try:
            small = ocr_copy(image)
            # RapidOCR takes a 3-channel ndarray as BGR (OpenCV order).
            bgr = np.ascontiguousarray(np.asarray(small, dtype=np.uint8)[:, :, ::-1])
            result, _timings = self._engine(bgr)
            return to_image_score(result, small.width, small.height)
        except Exception as exc:  # one bad image must not stop the others
            return ImageScore(None, {}, error=f"{type(exc).__name__}: {exc}")
