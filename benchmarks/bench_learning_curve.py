"""The learning curve on the team's real ratings (../shared/data/seed-research).

The team's labelled set is `image_list.txt` (2,256 images, the class folder 0-3 is the
rating); their PIA run `pia_full_set_res.json` gives, by position, 21 numbers per image
(the score, 10 attribute and 10 content features). A ridge model on those features,
judged out of fold (learn/search.py) at 10 %..100 % of the ratings, seeded, 3 repeats:
how fast does agreement with the rating grow with the number of ratings? Two measures,
both out of fold: the Spearman with the class 0-3, and the AUC of "sellable among
usable" (class >= 2, i.e. rating 3-4, against class 0-1). These files hold USABLE images
only (the class folders are ratings 1-4; no unusable image was run through PIA), so
this AUC is not the decision model's AUC of sellable over every rated image. No
prompts come with these files, so the groups are single images (the warehouse's own
curve, `neurostock ratings curve`, groups by prompt). Prints the points, the fit
a + b ln n of each measure and what 1,000 more ratings would give on it (an
extrapolation).

    .venv/bin/python benchmarks/bench_learning_curve.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neurostock.learn.learning_curve import curve_lines, curve_points  # noqa: E402

SEED_RESEARCH = ROOT.parent / "shared" / "data" / "seed-research"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    lines = (SEED_RESEARCH / "image_list.txt").read_text().split()
    pia = json.loads((SEED_RESEARCH / "pia_full_set_res.json").read_text())
    if len(lines) != len(pia["predictScoreAll"]):
        print(f"image_list.txt has {len(lines)} lines, PIA {len(pia['predictScoreAll'])}")
        return 1
    y = np.array([float(Path(line).parent.name) for line in lines])
    x = np.column_stack([np.asarray(pia["predictScoreAll"], dtype=float),
                         np.asarray(pia["attributesFeature"], dtype=float),
                         np.asarray(pia["contentFeature"], dtype=float)])
    groups = np.array([Path(line).stem for line in lines], dtype=object)
    started = time.monotonic()
    points = curve_points(x, y, groups, "ridge", args.folds, 42, args.repeats,
                          progress=lambda text: print(text, flush=True), sellable=y >= 2)
    print(f"{len(points)} fits in {time.monotonic() - started:.0f} s; {len(y):,} usable "
          f"images, {int((y >= 2).sum()):,} sellable (class 2-3); auc_sellable is sellable "
          "AMONG USABLE images")
    for line in curve_lines(points):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
