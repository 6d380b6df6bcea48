"""Offline video localisation speed (generation.localization), on ONE core: seconds of video
localised per wall second, per target language, with and without transcription, with and
without the dub, and each stage's share of the time. Prints figures; needs apertium (with
apertium-eng-spa, apertium-es-pt) and espeak-ng (scripts/venv.sh installs them).

The source is a preview render (real H.264, 480x854 at 24 fps) with an English espeak-ng voice
as its sound (AAC, 48 kHz): a sentence every few seconds, as in a short-form video.

    DJANGO_SETTINGS_MODULE=config.settings python bench/localization.py [seconds of video] [runs]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# One core, before numpy or FFmpeg start threads.
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from generation.backends.base import RenderSpec  # noqa: E402
from generation.backends.preview import PreviewBackend  # noqa: E402
from generation.localization.base import Cue, LanguageRequest  # noqa: E402
from generation.localization.media import decode_audio, with_soundtrack  # noqa: E402
from generation.localization.pipeline import localize_language, supported_pair, transcribe_video  # noqa: E402

SENTENCES = [
    "Hello everyone, welcome back to my channel.",
    "Today we are going to the beach with my dog.",
    "The weather is beautiful and the water is warm.",
    "Look at this amazing sunset over the city.",
    "Do not forget to follow me for part two.",
    "My friend made a cake for the party tonight.",
]
RATE = 48000
TARGETS = ("es", "pt-BR")


def make_source(folder: Path, seconds: int) -> tuple[Path, list[Cue]]:
    fields = dict(job_id="bench", kind="text_to_video", prompt="a day at the beach", duration_seconds=seconds,
                  width=480, height=854, fps=24, seed=3)
    silent = PreviewBackend().render(RenderSpec(**fields), folder, lambda fraction: None).video_path
    audio = np.zeros(seconds * RATE, dtype=np.float32)
    cues: list[Cue] = []
    at, i = 0.5, 0
    while True:
        text = SENTENCES[i % len(SENTENCES)]
        wav = folder / "line.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, capture_output=True)
        voice = decode_audio(wav, rate=RATE)[0]
        length = voice.size / RATE
        if at + length > seconds - 0.2:
            break
        audio[int(at * RATE):int(at * RATE) + voice.size] = voice
        cues.append(Cue(round(at, 3), round(at + length, 3), text))
        at, i = at + length + 0.8, i + 1
    return with_soundtrack(silent, audio, rate=RATE, out_path=folder / "source.mp4"), cues


def run(source: Path, cues: list[Cue], target: str, *, transcribe: bool, dub: bool, burn_in: bool,
        out: Path) -> dict[str, float]:
    stages: dict[str, float] = {}
    began: dict[str, float] = {}
    started = time.perf_counter()
    if transcribe:
        cues = transcribe_video(source, language="en")
        stages["transcribe"] = time.perf_counter() - started

    def progress(stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if fraction == 0.0:
            began[stage] = now
        elif fraction == 1.0:
            stages[stage] = now - began[stage]

    localize_language(source_video=source, cues=cues, out_dir=out, progress=progress,
                      request=LanguageRequest(source_language="en", target_language=target, dub=dub, burn_in=burn_in))
    stages["total"] = time.perf_counter() - started
    return stages


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    settings.TRANSLATION_BACKEND = "apertium"
    print(f"one core (cpu {sorted(os.sched_getaffinity(0))[0]}), {seconds} s source, 480x854 24 fps H.264, "
          f"48 kHz AAC English speech; median of {runs} runs; transcriber {settings.LOCALIZATION_TRANSCRIBER}, "
          f"synthesizer {settings.LOCALIZATION_SYNTHESIZER}, translator apertium")
    with tempfile.TemporaryDirectory(prefix="bench-loc-") as tmp:
        folder = Path(tmp)
        source, cues = make_source(folder, seconds)
        print(f"{len(cues)} cues")
        scenarios = [
            ("subtitles given, no dub", dict(transcribe=False, dub=False, burn_in=False)),
            ("subtitles given, dub", dict(transcribe=False, dub=True, burn_in=False)),
            ("transcribed, no dub", dict(transcribe=True, dub=False, burn_in=False)),
            ("transcribed, dub", dict(transcribe=True, dub=True, burn_in=False)),
            ("subtitles given, burnt in", dict(transcribe=False, dub=False, burn_in=True)),
        ]
        # Warm-up: pocketsphinx's models load once per worker process, not per job.
        transcribe_video(source, language="en")
        for target in TARGETS:
            if not supported_pair("en", target):
                print(f"en->{target}: pair not installed")
                continue
            for label, options in scenarios:
                results = [run(source, cues, target, out=folder / f"out-{i}", **options) for i in range(runs)]
                medians = defaultdict(float)
                for key in results[0]:
                    medians[key] = float(np.median([r[key] for r in results]))
                total = medians["total"]
                shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in medians.items() if k != "total")
                print(f"en->{target:5} {label:26} {total:6.2f} s wall, {seconds / total:5.1f}x real time  ({shares})")


if __name__ == "__main__":
    main()
