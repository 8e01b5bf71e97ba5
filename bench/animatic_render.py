"""Time the animatic provider's renders against the length of the clips they make.

Run from the project root: `.venv/bin/python bench/animatic_render.py [--keep DIR]`.
A ratio (render seconds / clip seconds) below 1.0 means faster than real time. Django is not
needed: `render_animatic` takes its output path directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Run as a plain script, the project root is not on sys.path; put it first so the checkout
# being measured is the one imported.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.providers.animatic import render_animatic  # noqa: E402
from generation.providers.base import GenerationRequest  # noqa: E402

CASES = [
    *((aspect, "720p", duration) for duration in (5, 15) for aspect in ("16:9", "9:16", "1:1")),
    *((aspect, "1080p", 10) for aspect in ("16:9", "9:16", "1:1")),
]
# Every case should render in at most half the clip's length (issue 7).
TARGET = 0.5


def bench_request(*, aspect_ratio: str, resolution: str, duration_s: int) -> GenerationRequest:
    """Return a representative request: three shots, a spoken script, audio on."""
    return GenerationRequest(
        prompt="Sunrise over a coffee farm. Steam curls from a cup on a wooden table.",
        duration_s=duration_s,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        language="en",
        script="Good morning. Greenlight brews your campaign while the coffee is still hot.",
        shots=(
            "Wake up to 100% arabica",
            "Roasted this week, delivered in two days, wherever your team is working today",
            "Order now: greenlight.example",
        ),
        title="Morning roast",
        seed=1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the clips here instead of a temp dir")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="animatic-bench-") as scratch:
        out_dir = options.keep or Path(scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        print(f"CPUs available: {len(os.sched_getaffinity(0))}")
        print(f"{'aspect':<7} {'res':<6} {'clip s':>6} {'render s':>9} {'ratio':>6}")
        worst_720 = worst = 0.0
        for aspect, resolution, duration in CASES:
            request = bench_request(aspect_ratio=aspect, resolution=resolution, duration_s=duration)
            out = out_dir / f"{aspect.replace(':', 'x')}_{resolution}_{duration}s.mp4"
            started = time.perf_counter()
            render_animatic(request=request, out_path=out)
            elapsed = time.perf_counter() - started
            ratio = elapsed / duration
            if resolution == "720p":
                worst_720 = max(worst_720, ratio)
            worst = max(worst, ratio)
            print(f"{aspect:<7} {resolution:<6} {duration:>6} {elapsed:>9.2f} {ratio:>6.3f}")
        print(f"worst 720p ratio (render / clip): {worst_720:.3f}")
        verdict = "met" if worst <= TARGET else "MISSED"
        print(f"worst ratio of any case: {worst:.3f} (target {TARGET}: {verdict})")
        print(f"load average while measuring: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
