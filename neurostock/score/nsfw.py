"""Not-safe-for-work detection with NudeNet's bundled detector (nudenet 3.4.2, ``320n.onnx``).

The model is a YOLOv8-n detector (input 320x320) that ships inside the ``nudenet`` wheel;
it is loaded from the package's own file, nothing is downloaded. It knows 18 classes
(``NUDENET_LABELS``): exposed and covered body parts and male / female faces.

Per image:

- ``components``: for every class the detector knows, the highest confidence of a
  detection of that class (0.0 when there is none), keyed by the lower-cased label
  (``female_breast_exposed``, ``face_male``, ...); always all 18 keys. The values are
  those of ``NudeDetector.detect``: a box is kept at confidence >= 0.2 and then goes
  through the package's class-agnostic non-maximum suppression (score threshold 0.25,
  IoU 0.45), so a non-zero value is at least 0.25.
- ``score``: the maximum of the components in ``UNSAFE_CLASSES`` (0.0 when none), on 0-1.

``UNSAFE_CLASSES`` are the labels that make an image unsellable as general stock:
exposed genitalia (female, male), exposed female breasts, exposed buttocks and exposed
anus. Left out on purpose, as ordinary stock content (beach, fitness, swimwear, fashion):
``MALE_BREAST_EXPOSED`` (a shirtless man), ``BELLY_EXPOSED``, ``ARMPITS_EXPOSED``,
``FEET_EXPOSED``, every ``*_COVERED`` class and the two face classes. They stay in
``components`` so a stricter rule can be applied later in SQL.

Images are fed in memory, as the BGR uint8 arrays that ``cv2.imread`` would give for the
same picture, so the result equals ``NudeDetector().detect(path)`` on a file holding it
(the package's own preprocessing pads to a square, resizes and swaps channels itself).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import nudenet
import nudenet.nudenet as _nudenet_impl
import numpy as np
import onnxruntime
from nudenet import NudeDetector
from PIL import Image

from neurostock.core.fileio import file_sha256
from neurostock.core.imaging import to_rgb
from neurostock.score.technical import ImageScore

MODEL_FILE = "320n.onnx"
"""The detector NudeNet 3.4.2 loads by default, shipped next to its module."""

NUDENET_LABELS: tuple[str, ...] = tuple(_nudenet_impl.__labels)
"""The detector's classes, in output order, as the package defines them."""

UNSAFE_CLASSES: frozenset[str] = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
"""Labels whose confidence makes up ``score`` (see the module docstring for the choice)."""

BATCH_SIZE = 8
"""Images per ONNX run; the model takes a dynamic batch dimension."""


def component_name(label: str) -> str:
    """Stable snake_case component key of a NudeNet label (``FACE_MALE`` -> ``face_male``)."""
    return label.lower()


def to_bgr_array(image: Image.Image) -> np.ndarray:
    """The image as a contiguous (H, W, 3) uint8 BGR array; transparency flattened on white.

    Raises ValueError for an image with no pixels (OpenCV would fail on it anyway).
    """
    rgb = to_rgb(image)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])


def components_from_detections(detections: list[dict]) -> dict[str, float]:
    """Per-class maximum confidence over one image's detections; 0.0 for absent classes."""
    components = {component_name(label): 0.0 for label in NUDENET_LABELS}
    for detection in detections:
        key = component_name(detection["class"])
        components[key] = max(components[key], float(detection["score"]))
    return components


def nsfw_score(components: dict[str, float]) -> float:
    """Maximum confidence over ``UNSAFE_CLASSES`` (0.0 when none of them was detected)."""
    return max(components[component_name(label)] for label in UNSAFE_CLASSES)


def to_image_score(detections: list[dict]) -> ImageScore:
    """ImageScore of one image's detections; an error result if a value is not finite."""
    components = components_from_detections(detections)
    bad = sorted(name for name, value in components.items() if not np.isfinite(value))
    if bad:
        return ImageScore(None, {}, error=f"non-finite confidences: {', '.join(bad)}")
    return ImageScore(nsfw_score(components), components)


def error_score(exc: Exception) -> ImageScore:
    """The result of an image that could not be scored."""
    return ImageScore(None, {}, error=f"{type(exc).__name__}: {exc}")


class _ThreadLimitedNudeDetector(NudeDetector):
    """NudeDetector whose ONNX session uses a fixed number of threads.

    The package's constructor gives onnxruntime no session options (so it takes every
    core); this sets the same attributes with a session of our own and keeps the
    package's ``detect`` / ``detect_batch`` (preprocessing and postprocessing) as they are.
    """

    def __init__(self, model_path: Path, threads: int):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.onnx_session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_width = self.input_height = 320
        self.input_name = self.onnx_session.get_inputs()[0].name


class NsfwDetector:
    """Likelihood that an image is not safe for work, from NudeNet's bundled detector.

    ``score`` is the highest confidence (0-1) of an exposed-genitalia, exposed-female-breast,
    exposed-buttocks or exposed-anus detection, 0.0 when there is none; ``components`` hold
    every class's highest confidence (see the module docstring). The model is loaded once,
    in the constructor, with ``threads`` onnxruntime threads. An image that cannot be
    scored gets ``score`` None, empty ``components`` and ``error``; nothing is raised.
    """

    scorer_id = "nsfw"

    def __init__(self, threads: int = 2):
        self.weights_path = Path(nudenet.__file__).resolve().parent / MODEL_FILE
        self.weights_sha256 = file_sha256(self.weights_path)
        self.version = f"nudenet {importlib.metadata.version('nudenet')} {MODEL_FILE}"
        self._detector = _ThreadLimitedNudeDetector(self.weights_path, threads)
        self._check_labels()

    def _check_labels(self) -> None:
        """Fail at load time if the model's class count and the package's labels disagree."""
        # Output rows are 4 box coordinates followed by one confidence per class.
        channels = self._detector.onnx_session.get_outputs()[0].shape[1]
        if channels != 4 + len(NUDENET_LABELS):
            raise RuntimeError(
                f"{MODEL_FILE} has {channels - 4} classes, nudenet lists {len(NUDENET_LABELS)}"
            )

    def score_images(self, images: list[Image.Image]) -> list[ImageScore]:
        """One ImageScore per image, in order."""
        results: list[ImageScore | None] = [None] * len(images)
        arrays: dict[int, np.ndarray] = {}
        for index, image in enumerate(images):
            try:
                arrays[index] = to_bgr_array(image)
            except Exception as exc:  # one bad image must not stop the others
                results[index] = error_score(exc)
        indices = list(arrays)
        for start in range(0, len(indices), BATCH_SIZE):
            chunk = indices[start : start + BATCH_SIZE]
            scored = self._score_batch([arrays[i] for i in chunk])
            for index, result in zip(chunk, scored, strict=True):
                results[index] = result
        if any(result is None for result in results):
            raise RuntimeError("internal error: an image was left without a result")
        return results  # type: ignore[return-value]  # every slot is filled above

    def _score_batch(self, arrays: list[np.ndarray]) -> list[ImageScore]:
        """Score arrays in one ONNX run; if that fails, one by one to isolate the bad one."""
        try:
            batches = self._detector.detect_batch(arrays, batch_size=len(arrays))
        except Exception:
            return [self._score_one(array) for array in arrays]
        return [to_image_score(detections) for detections in batches]

    def _score_one(self, array: np.ndarray) -> ImageScore:
        """Score one array; any failure becomes an error result."""
        try:
            return to_image_score(self._detector.detect(array))
        except Exception as exc:  # one bad image must not stop the others
            return error_score(exc)
