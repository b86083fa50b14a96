"""Run the flaw classifier on the labeled benchmark and print its figures.

    .venv/bin/python bench/classify/run.py [--split eval|tune|all] [--n N] [--show]

Items are built on the fly from their index (bench/classify/dataset.py). The first half of the
benchmark is for tuning, the second half (the default) gives the printed figures. Everything runs
on one core; time is the classifier's alone (assess on a 1024x1024 frame), not the building.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2  # noqa: E402

cv2.setNumThreads(1)

from bench.classify.dataset import (  # noqa: E402
    FUNDAMENTAL,
    LOCALIZED,
    N_ITEMS,
    Item,
    build,
    split_of,
)
from route_assets.imaging.classify import Assessment, assess  # noqa: E402
from route_assets.imaging.flaws import FlawKind  # noqa: E402

VERDICTS = ("accept", "edit", "regenerate")
MIN_IOU = 0.3


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def localized(item: Item, a: Assessment) -> bool:
    """The classifier boxed the injected region: a flaw of the labeled kind with IoU >= 0.3."""
    lab = item.labels[0]
    assert lab.region is not None
    return any(f.kind == lab.kind and f.region is not None and iou(f.region, lab.region) >= MIN_IOU
               for f in a.flaws)


def ratio(num: int, den: int) -> str:
    return f"{num / den:.3f} ({num}/{den})" if den else "n/a"


def report(results: list[tuple[Item, Assessment, float]], title: str, show: bool) -> None:
    kinds = [k.value for k in FlawKind]
    tp, fp, fn = Counter[str](), Counter[str](), Counter[str]()
    confusion = Counter[tuple[str, str]]()
    fund = fund_hit = clean = clean_alarm = loc = loc_hit = loc_det = 0
    for item, a, _ in results:
        truth = {lb.kind for lb in item.labels}
        found = {f.kind.value for f in a.flaws}
        for k in kinds:
            tp[k] += k in truth and k in found
            fp[k] += k not in truth and k in found
            fn[k] += k in truth and k not in found
        confusion[item.expected, a.verdict] += 1
        recipes = {lb.recipe for lb in item.labels}
        if recipes & FUNDAMENTAL:
            fund += 1
            fund_hit += a.verdict == "regenerate"
        if not item.labels:
            clean += 1
            clean_alarm += a.verdict != "accept"
        if recipes & LOCALIZED:
            loc += 1
            hit = localized(item, a)
            loc_hit += hit
            loc_det += item.labels[0].kind in found
        if show and (a.verdict != item.expected or found != truth):
            lab = item.labels[0] if item.labels else None
            print(f"  #{item.index:3d} {lab.recipe if lab else 'clean':20s} "
                  f"{item.photo or '-':22s} want {item.expected:10s} got {a.verdict:10s} "
                  f"flaws={[f.kind.value for f in a.flaws]} "
                  f"{lab.params if lab else ''}")
    n = len(results)
    print(f"== {title}: {n} images ({clean} clean controls, {n - clean} flawed)")
    print(f"{'kind':22s} {'n':>4s} {'precision':>10s} {'recall':>10s}")
    for k in kinds:
        if not tp[k] + fp[k] + fn[k]:
            continue  # a kind only the vision judge reports (prompt, anatomy): not measured here
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else float("nan")
        r = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else float("nan")
        print(f"{k:22s} {tp[k] + fn[k]:4d} {p:10.3f} {r:10.3f}")
    correct = sum(confusion[v, v] for v in VERDICTS)
    times = [t for *_, t in results]
    print(f"verdict accuracy            {ratio(correct, n)}   target >= 0.90")
    print(f"fundamental recall          {ratio(fund_hit, fund)}   target >= 0.95")
    print(f"clean false-alarm rate      {ratio(clean_alarm, clean)}   target <= 0.05")
    print(f"localization (IoU >= {MIN_IOU})   {ratio(loc_hit, loc)}   target >= 0.80"
          f"   (kind detected: {loc_det}/{loc})")
    print(f"median time per 1024x1024   {1000 * statistics.median(times):.1f} ms"
          f"   (p90 {1000 * sorted(times)[int(0.9 * (n - 1))]:.1f} ms, one core)"
          f"   target <= 150 ms")
    print("confusion (rows: expected verdict, columns: classifier verdict)")
    print(f"{'':12s}" + "".join(f"{v:>12s}" for v in VERDICTS))
    for e in VERDICTS:
        print(f"{e:12s}" + "".join(f"{confusion[e, v]:12d}" for v in VERDICTS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("eval", "tune", "all"), default="eval")
    ap.add_argument("--n", type=int, default=N_ITEMS, help="benchmark size (default %(default)s)")
    ap.add_argument("--show", action="store_true", help="list the misjudged images")
    args = ap.parse_args()
    idx = [i for i in range(args.n) if args.split == "all" or split_of(i, args.n) == args.split]
    assess(build(idx[0]).image, palette=build(idx[0]).palette)  # warm-up: cascades, caches
    results = []
    for i in idx:
        item = build(i)
        start = time.perf_counter()
        a = assess(item.image, palette=item.palette)
        results.append((item, a, time.perf_counter() - start))
    report(results, f"{args.split} split (items {idx[0]}..{idx[-1]} of {args.n})", args.show)


if __name__ == "__main__":
    main()
