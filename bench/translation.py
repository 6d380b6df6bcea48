"""Offline caption translation speed: the apertium backend (generation.translation), one
process per caption as the API runs it, per pair. Prints figures; needs apertium with
apertium-eng-spa and apertium-es-pt (scripts/venv.sh installs them).

    DJANGO_SETTINGS_MODULE=config.settings python bench/translation.py [captions per pair]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from generation.translation.apertium import ApertiumBackend, installed_modes  # noqa: E402

CAPTIONS = [
    "My cat likes to dance in the rain",
    "Sunset over the city, remix this with your own colours #citylights",
    "The rain is beautiful today",
    "I made a paper boat and it sailed across the lake",
    "Who wants to see part two? Follow for more",
]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    backend = ApertiumBackend()
    print(f"apertium modes installed: {', '.join(sorted(installed_modes())) or 'none'}")
    for source, target in (("en", "es"), ("es", "en"), ("en", "pt-br")):
        if not backend.supports(source, target):
            print(f"{source}->{target}: not installed")
            continue
        timings = []
        for i in range(runs):
            started = time.perf_counter()
            backend.translate(CAPTIONS[i % len(CAPTIONS)], source=source, target=target)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        print(f"{source}->{target}: {runs} captions, median {statistics.median(timings):.0f} ms, "
              f"p95 {timings[int(len(timings) * 0.95) - 1]:.0f} ms, max {timings[-1]:.0f} ms")


if __name__ == "__main__":
    main()
