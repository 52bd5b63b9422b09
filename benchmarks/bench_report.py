"""Benchmark: `neurostock report --out DIR` on a warehouse of ~12,000 rated images, against
the team's notebook way of making cluster collages, side by side.

    .venv/bin/python benchmarks/bench_report.py [--rows 155000] [--rated-images N]
        [--scorers 12] [--workdir DIR | --reuse DIR] [--workers 2] [--profile]
        [--thumb-sizes 512,1024,1536] [--thumb-images 400] [--quiet-wait 120]
        [--out bench_out/report.json] [--keep]

Targets (report issue): `neurostock report --out DIR` over 12,000 images in under 60 s
on 2 cores; a second run with nothing changed under 10 s; the index page under 5 MB.

Setup (not in the targets; timed and printed), all through the real CLI, each step its
own process, in the work directory (default a new /tmp/bench_report_*; `--reuse DIR`
keeps it and skips the setup when DIR/setup.json and its warehouse exist):
  sample   `neurostock sample --rows N` with sampledata.source.rated_image_count
           patched in that process to return --rated-images: the generator follows the
           real share of rated rows (at most 2,256 rated images even at 2.1 M rows), so
           12,000 full_set images need more rated rows than it would draw. Everything
           else is the generator's own (256x256 JPEGs, ratings, quirks, defects).
  ingest   `neurostock ingest`
  build    `neurostock build` with a neurostock.yml holding only a tiny open_clip model
           (tests/tiny_clip.py: random weights, 64 px input; kinds image, prompt and
           keyword) and no computed scorers; images copied to WORKDIR/all_data
  scores   --scorers synthetic CSV scores for every full_set and big_set image (seeded
           noise, most of them related to the rating at several strengths and signs,
           some rounded so that ties occur), `neurostock scores import --format csv`
  rebuild  `neurostock build -s scores+ image_signals+ tag:report`: every rpt_ table
Variants, each in its own process (peak MB: the largest single process, VmHWM from
/proc sampled every 0.05 s: the report process or its `dbt docs generate` child):
  cold      `neurostock report --out WORKDIR/report` into an empty DIR: thumbnails of
            every full_set image, every figure and page, dbt docs --static
  warm      the same command again, nothing changed, started in a later minute than the
            first run (the usual case; the report stamps its time to the minute: until
            558168b every page's footer carried it, so every page was rewritten)
  same-minute  once more right away, within the same minute as the warm run
  size      index.html, the whole DIR (bytes, files), by part
  baseline  the team's notebooks: for each cluster of the chosen k of one embedder
            (cluster_assignments + full_set read with duckdb), a matplotlib figure of
            the 4 best and 4 worst rated images (full-size files opened with PIL, shown
            with imshow), saved as PNG
Phases of cold and warm come from the report's progress lines on stderr, stamped as they
arrive. --profile adds a cProfile run of a cold and of a warm report (not in the table;
cProfile slows Python code down, and sees the main thread only: thumbnails are made in
threads, their time shows as waiting) and prints the hotspots.

Thumbnails of larger files (--thumb-sizes): the sample's pictures are 256 x 256 JPEGs,
the team's are larger; the report's make_thumbnails is timed, in its own process, on
--thumb-images of them re-encoded at each size, and extrapolated (labelled) to every
full_set image. Upscaled pictures are smoother than real ones: if anything optimistic.

Nothing is written into the checkout: the benchmark's warehouse keeps its generated
dbt models, target/ and logs/ in its own <warehouse>.dbt/ folder.
Results go to stdout and --out (JSON). The work directory is removed at the end unless
--keep or --reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from proc_stats import busy_cpu_seconds, watch_peaks  # benchmarks/ (run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_COLD_SECONDS = 60.0
TARGET_WARM_SECONDS = 10.0
TARGET_INDEX_BYTES = 5 * 1024 * 1024
DEFAULT_ROWS = 155_000
# full_set keeps about half of the rated images (rating 5, "unusable", is half of them).
FULL_SET_PER_RATED = 0.5
TARGET_FULL_SET = 12_000
SEED = 0
SCORE_SEED = 20240611
EXAMPLES = 4  # best and worst per cluster, as var report_examples

# Patched sample generator: `neurostock sample` with more rated rows than the real share.
SAMPLE_CODE = """
import sys
import neurostock.sampledata.source as source
rated = int(sys.argv[1])
source.rated_image_count = lambda rows: min(rows // 2, rated)
from neurostock.cli import main
sys.exit(main(sys.argv[2:]))
"""

TINY_CODE = """
import sys
from pathlib import Path
from tests.tiny_clip import tiny_checkpoint
config, checkpoint = tiny_checkpoint(Path(sys.argv[1]))
print(config)
print(checkpoint)
"""


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _env() -> dict[str, str]:
    """Children import this checkout's packages (neurostock, reports, ...)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


# -- running a command, timed ----------------------------------------------------------


QUIET_WAIT = {"limit": 0.0}


def wait_quiet() -> None:
    """Wait (up to --quiet-wait seconds) until other processes use under 0.25 of a core:
    the machine may be shared, and 2 cores are easily taken."""
    deadline = time.monotonic() + QUIET_WAIT["limit"]
    while True:
        before = busy_cpu_seconds()
        time.sleep(2.0)
        used = (busy_cpu_seconds() - before) / 2.0
        if used < 0.25:
            return
        if time.monotonic() > deadline:
            _log(f"  the machine is busy ({used:.1f} cores used by others): timing anyway")
            return
        _log(f"  waiting: other processes use {used:.1f} cores …")
        time.sleep(5.0)


def run_timed(command: list[str], log: Path, cwd: Path = ROOT, echo: bool = False) -> dict:
    """Run `command`; wall seconds, exit code, peak MB per process kind, stdout, and each
    stderr line with the second it arrived. Both streams are also written to `log`."""
    peaks: dict[str, int] = {}
    done = threading.Event()
    lines: list[tuple[float, str]] = []
    busy_before = busy_cpu_seconds()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    watcher = threading.Thread(target=watch_peaks, args=(process.pid, peaks, done),
                               daemon=True)
    watcher.start()
    out_parts: list[str] = []
    reader = threading.Thread(target=lambda: out_parts.append(process.stdout.read()),
                              daemon=True)
    reader.start()
    for line in process.stderr:
        lines.append((time.perf_counter() - started, line.rstrip("\n")))
        if echo:
            print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
    # wait4: the CPU time of the command and of the children it waited for.
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    rc = process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, busy_cpu_seconds() - busy_before - cpu)
    reader.join()
    done.set()
    watcher.join()
    stdout = "".join(out_parts)
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n{stdout}")
        handle.writelines(f"[{t:7.2f}] {text}\n" for t, text in lines)
        handle.write(f"exit {rc} after {seconds:.1f} s\n\n")
    return {"seconds": seconds, "rc": rc, "stdout": stdout, "stderr": lines,
            "cpu_seconds": cpu, "other_cpu_seconds": others, "load_before": load_before,
            "peak_mb": max(peaks.values(), default=0) / 1024,
            "peak_mb_by_process": {k: v / 1024 for k, v in peaks.items()}}


def _cli(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "neurostock.cli", "--warehouse",
            str(workdir / "warehouse.duckdb"), "--config", str(workdir / "neurostock.yml"),
            *args]


def _checked(result: dict, what: str, log: Path) -> dict:
    if result["rc"] != 0:
        tail = "\n".join(text for _, text in result["stderr"][-40:])
        sys.exit(f"bench_report: {what} failed (exit {result['rc']}):\n{tail}\n"
                 f"(whole log: {log})")
    return result


# -- setup -----------------------------------------------------------------------------


def write_scores(workdir: Path, n_scorers: int) -> list[tuple[str, Path]]:
    """Seeded CSV scores for every full_set and big_set image: (scorer id, file)."""
    import duckdb
    import numpy as np

    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    try:
        full = con.execute("select image_id, rating from full_set order by image_id").fetchall()
        big = [r[0] for r in con.execute("select image_id from big_set order by image_id")
               .fetchall()]
    finally:
        con.close()
    rng = np.random.default_rng(SCORE_SEED)
    ratings = np.array([r for _, r in full], dtype=float)
    # big_set has no rating: a hidden one drawn with full_set's shares.
    hidden = rng.choice(ratings, size=len(big)) if len(big) else np.empty(0)
    ids = np.array([i for i, _ in full] + big, dtype=np.int64)
    rating = np.concatenate([ratings, hidden])
    latent = (rating - ratings.mean()) / (ratings.std() or 1.0)
    strengths = np.linspace(-0.4, 0.7, max(n_scorers, 1))
    folder = workdir / "scores"
    folder.mkdir(exist_ok=True)
    made = []
    for i in range(n_scorers):
        r = float(strengths[i]) if i != n_scorers - 1 or n_scorers < 3 else 0.0  # last: noise
        values = r * latent + np.sqrt(1 - r * r) * rng.standard_normal(len(ids))
        values = 5 + 1.5 * values
        if i % 3 == 1:
            values = np.round(values, 1)  # ties
        scorer_id = f"bench_score_{i + 1:02d}"
        path = folder / f"{scorer_id}.csv"
        path.write_text("id,score\n" + "".join(
            f"{image_id},{value:.6g}\n" for image_id, value in zip(ids, values, strict=True)))
        made.append((scorer_id, path))
    return made


def setup(workdir: Path, rows: int, rated: int, n_scorers: int, log: Path) -> dict:
    """Sample, ingest, build, import scores, rebuild; returns timings and counts."""
    steps: dict[str, float] = {}
    began = time.perf_counter()

    def step(name: str, command: list[str]) -> dict:
        _log(f"setup: {name} …")
        result = _checked(run_timed(command, log, echo=False), name, log)
        steps[name] = steps.get(name, 0.0) + result["seconds"]
        _log(f"  {result['seconds']:.1f} s")
        return result

    step("sample", [sys.executable, "-c", SAMPLE_CODE, str(rated), "sample", "--rows",
                    str(rows), "--out", str(workdir / "sample"), "--seed", str(SEED)])
    tiny = step("tiny open_clip checkpoint", [sys.executable, "-c", TINY_CODE, str(workdir)])
    model_config, checkpoint = tiny["stdout"].strip().splitlines()[-2:]
    (workdir / "neurostock.yml").write_text(
        "embedders:\n"
        f"  - {{id: tiny, library: open_clip, model: tiny-clip-test, "
        f"model_config: {model_config}, pretrained: {checkpoint}, batch_size: 64, "
        "kinds: [image, prompt, keyword]}\n"
        "scorers: []\n"
        f"images: {{dest: {workdir / 'all_data'}}}\n")
    step("ingest", _cli(workdir, "ingest", str(workdir / "sample" / "core.download.db")))
    step("build", _cli(workdir, "build"))
    _log("setup: writing scores …")
    started = time.perf_counter()
    scores = write_scores(workdir, n_scorers)
    steps["write score CSVs"] = time.perf_counter() - started
    for scorer_id, path in scores:
        step("scores import", _cli(workdir, "scores", "import", str(path), "--format", "csv",
                                   "--scorer-id", scorer_id))
    step("build scores+ image_signals+ tag:report",
         _cli(workdir, "build", "-s", "scores+", "image_signals+", "tag:report"))
    counts = warehouse_counts(workdir)
    info = {"rows": rows, "rated_images": rated, "scorers": n_scorers,
            "steps_seconds": steps, "seconds": time.perf_counter() - began, "counts": counts}
    (workdir / "setup.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def warehouse_counts(workdir: Path) -> dict:
    import duckdb

    queries = {
        "full_set": "select count(*) from full_set",
        "big_set": "select count(*) from big_set",
        "image_pages": "select count(*) from rpt_image_pages",
        "image_pages_with_file": "select count(*) from rpt_image_pages "
                                 "where file_status = 'ok' and file_sha256 is not null",
        "distinct_files": "select count(distinct file_sha256) from rpt_image_pages "
                          "where file_status = 'ok'",
        "signals": "select count(*) from signal_summary",
        "valid_signals": "select count(*) from signal_summary where is_valid",
        "clustered_embedders": "select count(*) from cluster_solutions where is_chosen",
        "clusters": "select sum(k) from cluster_solutions where is_chosen",
        "cluster_rankings": "select count(distinct (embedder_id, ranking)) "
                            "from rpt_cluster_examples",
        "image_score_rows": "select count(*) from rpt_image_scores",
        "neighbour_rows": "select count(*) from rpt_image_neighbours",
    }
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    try:
        return {name: con.execute(sql).fetchone()[0] for name, sql in queries.items()}
    finally:
        con.close()


# -- the report, measured --------------------------------------------------------------

def phases(lines: list[tuple[float, str]], total: float) -> dict[str, float | None]:
    """Phase durations from the report's stderr lines (their arrival times)."""
    read = thumbs_end = figures = pages_end = docs = None
    for t, text in lines:
        if "report: read the warehouse" in text:
            read = t
        elif re.search(r"report: thumbnails [\d,]+/", text):
            thumbs_end = t
        elif "report: figures:" in text:
            figures = t
        elif re.search(r"report: image pages [\d,]+/", text):
            pages_end = t
        elif "dbt docs generate" in text:
            docs = t
    if read is None or figures is None or pages_end is None:
        return {}
    result: dict[str, float | None] = {
        "start + read warehouse": read,
        "thumbnails": (thumbs_end - read) if thumbs_end is not None else None,
        "figures": figures - (thumbs_end if thumbs_end is not None else read),
        "image pages": pages_end - figures,  # the site's other pages too
        "rest + dbt docs": total - pages_end,
    }
    if thumbs_end is None:  # nothing to make: the check of the cached ones and the figures
        del result["thumbnails"], result["figures"]
        result = {"start + read warehouse": read, "thumbnail check + figures": figures - read,
                  **{k: v for k, v in result.items() if k != "start + read warehouse"}}
    if docs is not None:
        result["dbt docs generate"] = total - docs
    return result


def report_variant(workdir: Path, out: Path, workers: int, log: Path, label: str) -> dict:
    _log(f"{label}: neurostock report --out {out} …")
    wait_quiet()
    result = _checked(run_timed(_cli(workdir, "report", "--out", str(out), "--workers",
                                     str(workers)), log), f"report ({label})", log)
    result["phases"] = phases(result["stderr"], result["seconds"])
    result["summary"] = result["stdout"].strip().splitlines()[-1] if result["stdout"] else ""
    _log(f"  {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB: {result['summary']}")
    return result


def _next_minute() -> None:
    """Sleep into the next minute (the report's pages are stamped to the minute)."""
    wait = 61 - time.time() % 60
    _log(f"waiting {wait:.0f} s for the next minute …")
    time.sleep(wait)


def _pages_text(measured: dict) -> str:
    found = re.search(r"([\d,]+) pages written, ([\d,]+) unchanged", measured["summary"])
    return f"pages written {found[1]}, unchanged {found[2]}" if found else "pages: ?"


def dir_sizes(out: Path) -> dict:
    parts: dict[str, list[int]] = {}
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        top = path.relative_to(out).parts[0] if len(path.relative_to(out).parts) > 1 else "."
        entry = parts.setdefault(top, [0, 0])
        entry[0] += 1
        entry[1] += path.stat().st_size
    index = out / "index.html"
    return {"index_bytes": index.stat().st_size if index.exists() else None,
            "total_bytes": sum(v[1] for v in parts.values()),
            "files": sum(v[0] for v in parts.values()),
            "by_part": {k: {"files": v[0], "bytes": v[1]} for k, v in sorted(parts.items())}}


def profile_variant(workdir: Path, out: Path, workers: int, log: Path, label: str) -> dict:
    """The report command under cProfile; the top functions by own and cumulative time."""
    stats_file = workdir / f"profile_{label}.pstats"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m",
               "neurostock.cli", *_cli(workdir, "report", "--out", str(out), "--workers",
                                       str(workers))[3:]]
    _log(f"profile ({label}) …")
    wait_quiet()
    result = _checked(run_timed(command, log), f"profile ({label})", log)
    stats = pstats.Stats(str(stats_file))
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        short = filename.replace(str(ROOT) + "/", "")
        short = re.sub(r".*/site-packages/", "", short)
        rows.append({"function": f"{short}:{line}({name})", "calls": calls,
                     "own_s": own, "cumulative_s": cumulative})
    return {"seconds": result["seconds"],
            "phases": phases(result["stderr"], result["seconds"]),
            "top_own": sorted(rows, key=lambda r: -r["own_s"])[:25],
            "top_cumulative": sorted(rows, key=lambda r: -r["cumulative_s"])[:40]}


# -- baseline: the team's collages -----------------------------------------------------


def child_baseline(workdir: Path) -> dict:
    """For each cluster of the chosen k of the first clustered embedder: a figure of the
    EXAMPLES best and worst rated images (full files, PIL + imshow), saved as PNG."""
    started = time.perf_counter()
    import duckdb
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    embedder = con.execute("select embedder_id from cluster_solutions where is_chosen "
                           "order by embedder_id limit 1").fetchone()[0]
    frame = con.execute("""
        select a.cluster_id, f.image_id, f.rating, i.resolved_path
        from cluster_assignments a
        join full_set f using (image_id)
        left join files.images i using (image_id)
        where a.embedder_id = ? and a.is_chosen_k and a.image_set = 'full_set'
    """, [embedder]).df()
    con.close()
    load_seconds = time.perf_counter() - started
    out = workdir / "baseline_collages"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    images_opened = 0
    for cluster_id, group in frame.groupby("cluster_id"):
        best = group.sort_values(["rating", "image_id"], ascending=[False, True]).head(EXAMPLES)
        worst = group.sort_values(["rating", "image_id"], ascending=[True, True]).head(EXAMPLES)
        figure, axes = plt.subplots(2, EXAMPLES, figsize=(4 * EXAMPLES, 8))
        for row_axes, side, picked in ((axes[0], "best", best), (axes[1], "worst", worst)):
            for ax, record in zip(row_axes, picked.itertuples(), strict=False):
                if isinstance(record.resolved_path, str):
                    with Image.open(record.resolved_path) as image:
                        ax.imshow(image.convert("RGB"))
                    images_opened += 1
                ax.set_title(f"{side}: {record.image_id} (rating {record.rating})", fontsize=8)
            for ax in row_axes:
                ax.axis("off")
        figure.suptitle(f"{embedder}: cluster {cluster_id} ({len(group)} images)")
        figure.savefig(out / f"cluster_{cluster_id}.png", bbox_inches="tight")
        plt.close(figure)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    files = list(out.iterdir())
    return {"variant": "baseline", "seconds": seconds, "peak_mb": peak,
            "load_seconds": load_seconds, "embedder_id": embedder,
            "clusters": int(frame["cluster_id"].nunique()), "images_opened": images_opened,
            "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def _measure_baseline(workdir: Path, log: Path) -> dict:
    _log("baseline: the team's cluster collages (matplotlib, PIL) …")
    wait_quiet()
    result = _checked(run_timed([sys.executable, str(Path(__file__).resolve()), "--child",
                                 "baseline", "--workdir", str(workdir)], log),
                      "baseline", log)
    measured = json.loads(result["stdout"].strip().splitlines()[-1])
    measured["wall_seconds"] = result["seconds"]
    measured["peak_mb"] = result["peak_mb"]
    for key in ("cpu_seconds", "other_cpu_seconds", "load_before"):
        measured[key] = result[key]
    _log(f"  {measured['seconds']:.1f} s in the process ({result['seconds']:.1f} s wall), "
         f"{measured['clusters']} collages")
    return measured


# -- thumbnails of larger images ------------------------------------------------------


def child_thumbs(workdir: Path, size: int, n: int, workers: int) -> dict:
    """The report's make_thumbnails on `n` of the sample's pictures re-encoded at
    size x size (JPEG quality of the sample); seconds per image."""
    import hashlib

    from PIL import Image

    from neurostock.reports.thumbnails import ThumbnailJob, make_thumbnails

    folder = workdir / f"thumbs_{size}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "src").mkdir(parents=True)
    sources = sorted((workdir / "all_data").rglob("*.jpg"))[:n]
    jobs = []
    for i, path in enumerate(sources):
        target = folder / "src" / f"{i}.jpg"
        with Image.open(path) as image:
            picture = image.convert("RGB")
        if picture.size != (size, size):
            picture = picture.resize((size, size), Image.Resampling.BICUBIC)
        picture.save(target, "JPEG", quality=92)
        jobs.append(ThumbnailJob(hashlib.sha256(str(target).encode()).hexdigest(), str(target)))
    source_bytes = sum(Path(j.source).stat().st_size for j in jobs)
    started = time.perf_counter()
    made = make_thumbnails(jobs, folder / "out", workers=workers)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return {"size": size, "images": len(jobs), "seconds": seconds,
            "per_image_s": seconds / max(len(jobs), 1), "failed": len(made["failed"]),
            "mean_source_kb": source_bytes / max(len(jobs), 1) / 1024}


def _measure_thumbs(workdir: Path, sizes: list[int], n: int, workers: int, log: Path) -> list:
    results = []
    for size in sizes:
        _log(f"thumbnails of {n} pictures at {size} px …")
        wait_quiet()
        result = _checked(run_timed([sys.executable, str(Path(__file__).resolve()), "--child",
                                     "thumbs", "--workdir", str(workdir), "--thumb-size",
                                     str(size), "--thumb-images", str(n), "--workers",
                                     str(workers)], log), f"thumbnails at {size} px", log)
        measured = json.loads(result["stdout"].strip().splitlines()[-1])
        measured["peak_mb"] = result["peak_mb"]
        _log(f"  {measured['per_image_s'] * 1000:.2f} ms per image")
        results.append(measured)
    return results


# -- output ----------------------------------------------------------------------------


def _table(rows: list[tuple]) -> str:
    lines = ["| variant | seconds | peak MB | notes |", "|---|---:|---:|---|"]
    for variant, seconds, peak, notes in rows:
        seconds_text = "-" if seconds is None else f"{seconds:,.1f}"
        peak_text = "-" if peak is None else f"{peak:,.0f}"
        lines.append(f"| {variant} | {seconds_text} | {peak_text} | {notes} |")
    return "\n".join(lines)


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024 / 1024:,.2f} MB"


def _phase_text(measured: dict) -> str:
    parts = [f"{name} {value:.1f}" for name, value in measured["phases"].items()
             if value is not None]
    return "phases (s): " + ", ".join(parts) if parts else "phases: -"


def _print_profile(label: str, profile: dict) -> None:
    print(f"\ncProfile, {label} report ({profile['seconds']:.1f} s under the profiler); "
          "top by own time:\n")
    print("| function | calls | own s | cumulative s |\n|---|---:|---:|---:|")
    for row in profile["top_own"][:15]:
        print(f"| `{row['function']}` | {row['calls']:,} | {row['own_s']:.2f} | "
              f"{row['cumulative_s']:.2f} |")
    print("\ntop by cumulative time (project code and its direct callees):\n")
    print("| function | calls | cumulative s |\n|---|---:|---:|")
    shown = 0
    for row in profile["top_cumulative"]:
        if any(skip in row["function"] for skip in ("<built-in", "{", "runpy", "<frozen")):
            continue
        print(f"| `{row['function']}` | {row['calls']:,} | {row['cumulative_s']:.2f} |")
        shown += 1
        if shown == 20:
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="sample img_info rows")
    parser.add_argument("--rated-images", type=int,
                        help="rated rows of the sample (default: enough for ~12,000 "
                             "full_set images, at most rows/2)")
    parser.add_argument("--scorers", type=int, default=12, help="imported CSV scores")
    parser.add_argument("--workers", type=int, default=2, help="report --workers")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workdir", type=Path, help="work directory (default: a new /tmp one)")
    where.add_argument("--reuse", type=Path, metavar="DIR",
                       help="work directory kept between runs: the setup is skipped when "
                            "DIR holds one")
    parser.add_argument("--profile", action="store_true",
                        help="also profile a cold and a warm report with cProfile")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out" / "report.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--thumb-sizes", default="512,1024,1536",
                        help="also time thumbnails of the sample's pictures re-encoded at "
                             "these sizes (px, comma-separated; '' for none)")
    parser.add_argument("--thumb-images", type=int, default=400,
                        help="pictures per --thumb-sizes size")
    parser.add_argument("--quiet-wait", type=float, default=120.0, metavar="SECONDS",
                        help="before each timed run, wait up to this long for other "
                             "processes to leave the CPU (default 120)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--thumb-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "baseline":
        print(json.dumps(child_baseline(args.workdir)))
        return
    if args.child == "thumbs":
        print(json.dumps(child_thumbs(args.workdir, args.thumb_size, args.thumb_images,
                                      args.workers)))
        return

    began = time.perf_counter()
    QUIET_WAIT["limit"] = args.quiet_wait
    rated = args.rated_images or min(args.rows // 2,
                                     round(TARGET_FULL_SET / FULL_SET_PER_RATED))
    if args.reuse:
        workdir = args.reuse.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    elif args.workdir:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "warehouse.duckdb").exists():
            sys.exit(f"bench_report: {workdir} already holds a warehouse: pass --reuse {workdir}"
                     " to use it, or another --workdir")
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench_report_", dir="/tmp"))
    log = workdir / "bench_report.log"
    keep = args.keep or args.reuse is not None
    try:
        if args.reuse and (workdir / "setup.json").exists() \
                and (workdir / "warehouse.duckdb").exists():
            info = json.loads((workdir / "setup.json").read_text())
            info["reused"] = True
            _log(f"reusing the setup in {workdir} ({info['counts']['full_set']:,} full_set "
                 f"images; it took {info['seconds']:.0f} s)")
        else:
            for stale in ("sample", "all_data", "scores", "warehouse.duckdb",
                          "warehouse.vectors.sqlite"):
                target = workdir / stale
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
            _log(f"work directory {workdir}; setup: {args.rows:,} rows, {rated:,} rated")
            info = setup(workdir, args.rows, rated, args.scorers, log)
            info["reused"] = False
        counts = info["counts"]
        _log(f"setup: {counts['full_set']:,} full_set images "
             f"({counts['image_pages_with_file']:,} with a file), {counts['big_set']:,} "
             f"big_set, {counts['valid_signals']} valid signals, {counts['clusters']} "
             f"clusters; {info['seconds']:.0f} s")

        out = workdir / "report"
        shutil.rmtree(out, ignore_errors=True)
        cold = report_variant(workdir, out, args.workers, log, "cold")
        _next_minute()
        warm = report_variant(workdir, out, args.workers, log, "warm")
        same = report_variant(workdir, out, args.workers, log, "same-minute")
        sizes = dir_sizes(out)
        base = _measure_baseline(workdir, log)
        sizes_px = [int(x) for x in args.thumb_sizes.split(",") if x.strip()]
        thumbs = _measure_thumbs(workdir, sizes_px, args.thumb_images, args.workers, log)
        profiles = {}
        if args.profile:
            profiled_out = workdir / "report_profiled"
            shutil.rmtree(profiled_out, ignore_errors=True)
            profiles["cold"] = profile_variant(workdir, profiled_out, args.workers, log, "cold")
            profiles["warm"] = profile_variant(workdir, profiled_out, args.workers, log, "warm")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    n = counts["full_set"]
    per_collage = base["seconds"] / max(base["clusters"], 1)
    all_collages = counts["clusters"] * counts["cluster_rankings"] / max(
        counts["clustered_embedders"], 1)
    rows = [
        ("report, first run (empty DIR)", cold["seconds"], cold["peak_mb"],
         f"{_phase_text(cold)}; dbt docs child "
         f"{cold['peak_mb_by_process'].get('dbt', 0):,.0f} MB"),
        ("report, second run (nothing changed, a later minute)", warm["seconds"],
         warm["peak_mb"], f"{_phase_text(warm)}; {_pages_text(warm)}"),
        ("report, third run (same minute as the second)", same["seconds"], same["peak_mb"],
         f"{_phase_text(same)}; {_pages_text(same)}"),
        ("index.html / whole DIR", None, None,
         f"index {_mb(sizes['index_bytes'])}; DIR {_mb(sizes['total_bytes'])} in "
         f"{sizes['files']:,} files"),
        (f"baseline: team's collages, {base['clusters']} clusters of {base['embedder_id']}",
         base["seconds"], base["peak_mb"],
         f"{base['images_opened']} full images opened, {base['files']} PNGs "
         f"({_mb(base['bytes'])}); {per_collage:.2f} s per collage; read "
         f"{base['load_seconds']:.1f} s (process wall {base['wall_seconds']:.1f} s)"),
        (f"baseline EXTRAPOLATED to the report's {all_collages:.0f} collages", per_collage *
         all_collages, None,
         f"not run: {per_collage:.2f} s x {counts['clusters']} clusters x "
         f"{counts['cluster_rankings']} rankings (rating + each valid signal); no image pages, "
         "no scores, thresholds, maps"),
    ]
    thumbs_phase = cold["phases"].get("thumbnails") or 0.0
    made = counts["distinct_files"] or 1
    for measured in thumbs:
        estimate = measured["per_image_s"] * made
        rows.append((
            f"thumbnails at {measured['size']} px, EXTRAPOLATED to {made:,} images", estimate,
            measured["peak_mb"],
            f"measured: {measured['images']} pictures re-encoded at {measured['size']} px "
            f"({measured['mean_source_kb']:.0f} KB each), {measured['per_image_s'] * 1e3:.2f} "
            f"ms per image (the sample's {thumbs_phase / made * 1e3:.2f} ms); a first run "
            f"with such files: about {cold['seconds'] - thumbs_phase + estimate:.0f} s"))
    print(f"\nneurostock report: {n:,} full_set images "
          f"({counts['image_pages_with_file']:,} with a file, {counts['distinct_files']:,} "
          f"distinct), {counts['valid_signals']} valid signals, {counts['clusters']} clusters; "
          f"{os.cpu_count()} cores; --workers {args.workers}\n")
    print(f"setup ({'reused, ' if info.get('reused') else ''}not timed in the targets): "
          f"sample --rows {info['rows']:,} with {info['rated_images']:,} rated rows, "
          f"{info['scorers']} imported scores: {info['seconds']:.0f} s ("
          + ", ".join(f"{k} {v:.0f} s" for k, v in info["steps_seconds"].items()) + ")\n")
    print(_table(rows))
    print("\nDIR by part:\n\n| part | files | size |\n|---|---:|---:|")
    for part, entry in sizes["by_part"].items():
        print(f"| {part} | {entry['files']:,} | {_mb(entry['bytes'])} |")
    print(f"\ncold: {cold['summary']}\nwarm: {warm['summary']}\n"
          f"same-minute: {same['summary']}")
    print("\nCPU seconds of each run (user + system, its children included) and of other "
          "processes on the machine meanwhile (/proc/stat; more than a few seconds means the "
          "timings above are inflated):")
    for label, measured in (("first", cold), ("second", warm), ("third", same),
                            ("baseline", base)):
        wall = measured.get("wall_seconds", measured["seconds"])
        print(f"  {label:<9} wall {wall:6.1f} s, CPU {measured['cpu_seconds']:6.1f} s, "
              f"others {measured['other_cpu_seconds']:5.1f} s, load average before "
              f"{measured['load_before']:.2f}")

    scale = TARGET_FULL_SET / n if n else 1.0
    checks = {
        f"first run < {TARGET_COLD_SECONDS:.0f} s": cold["seconds"] < TARGET_COLD_SECONDS,
        f"second run < {TARGET_WARM_SECONDS:.0f} s": warm["seconds"] < TARGET_WARM_SECONDS,
        f"index.html < {TARGET_INDEX_BYTES / 1024 / 1024:.0f} MB": (
            sizes["index_bytes"] is not None and sizes["index_bytes"] < TARGET_INDEX_BYTES),
    }
    print()
    if abs(scale - 1) > 0.05:
        docs = cold["phases"].get("dbt docs generate") or 0.0
        print(f"NOTE: {n:,} full_set images, not {TARGET_FULL_SET:,}: EXTRAPOLATED to "
              f"{TARGET_FULL_SET:,} (linear, dbt docs kept fixed): first run "
              f"{docs + (cold['seconds'] - docs) * scale:.0f} s, second run "
              f"{warm['seconds'] * scale:.0f} s")
    for name, ok in checks.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    for label, profile in profiles.items():
        _print_profile(label, profile)
    total = time.perf_counter() - began
    print(f"\nbenchmark took {total:.0f} s" + (f"; work directory kept: {workdir}" if keep
                                                   else ""))

    def trimmed(measured: dict) -> dict:
        return {**{k: v for k, v in measured.items() if k != "stderr"},
                "stderr_tail": [f"[{t:.2f}] {s}" for t, s in measured["stderr"][-30:]]}

    report = {
        "target": "neurostock report --out DIR over 12,000 images under 60 s on 2 cores; "
                  "a second run with nothing changed under 10 s; index page under 5 MB",
        "cores": os.cpu_count(), "workers": args.workers, "setup": info,
        "cold": trimmed(cold), "warm": trimmed(warm), "same_minute": trimmed(same),
        "sizes": sizes, "baseline": base,
        "thumbnails_by_size": thumbs,
        "baseline_extrapolated_seconds": per_collage * all_collages,
        "profiles": profiles, "checks": checks, "benchmark_seconds": total,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
