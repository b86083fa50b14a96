"""Video curation benchmark: K clips per set from real photographs, good and broken; prints how
often curation keeps a good clip, rejects all-broken sets, catches each defect, and what our
H.264 encode costs against a plain ffmpeg encode of the same frames.

    .venv/bin/python bench/video/run.py [--split eval|tune|all|fresh|final] [--sets N] [--scores]

The thresholds are policy.yaml's `video.thresholds`, tuned on the `tune` half of the sets
(indices below N_SETS/2); the printed figures come from the `eval` half unless told otherwise.
`fresh` builds --fresh-sets more sets past N_SETS, never used for tuning nor for designing a
measure: the check that a scorer change made after an eval miss holds on unseen sets.
`final` builds the --final-sets after those: a second holdout, for when a fresh miss has been
looked at (fresh set 62 prompted the tracked drift measure), so fresh is no longer unseen.
Every clip is encoded to MP4 and decoded again before scoring, as in the pipeline.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.video.clips import (  # noqa: E402
    FINAL_SETS,
    FPS,
    FRESH_SETS,
    N_SETS,
    SIZE,
    K,
    build,
    split_of,
)
from route_assets.catalog import load_policy  # noqa: E402
from route_assets.imaging import video_scores  # noqa: E402
from route_assets.imaging.video import encode_h264, ken_burns_frames  # noqa: E402


def _scores(clip_set):
    out = []
    box = clip_set.box
    for clip in clip_set.clips:
        mp4 = encode_h264(clip.frames, width=SIZE[0], height=SIZE[1], fps=FPS)
        frames, fps = video_scores.decode_small(mp4)
        out.append(video_scores.score_clip(frames, fps, clip_set.keyframe, box))
    return out


def curation(indices, limits, show_scores=False):
    picked_good = with_good = rejected = all_broken = 0
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    good_passed = good_total = 0
    misses = []
    by_kind = defaultdict(list)
    for i in indices:
        clip_set = build(i)
        scores = _scores(clip_set)
        result = video_scores.curate(scores, limits)
        for clip, s, reasons in zip(clip_set.clips, scores, result.reasons, strict=True):
            kind = clip.defect or "good"
            by_kind[kind].append(s)
            if clip.defect is None:
                good_total += 1
                good_passed += not reasons
            else:
                total[clip.defect] += 1
                caught[clip.defect] += bool(reasons)
            if show_scores:
                print(f"  set {i:3d} {kind:8s} {clip.engine:9s} {s.as_dict()} {reasons}")
        if clip_set.has_good:
            with_good += 1
            ok = result.best is not None and clip_set.clips[result.best].defect is None
            picked_good += ok
            if not ok:
                misses.append(f"set {i}: kept {result.best}, reasons {result.reasons}")
        else:
            all_broken += 1
            rejected += result.best is None
            if result.best is not None:
                misses.append(f"set {i} (all broken): kept {result.best} "
                              f"({clip_set.clips[result.best].defect})")
    return {
        "picked_good": (picked_good, with_good), "rejected": (rejected, all_broken),
        "caught": caught, "total": total, "good_passed": (good_passed, good_total),
        "misses": misses, "by_kind": by_kind,
    }


def _ffmpeg_encode(frames, width, height, fps) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plain.mp4"
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264",
               "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
               "-movflags", "+faststart", str(out)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        for f in frames:
            proc.stdin.write(f.tobytes())
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("ffmpeg failed")
        return time.perf_counter() - start


def encode_times(width=720, height=1280, seconds=5.0, fps=30, rounds=3):
    """Median wall time of our encoder and of the ffmpeg CLI on the same frames (same preset,
    crf, pixel format and faststart), alternating so both see the same machine load."""
    from skimage import data

    frames = list(ken_burns_frames(data.astronaut(), width=width, height=height,
                                   seconds=seconds, fps=fps, focus_box=(170, 40, 310, 200)))
    ours, plain = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        encode_h264(frames, width=width, height=height, fps=fps)
        ours.append(time.perf_counter() - start)
        plain.append(_ffmpeg_encode(frames, width, height, fps))
    return statistics.median(ours), statistics.median(plain), len(frames)


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} = {100 * a / b:.1f}%" if b else "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("eval", "tune", "all", "fresh", "final"),
                        default="eval")
    parser.add_argument("--sets", type=int, default=N_SETS, help="use only the first N sets")
    parser.add_argument("--fresh-sets", type=int, default=FRESH_SETS,
                        help="how many for --split fresh")
    parser.add_argument("--final-sets", type=int, default=FINAL_SETS,
                        help="how many for --split final")
    parser.add_argument("--scores", action="store_true", help="print every clip's scores")
    parser.add_argument("--no-encode-time", action="store_true")
    args = parser.parse_args(argv)
    limits = load_policy().video.thresholds
    if args.split == "fresh":
        indices = list(range(N_SETS, N_SETS + args.fresh_sets))
    elif args.split == "final":
        first = N_SETS + FRESH_SETS
        indices = list(range(first, first + args.final_sets))
    else:
        indices = [i for i in range(min(args.sets, N_SETS))
                   if args.split == "all" or split_of(i) == args.split]
    start = time.perf_counter()
    r = curation(indices, limits, args.scores)
    took = time.perf_counter() - start
    print(f"video curation benchmark: {len(indices)} sets of K={K} ({args.split} split; "
          f"thresholds tuned on the tune split), clips {SIZE[0]}x{SIZE[1]} {FPS} fps")
    print(f"  good clip kept when the set has one: {_pct(*r['picked_good'])}")
    print(f"  all-broken sets rejected:            {_pct(*r['rejected'])}")
    print(f"  good clips passing all checks:       {_pct(*r['good_passed'])}")
    for defect in sorted(r["total"]):
        caught = _pct(r["caught"][defect], r["total"][defect])
        print(f"  {defect:8s} clips caught:            {caught}")
    for miss in r["misses"]:
        print(f"  miss: {miss}")
    print(f"  scoring wall time: {took:.1f} s (build + encode + decode + score)")
    if not args.no_encode_time:
        ours, plain, n = encode_times()
        print(f"encode time, {n} frames 720x1280 30 fps, libx264 veryfast crf 23 yuv420p "
              f"faststart (median of 3): ours {ours:.2f} s, ffmpeg CLI {plain:.2f} s, "
              f"ratio {ours / plain:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
