"""The learning curve on the team's real ratings (../shared/data/seed-research).

The team's labelled set is `image_list.txt` (2,256 images, the class folder 0-3 is the
rating); their PIA run `pia_full_set_res.json` gives, by position, 21 numbers per image
(the score, 10 attribute and 10 content features). A ridge model on those features,
judged out of fold (learn/search.py) at 10 %..100 % of the ratings, seeded, 3 repeats:
how fast does agreement with the rating grow with the number of ratings? No prompts
come with these files, so the groups are single images (the warehouse's own curve,
`neurostock ratings curve`, groups by prompt). Prints the points, the fit
a + b ln n and what 1,000 more ratings would give on it (an extrapolation).

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

from rate.learning_curve import curve_points, fit_log_curve  # noqa: E402

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
                          progress=lambda text: print(text, flush=True))
    a, b = fit_log_curve(points)
    n_all = len(y)
    print(f"{len(points)} fits in {time.monotonic() - started:.0f} s")
    print("fraction  n      mean    min     max")
    for fraction in sorted({p["fraction"] for p in points}):
        rows = [p for p in points if p["fraction"] == fraction]
        rhos = [p["spearman"] for p in rows]
        print(f"{fraction:>7.0%}  {rows[0]['n_ratings']:>5}  {np.mean(rhos):.3f}   "
              f"{min(rhos):.3f}   {max(rhos):.3f}")
    now, ahead = a + b * np.log(n_all), a + b * np.log(n_all + 1000)
    print(f"fit: Spearman = {a:.3f} + {b:.4f} ln n; at n = {n_all:,}: {now:.3f}; "
          f"at n = {n_all + 1000:,}: {ahead:.3f} ({ahead - now:+.3f}, extrapolated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
