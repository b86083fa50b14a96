"""Subject retention of placement crops on hand-annotated real photographs.

    .venv/bin/python bench/crop/run.py [--parts P,..] [--classical] [--n N] [--sheet DIR]
                                       [--simulated N]

Cases come from bench/crop/dataset.py (1024x1024 masters re-framed from the annotated photos in
bench/crop/annotations.yaml). For each of 9:16, 4:5, 1:1, 16:9 and 1.91:1 (each with the
overlay zones of a placement of that ratio in route_assets/data/placements.yaml) three methods
pick the region to show:

- planner: route_assets' own (imaging.framing + imaging.resize), seeing only the master and
  the subject estimate the pipeline carries in its manifests (imaging.subject.find_subject),
  never the annotation; it outpaints when no crop can keep what it protects;
- planner-crop: the same planner forbidden to outpaint (largest crop, best position);
- centre: the largest centred crop;
- smartcrop: smartcrop 0.5.0 (smartcrop.py), largest crop of the ratio (min_scale=1);
- oracle: the planner's window logic given the annotated box itself: not a rival (it sees the
  answer) but the least outpainting any planner keeping every subject needs.

The planner consults the learned foreground model (imaging/foreground.py; `route-assets
install-models`) where its subject estimate is not trusted; `--classical` runs it without.

Masters are split by photograph into parts (dataset.PARTS; README.md): `tune`, where the
planner's constants are set; `eval`, held out until its failures were diagnosed, a second
development part since; `final` and `fresh`, each annotated before the planner first ran on
it and held out for one run; `heldout`, the same; and `sealed` and `sealed2`, chosen and
annotated by another hand, never seen by the planner's author, each run once (the held-out
figures: README.md). Each part is printed, then all masters together. `--parts` picks parts.

Subject retention (the definition in market-and-platforms.md §3): the share of crops whose
annotated subject box lies fully inside the crop window *and* inside the placement's clear
area (outside its UI overlays). "Fully" means at least 99% of the box area, which forgives one
pixel of box rounding. `in-frame` is the weaker figure: inside the window, overlays ignored.

Time per placement is CPU time of this process (time.process_time) with OpenCV and BLAS limited
to one thread, i.e. time on one core, which other jobs on a shared machine do not inflate as
they do wall time. It covers analysing the master and producing the placement's pixels at its
exact size; the planner's
analysis (subject, faces, saliency) runs once per master and is shared by its placements, so
`ms/placement` is a master's analysis plus its five renders, divided by five. `single` is one
analysis plus one render (an ad set with a single placement).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import smartcrop  # noqa: E402
from PIL import Image  # noqa: E402

cv2.setNumThreads(1)

from bench.ad_sets import scene as ad_set_scene  # noqa: E402
from bench.crop.dataset import PARTS, Case, cases, master  # noqa: E402
from route_assets.catalog import load_placements  # noqa: E402
from route_assets.engines.foreground_model import installed as installed_foreground  # noqa: E402
from route_assets.engines.simulator import simulate_generation  # noqa: E402
from route_assets.imaging.foreground import Matte  # noqa: E402
from route_assets.imaging.framing import keep_for  # noqa: E402
from route_assets.imaging.resize import (  # noqa: E402
    Keep,
    Zone,
    clear_area,
    overlap_fraction,
    plan_crop,
    render,
)
from route_assets.imaging.subject import find_subject  # noqa: E402
from route_assets.settings import foreground_model_path  # noqa: E402

# ratio label -> the placement whose size and overlay zones stand for it
RATIOS = {
    "9:16": "tiktok-infeed",
    "4:5": "ig-feed-portrait",
    "1:1": "ig-feed-square",
    "16:9": "yt-instream",
    "1.91:1": "fb-feed-landscape",
}
METHODS = ("planner", "planner-crop", "centre", "smartcrop", "oracle")
FULLY = 0.99


@dataclass(frozen=True)
class Outcome:
    case: str
    ratio: str
    method: str
    window: tuple[float, float, float, float]
    in_frame: bool
    clear: bool
    outpainted: bool
    ms: float  # this placement's own work (render, plus the method's analysis if per-crop)
    part: str = "tune"
    synthesised: float = 0.0  # share of the placement's frame that is outpainted


def _largest(width: int, height: int, side: int) -> tuple[float, float]:
    r = width / height
    return (side * r, float(side)) if r <= 1 else (float(side), side / r)


def _centre(width: int, height: int, side: int) -> tuple[float, float, float, float]:
    w, h = _largest(width, height, side)
    return ((side - w) / 2, (side - h) / 2, (side + w) / 2, (side + h) / 2)


def _smartcrop(image: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    top = smartcrop.SmartCrop().crop(Image.fromarray(image), width, height,
                                     min_scale=1.0)["top_crop"]
    return (top["x"], top["y"], top["x"] + top["width"], top["y"] + top["height"])


def run_case(case: Case, image: np.ndarray | None = None, palette: tuple[str, ...] = (),
             foreground: Matte | None = None) -> tuple[list[Outcome], float]:
    """Every method on every ratio for one master (the case's photograph re-framed, unless
    `image` is given); returns outcomes and the planner's per-master analysis time (ms)."""
    image = master(case) if image is None else image
    side = image.shape[0]
    t0 = time.process_time()
    subject = find_subject(image, palette=palette)
    keep = keep_for(image, subject_box=subject.box, subject_mask=subject.mask,
                    foreground=foreground)
    analysis_ms = (time.process_time() - t0) * 1000
    out = []
    for ratio, placement_id in RATIOS.items():
        spec = load_placements().get(placement_id)
        zone = Zone(**spec.safe_zone.model_dump())
        size = {"width": spec.width, "height": spec.height}
        for method in METHODS:
            t = time.process_time()
            outpainted = False
            if method.startswith("planner"):
                plan = plan_crop(side, side, keep=keep, zone=zone,
                                 outpaint=method == "planner", **size)
                window, outpainted = plan.window, plan.outpainted
            elif method == "oracle":  # the annotated box itself protected: the least
                # outpainting any planner that keeps the subject needs (a reference, not a rival)
                plan = plan_crop(side, side, keep=Keep(boxes=(case.box,)), zone=zone, **size)
                window, outpainted = plan.window, plan.outpainted
            elif method == "centre":
                window = _centre(spec.width, spec.height, side)
            else:
                window = _smartcrop(image, spec.width, spec.height)
            pixels = render(image, window, **size)
            ms = (time.process_time() - t) * 1000
            assert pixels.shape == (spec.height, spec.width, 3)
            area = (window[2] - window[0]) * (window[3] - window[1])
            shown = overlap_fraction((0, 0, side, side), window) * side * side
            out.append(Outcome(
                case.id, ratio, method, tuple(float(v) for v in window),  # type: ignore[arg-type]
                overlap_fraction(case.box, window) >= FULLY,
                overlap_fraction(case.box, clear_area(window, zone)) >= FULLY,
                outpainted, ms, case.part, max(0.0, 1 - shown / area)))
    return out, analysis_ms


def _pct(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "n/a"


def _tables(results: list[Outcome], title: str, n_cases: int) -> dict[str, float]:
    """Retention, in-frame retention and outpainting of one part; its figures by key."""
    by = defaultdict(list)
    for r in results:
        by[r.method, r.ratio].append(r)
    print(f"\n== {title}: {n_cases} masters of 1024x1024 ==")
    print("subject retention (box fully inside the crop and clear of the placement's overlays)")
    print(f"{'method':<13}" + "".join(f"{r:>9}" for r in RATIOS) + f"{'all':>9}")
    figures = {}
    for method in METHODS:
        row = []
        for ratio in RATIOS:
            value = sum(o.clear for o in by[method, ratio]) / len(by[method, ratio])
            figures[f"{method}/{ratio}"] = value
            row.append(f"{value:9.3f}")
        every = [o.clear for o in results if o.method == method]
        figures[f"{method}/all"] = sum(every) / len(every)
        print(f"{method:<13}" + "".join(row) + f"{figures[f'{method}/all']:9.3f}")
    print("in-frame retention (box fully inside the crop, overlays ignored)")
    for method in METHODS:
        cells = "".join(f"{_pct([o.in_frame for o in by[method, r]]):>9}" for r in RATIOS)
        overall = _pct([o.in_frame for o in results if o.method == method])
        print(f"{method:<13}" + cells + f"{overall:>9}")
    planner = [o for o in results if o.method == "planner"]
    print("outpainting: share of placements outpainted; mean share of the frame synthesised "
          "(oracle: the least a planner keeping every annotated subject needs)")
    for method in ("planner", "oracle"):
        mine = [o for o in results if o.method == method]
        print(f"{method + ' rate':<13}" + "".join(
            f"{_pct([o.outpainted for o in by[method, r]]):>9}" for r in RATIOS)
            + f"{_pct([o.outpainted for o in mine]):>9}")
        print(f"{method + ' area':<13}" + "".join(
            f"{statistics.mean(o.synthesised for o in by[method, r]):9.3f}" for r in RATIOS)
            + f"{statistics.mean(o.synthesised for o in mine):9.3f}")
        figures[f"{method}/synthesised"] = statistics.mean(o.synthesised for o in mine)
    figures["planner/outpainted"] = sum(o.outpainted for o in planner) / len(planner)
    return figures


def report(results: list[Outcome], analysis: list[float], n_cases: int) -> dict[str, float]:
    """Print the tables of each part and of all masters; return {f'{method}/{ratio}':
    retention} over all masters, and the same keys prefixed with each part's name."""
    figures: dict[str, float] = {}
    for part in PARTS:
        mine = [r for r in results if r.part == part]
        if mine:
            label = {"tune": "TUNING part (constants set here; in-sample)",
                     "eval": "EVAL part (held out until 2026-12-06; development since)",
                     "final": "FINAL part (held out for one run on 2026-12-07)",
                     "fresh": "FRESH part (held out for one run; development since)",
                     "heldout": "HELDOUT part (held out for one run; development since)",
                     "sealed": "SEALED part (annotated by another hand, unseen, run once)",
                     "sealed2": "SEALED2 part (the same, added after sealed's run)"}[part]
            n = len({r.case for r in mine})
            figures |= {f"{part}/{k}": v for k, v in _tables(mine, label, n).items()}
    figures |= _tables(results, "ALL masters (both parts)", n_cases)
    print("\ntime per placement, all masters, one core (ms): median [p90]")
    per_master: defaultdict[str, float] = defaultdict(float)
    for r in results:
        if r.method == "planner":
            per_master[r.case] += r.ms
    amortised = [(analysis[i] + per_master[c]) / len(RATIOS)
                 for i, c in enumerate(dict.fromkeys(r.case for r in results))]
    planner_render = [r.ms for r in results if r.method == "planner"]
    single = [a + statistics.median(planner_render) for a in analysis]

    def q(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"{statistics.median(xs):7.1f} [{xs[int(0.9 * (len(xs) - 1))]:7.1f}]"

    print(f"  planner      analysis per master {q(analysis)}; plan+render {q(planner_render)}")
    print(f"  planner      ms/placement (5 placements per master) {q(amortised)}; "
          f"single placement {q(single)}")
    for method in ("centre", "smartcrop"):
        print(f"  {method:<12} ms/placement {q([r.ms for r in results if r.method == method])}")
    figures["planner/median_ms"] = statistics.median(amortised)
    return figures


def sheet(results: list[Outcome], all_cases: list[Case], folder: Path) -> None:
    """One image per master: annotation (green), planner (red), centre (blue), smartcrop
    (yellow) windows of the 9:16 and 16:9 crops, to check annotations and failures by eye."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = {"planner": (255, 0, 0), "centre": (0, 90, 255), "smartcrop": (255, 220, 0)}
    for case in all_cases:
        image = master(case).copy()
        cv2.rectangle(image, case.box[:2], case.box[2:], (0, 255, 0), 6)
        for r in results:
            if r.case == case.id and r.ratio in ("9:16", "16:9") and r.method in colours:
                x0, y0, x1, y1 = (int(round(v)) for v in r.window)
                cv2.rectangle(image, (x0, y0), (x1, y1), colours[r.method], 3)
        small = cv2.resize(image, (384, 384), interpolation=cv2.INTER_AREA)
        Image.fromarray(small).save(folder / f"{case.id}.png")


def simulated(n: int, foreground: Matte | None) -> dict[str, float]:
    """Retention on the pipeline's own kind of master: clean frames from the generator
    simulator (a subject on a brand background, headline band), whose subject box is known
    exactly, with the brand palette the pipeline's subject estimate gets. Not annotated photos:
    a separate figure, never mixed into the parts above."""
    results: list[Outcome] = []
    for k in range(n):
        spec = ad_set_scene(k)
        frame = simulate_generation(spec, seed=7000 + k, defect_rates={})
        x0, y0, x1, y1 = frame.subject_box
        box = (max(0, x0), max(0, y0), min(1024, x1), min(1024, y1))
        case = Case(f"sim-{k}@{frame.scene}", frame.scene, "", (0, 0, 1024, 1024), box,
                    "simulated")
        results += run_case(case, frame.image, spec.palette, foreground)[0]
    return _tables(results, "SIMULATED generator frames (not photographs; a separate figure)",
                   n)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=0, help="only the first N masters")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default all: {','.join(PARTS)})")
    parser.add_argument("--sheet", type=Path, help="write annotated contact images here")
    parser.add_argument("--classical", action="store_true",
                        help="the planner without the learned foreground model")
    parser.add_argument("--simulated", type=int, default=0, metavar="N",
                        help="also N clean frames from the generator simulator")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown part(s) {', '.join(unknown)}; choose from {PARTS}")
    foreground = None
    if not args.classical:
        foreground = installed_foreground()
        if foreground is None:
            parser.error(f"no foreground model at {foreground_model_path()}: run "
                         "`route-assets install-models` (or pass --classical)")
        foreground.probability(np.zeros((64, 64, 3), np.uint8))  # opens the session: untimed
    print("planner: " + ("classical boxes only (--classical)" if foreground is None else
                         f"with the learned foreground box ({foreground_model_path().name})"))
    all_cases = [c for c in cases() if c.part in parts][: args.n or None]
    results: list[Outcome] = []
    analysis: list[float] = []
    run_case(all_cases[0], foreground=foreground)  # warm-up: cascades, models load lazily
    for case in all_cases:
        outcomes, ms = run_case(case, foreground=foreground)
        results += outcomes
        analysis.append(ms)
    figures = report(results, analysis, len(all_cases))
    misses: dict[str, int] = defaultdict(int)  # both parts: a diagnosis, not a figure
    for r in results:
        if r.method == "planner" and not r.clear:
            misses[r.case.split("@")[0]] += 1
    if misses:
        print("\nplanner misses (placements) per subject:",
              ", ".join(f"{k} {v}" for k, v in sorted(misses.items())))
    if args.sheet:
        sheet(results, all_cases, args.sheet)
    if args.simulated:
        figures |= {f"simulated/{k}": v
                    for k, v in simulated(args.simulated, foreground).items()}
    return figures


if __name__ == "__main__":
    main()
