"""Score the anomaly detectors (plugins/plugin_utils/anomaly) on the Numenta Anomaly Benchmark with NAB's
published scoring (bench/nab_scoring.py): all three profiles, normalised, one threshold per profile
optimised over the whole corpus as NAB's optimizer does (nothing is tuned per file).

Usage: nice -n 10 .venv/bin/python bench/nab_bench.py NAB_DIR [--detector context|baseline] [--only SUBSTRING]
       [--set key=value ...]   (or NAB_DIR in the environment; the directory holds NAB's data/ and labels/)

The contextual detector (the default) is given what NAB gives every detector and nothing more: its
warm-up is the file's probationary period (NAB's first 15 %, at most 750 rows, which NAB does not score)
and its quiet period a fifth of that, as NAB's CAD OSE does. It does not use the file's minimum and
maximum, which NAB also hands to detectors: the range is learned from the probationary rows only.

Exits 1 when the standard profile scores below --goal (default 65).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nab_scoring import PROFILES, load_corpus, probationary_length, score_corpus

from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.context import ContextConfig, ContextDetector
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.detector import (
    DetectorConfig,
    StreamingDetector,
)

PUBLISHED = {
    "CAD OSE": 69.9,
    "earthgecko Skyline": 58.2,
    "KNN CAD": 58.0,
    "Random Cut Forest": 51.7,
    "Windowed Gaussian": 39.6,
    "null": 0.0,
}


def config_from(pairs, config):
    for pair in pairs or ():
        key, _unused, raw = pair.partition("=")
        current = getattr(config, key)
        if isinstance(current, tuple):
            value = tuple(float(v) for v in raw.split(",") if v)
        elif isinstance(current, bool):
            value = raw.lower() in ("1", "true", "yes")
        elif isinstance(current, int):
            value = int(raw)
        elif current is None:
            value = float(raw)
        else:
            value = float(raw)
        setattr(config, key, value)
    return config


def detect(timestamps, values, config) -> list[float]:
    if isinstance(config, ContextConfig):
        # NAB's probationary period is the warm-up; a fifth of it the quiet period after an alarm (CAD OSE's)
        warmup = int(probationary_length(len(values)))
        detector = ContextDetector(ContextConfig(**{**vars(config), "warmup": warmup, "quiet": warmup // 5}))
    else:
        detector = StreamingDetector(config)
    return [detector.update(v, t.timestamp()).score for t, v in zip(timestamps, values, strict=True)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nab_dir", nargs="?", default=os.environ.get("NAB_DIR"))
    parser.add_argument("--only", help="score only files whose name contains this (not comparable to NAB)")
    parser.add_argument("--detector", choices=("context", "baseline"), default="context")
    parser.add_argument("--set", action="append", help="a field of the detector's config, key=value")
    parser.add_argument("--goal", type=float, default=65.0)
    args = parser.parse_args(argv)
    if not args.nab_dir:
        parser.error("give the NAB directory (argument or NAB_DIR)")
    config = config_from(args.set, ContextConfig() if args.detector == "context" else DetectorConfig())
    series, windows = load_corpus(args.nab_dir)
    if args.only:
        series = {k: v for k, v in series.items() if args.only in k}
        windows = {k: v for k, v in windows.items() if k in series}
    started = time.monotonic()
    files = {}
    points = 0
    for name, (timestamps, values) in series.items():
        files[name] = (timestamps, detect(timestamps, values, config))
        points += len(values)
    took = time.monotonic() - started
    results = score_corpus(files, windows)
    print(
        f"NAB: {len(files)} files, {points} points, {sum(len(windows[n]) for n in files)} windows; "
        f"detector {took:.1f} s ({1e6 * took / max(points, 1):.0f} us/point)"
    )
    print(f"detector: {args.detector}, config: {config}")
    for profile in PROFILES:
        r = results[profile]
        print(
            f"  {profile:20s} {r.normalised:6.1f}   (threshold {r.threshold:.4f}, raw {r.raw:.2f}, "
            f"null {r.null:.2f}, perfect {r.perfect:.2f})"
        )
    print("published standard-profile scores: " + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items()))
    standard = results["standard"].normalised
    if args.only is None and standard < args.goal:
        print(f"standard profile {standard:.1f} is below the goal {args.goal}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
