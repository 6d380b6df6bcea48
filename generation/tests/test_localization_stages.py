"""The offline localisation stages (generation.localization) on real clips: subtitles in, cues
translated with apertium, the MP4 muxed with PyAV (and dubbed with espeak-ng, transcribed with
pocketsphinx), everything checked by decoding what was written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from generation.backends.media import generator_metadata
from generation.backends.preview import PreviewBackend
from generation.backends.base import RenderSpec
from generation.localization.base import Cue, LanguageRequest, StageFailed, SubtitlesInvalid
from generation.localization.media import decode_audio, with_soundtrack
from generation.localization.offline import group_words
from generation.localization.pipeline import burn_in_supported, localize_language, supported_pair, transcribe_video
from generation.localization.subtitles import parse_subtitles, write_vtt
from generation.localization.translate import translate_cues
from generation.translation.apertium import installed_modes

needs_apertium = pytest.mark.skipif(not {"eng-spa", "es-pt_BR"} <= installed_modes(),
                                    reason="apertium with apertium-eng-spa and apertium-es-pt (scripts/venv.sh)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (scripts/venv.sh)")

SRT = b"""1
00:00:00,500 --> 00:00:01,800
The cat is here.

2
00:00:02,000 --> 00:00:03,200
My friend Zorblax likes the rain.

3
00:00:03,400 --> 00:00:05,600
The dog eats bread.
"""


@pytest.fixture(autouse=True)
def _apertium(settings):
    settings.TRANSLATION_BACKEND = "apertium"


def tone(seconds: float, rate: int = 16000, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * level).astype(np.float32)


def make_clip(tmp_path: Path, *, seconds: int = 6, audio: np.ndarray | None = None, rate: int = 16000,
              name: str = "source.mp4") -> Path:
    """A preview render (real H.264) with a soundtrack added: `audio` (mono floats) or a tone."""
    fields = dict(job_id="loc-1", kind="text_to_video", prompt="a lighthouse at night", duration_seconds=seconds,
                  width=160, height=96, fps=8, seed=7)
    spec = RenderSpec(**{**fields, "metadata": generator_metadata(RenderSpec(**fields), "preview")})
    work = tmp_path / "render"
    work.mkdir(exist_ok=True)
    silent = PreviewBackend().render(spec, work, lambda fraction: None).video_path
    samples = tone(seconds, rate) if audio is None else audio
    return with_soundtrack(silent, samples, rate=rate, out_path=tmp_path / name)


def streams_of(path: Path) -> list[tuple[str, str, str]]:
    with av.open(str(path)) as container:
        return [(s.type, s.codec_context.name, s.metadata.get("language", "")) for s in container.streams]


def soft_subtitles(path: Path) -> list[tuple[float, float, str]]:
    """The mov_text track's cues, decoded by FFmpeg (its text from the ASS it decodes to)."""
    cues = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if packet.dts is None:
                continue
            for sub in packet.decode():
                # The ASS event line: 8 fields, then the text (PyAV's `dialogue` fails on non-ASCII).
                text = sub.ass.decode("utf-8").split(",", 8)[8]
                if text:
                    cues.append((float(packet.pts * packet.time_base), float((packet.pts + packet.duration) * packet.time_base),
                                 text))
    return cues


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# --- subtitles ---------------------------------------------------------------------------------

def test_parse_srt_gives_cues_in_time_order():
    cues = parse_subtitles(SRT, filename="talk.srt", duration=6.0)

    assert cues == [Cue(0.5, 1.8, "The cat is here."), Cue(2.0, 3.2, "My friend Zorblax likes the rain."),
                    Cue(3.4, 5.6, "The dog eats bread.")]


def test_parse_webvtt_and_ass():
    vtt = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<b>Hello</b> there\nfriend\n\n00:03.000 --> 00:04.000\nBye\n"
    ass = (b"[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\nStyle: Default,Arial,20\n\n"
           b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
           b"Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\\i1}Hola{\\i0}\\Namigo\n"
           b"Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,not shown\n")

    assert parse_subtitles(vtt, filename="a.vtt", duration=5) == [Cue(1.0, 2.5, "Hello there friend"),
                                                                  Cue(3.0, 4.0, "Bye")]
    assert parse_subtitles(ass, filename="a.ass", duration=5) == [Cue(1.0, 2.0, "Hola amigo")]


@pytest.mark.parametrize("data,filename", [
    (b"this is not a subtitles file\nat all", "notes.txt"),
    (b"", "empty.srt"),
    (b"\xff\xfe\x00garbage\x00", "bin.srt"),
    (b"1\n00:00:01,000 --> 00:00:02,000\n   \n\n", "blank.srt"),
    (b"1\n00:00:03,000 --> 00:00:02,000\nbackwards\n\n", "backwards.srt"),
])
def test_unparseable_or_empty_subtitles_are_invalid(data, filename):
    with pytest.raises(SubtitlesInvalid) as caught:
        parse_subtitles(data, filename=filename, duration=10)

    assert caught.value.code == "subtitles_invalid"


def test_cue_after_the_end_is_out_of_range():
    late = b"1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:09,000 --> 00:00:12,000\ntoo late\n\n"

    with pytest.raises(SubtitlesInvalid) as caught:
        parse_subtitles(late, filename="late.srt", duration=10)

    assert caught.value.code == "subtitles_out_of_range"


def test_write_vtt_round_trips(tmp_path):
    cues = [Cue(0.5, 1.25, "Tom & Jerry <3"), Cue(61.0, 3723.5, "later")]

    path = write_vtt(cues, tmp_path / "out.vtt")

    assert path.read_text(encoding="utf-8") == ("WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.250\nTom &amp; Jerry &lt;3\n\n"
                                                "2\n00:01:01.000 --> 01:02:03.500\nlater\n")
    assert parse_subtitles(path.read_bytes(), filename="out.vtt", duration=4000) == cues


# --- translation -------------------------------------------------------------------------------

@needs_apertium
def test_translate_cues_keeps_times_and_applies_glossary():
    cues = parse_subtitles(SRT, filename="talk.srt", duration=6.0)

    translated = translate_cues(cues, source="en", target="es", glossary={"Zorblax": "Zorbi", "rain": "lluvia mágica"})

    assert [(c.start, c.end) for c in translated] == [(c.start, c.end) for c in cues]
    assert translated[0].text == "El gato es aquí."
    assert "Zorbi" in translated[1].text and "Zorblax" not in translated[1].text
    assert "lluvia mágica" in translated[1].text
    assert translated[2].text == "El perro come pan."


def test_unsupported_pair_is_a_stage_failure(tmp_path):
    source = make_clip(tmp_path, seconds=2)
    cues = [Cue(0.2, 1.0, "Hello")]

    assert supported_pair("en", "ja") is False
    with pytest.raises(StageFailed) as caught:
        localize_language(source_video=source, cues=cues, out_dir=tmp_path / "out",
                          request=LanguageRequest(source_language="en", target_language="ja"))

    assert (caught.value.stage, caught.value.code) == ("translate", "language_pair_unsupported")
    assert not (tmp_path / "out" / "ja.mp4").exists()
    assert not (tmp_path / "out" / "ja.vtt").exists()


# --- subtitles-only localisation ---------------------------------------------------------------

@needs_apertium
def test_localize_subtitles_only_copies_video_and_tags_tracks(tmp_path):
    source = make_clip(tmp_path, seconds=6)
    cues = parse_subtitles(SRT, filename="talk.srt", duration=6.0)
    seen: list[tuple[str, float]] = []

    result = localize_language(source_video=source, cues=cues, out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="es"),
                               progress=lambda stage, fraction: seen.append((stage, fraction)))

    assert result.video == tmp_path / "out" / "es.mp4"
    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "eng"), ("subtitle", "mov_text", "spa")]
    assert decoded_frames(result.video) == decoded_frames(source) == 48
    assert soft_subtitles(result.video) == [(c.start, c.end, c.text) for c in result.cues]
    with av.open(str(source)) as a, av.open(str(result.video)) as b:
        # Copied, not re-encoded: the same packets.
        assert [bytes(p) for p in a.demux(video=0)] == [bytes(p) for p in b.demux(video=0)]
    parsed = parse_subtitles(result.vtt.read_bytes(), filename="es.vtt", duration=6.0)
    assert [(c.start, c.end) for c in parsed] == [(0.5, 1.8), (2.0, 3.2), (3.4, 5.6)]
    assert parsed == result.cues
    assert parsed[2].text == "El perro come pan."
    assert seen[0] == ("translate", 0.0) and seen[-1] == ("mux", 1.0)


@needs_apertium
def test_localize_to_portuguese_through_spanish(tmp_path):
    source = make_clip(tmp_path, seconds=6)
    cues = parse_subtitles(SRT, filename="talk.srt", duration=6.0)

    result = localize_language(source_video=source, cues=cues, out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="pt-BR"))

    assert result.cues[2].text == "O cão come pan."  # through Spanish: "pan" is not in es-pt_BR's dictionary
    assert result.vtt.name == "pt-BR.vtt"
    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "eng"), ("subtitle", "mov_text", "por")]


# --- dubbing -----------------------------------------------------------------------------------

WINDOW = 0.02  # seconds per energy window


def track_samples(path: Path, language: str, rate: int = 48000) -> np.ndarray:
    """The audio track tagged `language` (ISO 639-2), decoded to mono floats."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams.audio if s.metadata.get("language") == language)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        chunks = [out.to_ndarray()[0] for frame in container.decode(stream) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray()[0] for out in resampler.resample(None)]
    return np.concatenate(chunks)


def band_levels(samples: np.ndarray, rate: int, lo: float, hi: float) -> np.ndarray:
    """RMS amplitude per WINDOW of the part of the signal between lo and hi Hz."""
    n = int(WINDOW * rate)
    frames = samples[: samples.size // n * n].reshape(-1, n)
    spectrum = np.fft.rfft(frames * np.hanning(n), axis=1)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    band = (freqs >= lo) & (freqs < hi)
    # Parseval with the Hann window's power (3/8): RMS of the band-limited signal.
    return np.sqrt(2 * (np.abs(spectrum[:, band]) ** 2).sum(axis=1) / (n * n * 0.375))


DUB_CUES = [
    Cue(0.3, 1.3, "The cat is here and the dog is in the garden with my friend and the teacher."),
    Cue(1.6, 3.0, "The dog eats bread."),
    Cue(3.3, 4.6, "I like the rain very much because it is beautiful and the city is big."),
]


@needs_apertium
@needs_espeak
def test_dub_fits_every_cue_before_the_next_and_ducks_the_original(tmp_path):
    rate = 48000
    # A 12 kHz tone: above everything espeak-ng says (22 kHz output), so speech and the original
    # are measured apart in the mixed track.
    source = make_clip(tmp_path, seconds=5, audio=tone(5, rate, freq=12000, level=0.3), rate=rate)

    result = localize_language(source_video=source, cues=DUB_CUES, out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="es", dub=True))

    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "spa"), ("audio", "aac", "eng"),
                                        ("subtitle", "mov_text", "spa")]
    dub = track_samples(result.video, "spa")
    speech = band_levels(dub, rate, 80, 8000) > 0.02
    times = np.arange(speech.size) * WINDOW
    ends = [c.start for c in result.cues[1:]] + [5.0]
    for cue, next_start in zip(result.cues, ends):
        inside = speech & (times >= cue.start - WINDOW) & (times < next_start)
        spoken = times[inside]
        assert spoken.size * WINDOW >= 0.3, cue  # the cue is spoken
        assert spoken[-1] + WINDOW <= next_start, (cue, spoken[-1])  # and ends before the next starts
    # Nothing spoken outside the cues' slots.
    in_slot = np.zeros_like(speech)
    for cue, next_start in zip(result.cues, ends):
        in_slot |= (times >= cue.start - WINDOW) & (times < next_start)
    assert not (speech & ~in_slot).any()
    # The original (the tone) is ducked by 12 dB while the dub speaks, untouched elsewhere.
    tone_level = band_levels(dub, rate, 11500, 12500)
    rms = 0.3 / np.sqrt(2)
    before = tone_level[(times > 0.05) & (times < 0.24)].mean()  # before the first cue
    under = tone_level[(times > 1.8) & (times < 2.2)].mean()  # cue 2 speaking
    assert rms * 0.9 < before < rms * 1.1
    assert 0.22 < under / before < 0.28  # -12 dB is 0.251
    original = band_levels(track_samples(result.video, "eng"), rate, 11500, 12500)
    assert rms * 0.9 < original[(times > 1.8) & (times < 2.2)].mean() < rms * 1.1


@needs_apertium
@needs_espeak
def test_dub_of_a_silent_video(tmp_path):
    source = make_clip(tmp_path, seconds=5, audio=np.zeros(5 * 16000, dtype=np.float32))

    result = localize_language(source_video=source, cues=DUB_CUES[1:2], out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="pt-BR", dub=True))

    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "por"), ("audio", "aac", "eng"),
                                        ("subtitle", "mov_text", "por")]
    levels = band_levels(track_samples(result.video, "por"), 48000, 80, 8000)
    assert levels[: int(1.6 / WINDOW) - 1].max() < 0.005
    assert levels[int(1.6 / WINDOW): int(3.0 / WINDOW)].max() > 0.05


def test_dub_unsupported_language_is_a_stage_failure(tmp_path, settings):
    source = make_clip(tmp_path, seconds=2)

    with pytest.raises(StageFailed) as caught:
        localize_language(source_video=source, cues=[Cue(0.2, 1.0, "Hello")], out_dir=tmp_path / "out",
                          request=LanguageRequest(source_language="en", target_language="en-GB", dub=True),
                          synthesizer=NoVoices())

    assert (caught.value.stage, caught.value.code) == ("dub", "dub_unsupported")
    assert not (tmp_path / "out" / "en-GB.mp4").exists()


class NoVoices:
    name = "none"

    def supports(self, language: str) -> bool:
        return False

    def synthesize(self, text: str, *, language: str, out_wav: Path) -> Path:
        raise AssertionError("not asked")


# --- transcription -----------------------------------------------------------------------------

SPOKEN = "hello. my name is john. i like to play football with my friends."


def espeak(text: str, tmp_path: Path, *, voice: str = "en-us", rate: int = 48000) -> np.ndarray:
    wav = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
    return decode_audio(wav, rate=rate)[0]


@needs_espeak
def test_transcribe_english_speech_gives_timed_cues_with_the_words(tmp_path):
    rate = 48000  # what phones record; AAC at 16 kHz loses too much for the recogniser
    speech = espeak(SPOKEN, tmp_path, rate=rate)
    audio = np.zeros(7 * rate, dtype=np.float32)
    audio[rate:rate + speech.size] = speech  # one second of silence first
    source = make_clip(tmp_path, seconds=7, audio=audio, rate=rate)

    cues = transcribe_video(source, language="en")

    heard = {word for cue in cues for word in cue.text.split()}
    assert len(heard & set(SPOKEN.replace(".", "").split())) >= 4, cues
    assert 0.8 <= cues[0].start < 1.5
    assert cues[-1].end <= 1.0 + speech.size / rate + 0.3
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert all(c.end - c.start <= 7.0 for c in cues)


def test_transcribe_refuses_what_it_cannot_do(tmp_path):
    with_sound = make_clip(tmp_path, seconds=2)
    fields = dict(job_id="loc-2", kind="text_to_video", prompt="quiet", duration_seconds=1, width=64, height=64,
                  fps=8, seed=1)
    silent = PreviewBackend().render(RenderSpec(**fields), tmp_path, lambda fraction: None).video_path

    with pytest.raises(StageFailed) as unsupported:
        transcribe_video(with_sound, language="es")
    with pytest.raises(StageFailed) as no_audio:
        transcribe_video(silent, language="en")
    with pytest.raises(StageFailed) as no_speech:
        transcribe_video(make_clip(tmp_path, seconds=2, audio=np.zeros(32000, dtype=np.float32), name="q.mp4"),
                         language="en")

    assert (unsupported.value.stage, unsupported.value.code) == ("transcribe", "transcription_unsupported")
    assert no_audio.value.code == "no_audio"
    assert no_speech.value.code == "no_speech"


def test_group_words_breaks_at_pauses_and_length():
    words = [(0.0, 0.3, "one"), (0.35, 0.6, "two"), (1.5, 1.8, "three")] + [(2.0 + i, 2.9 + i, f"w{i}") for i in range(8)]

    cues = group_words(words)

    assert [c.text for c in cues] == ["one two", "three w0 w1 w2 w3 w4 w5", "w6 w7"]
    assert (cues[0].start, cues[0].end) == (0.0, 0.6)


# --- burn-in -----------------------------------------------------------------------------------

def frames_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


@needs_apertium
def test_burn_in_draws_the_cues_on_their_frames_only(tmp_path):
    source = make_clip(tmp_path, seconds=6)
    cues = parse_subtitles(SRT, filename="talk.srt", duration=6.0)

    result = localize_language(source_video=source, cues=cues, out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="es", burn_in=True))

    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "eng"), ("subtitle", "mov_text", "spa")]
    before, after = frames_rgb(source), frames_rgb(result.video)
    assert len(after) == len(before) == 48
    bottom = slice(60, 96)  # the caption box sits at the bottom of the 96-pixel frame
    diff = [np.abs(a[bottom] - b[bottom]).mean() for a, b in zip(after, before)]
    fps = 8
    for i, d in enumerate(diff):
        t = i / fps
        if any(c.start <= t < c.end for c in cues):
            assert d > 10, (i, d)
        else:
            assert d < 4, (i, d)


# --- hosted translation (LibreTranslate protocol, local fake) ----------------------------------

@needs_espeak
def test_remote_translation_to_japanese_with_a_japanese_dub(tmp_path, remote_translation):
    source = make_clip(tmp_path, seconds=4, audio=np.zeros(4 * 16000, dtype=np.float32))
    cues = [Cue(0.5, 2.5, "My cat dances in the rain")]

    assert supported_pair("en", "ja") is True
    result = localize_language(source_video=source, cues=cues, out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="ja", dub=True))

    assert result.cues == [Cue(0.5, 2.5, "私の猫は雨の中で踊る")]
    assert [r["q"] for r in remote_translation.requests] == ["My cat dances in the rain"]
    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "jpn"), ("audio", "aac", "eng"),
                                        ("subtitle", "mov_text", "jpn")]
    assert soft_subtitles(result.video) == [(0.5, 2.5, "私の猫は雨の中で踊る")]
    levels = band_levels(track_samples(result.video, "jpn"), 48000, 80, 8000)
    assert levels[int(0.6 / WINDOW): int(2.4 / WINDOW)].mean() > 0.05  # espeak-ng's Japanese voice spoke
    assert levels[int(3.96 / WINDOW):].max() < 0.005  # the last cue may speak on to the end, not past it


def test_remote_translation_failure_is_a_stage_failure(tmp_path, remote_translation):
    source = make_clip(tmp_path, seconds=2)
    remote_translation.fail_with = 500

    with pytest.raises(StageFailed) as caught:
        localize_language(source_video=source, cues=[Cue(0.2, 1.0, "Hello")], out_dir=tmp_path / "out",
                          request=LanguageRequest(source_language="en", target_language="ja"))

    assert (caught.value.stage, caught.value.code) == ("translate", "translation_failed")
    assert not (tmp_path / "out" / "ja.mp4").exists()


def test_burn_in_of_a_script_the_font_lacks_is_refused(tmp_path, remote_translation):
    source = make_clip(tmp_path, seconds=4)

    # DejaVu Sans (the default font) draws Latin and Arabic letters, not CJK or Devanagari.
    assert [burn_in_supported(lang) for lang in ("es", "pt-BR", "id", "ar", "ja", "zh-Hans", "hi")] == [
        True, True, True, True, False, False, False]
    with pytest.raises(StageFailed) as caught:
        localize_language(source_video=source, cues=[Cue(0.5, 2.5, "My cat dances in the rain")],
                          out_dir=tmp_path / "out",
                          request=LanguageRequest(source_language="en", target_language="ja", burn_in=True))

    assert (caught.value.stage, caught.value.code) == ("burn_in", "burn_in_unsupported")
    assert remote_translation.requests == []
    assert not (tmp_path / "out" / "ja.mp4").exists()


def test_burn_in_cues_with_letters_the_font_lacks_are_refused(tmp_path, settings):
    source = make_clip(tmp_path, seconds=4)
    cues = [Cue(0.5, 2.5, "Hello"), Cue(2.6, 3.5, "字幕")]

    with pytest.raises(StageFailed) as caught:
        localize_language(source_video=source, cues=cues, out_dir=tmp_path / "out",
                          request=LanguageRequest(source_language="en", target_language="en", burn_in=True))

    assert (caught.value.stage, caught.value.code) == ("burn_in", "burn_in_unsupported")
    assert not (tmp_path / "out" / "en.mp4").exists()
    settings.LOCALIZATION_BURN_IN_FONT = str(tmp_path / "no-such-font.ttf")
    assert burn_in_supported("es") is False


def test_burn_in_arabic(tmp_path, remote_translation):
    source = make_clip(tmp_path, seconds=4)

    result = localize_language(source_video=source, cues=[Cue(0.5, 2.5, "My cat dances in the rain")],
                               out_dir=tmp_path / "out",
                               request=LanguageRequest(source_language="en", target_language="ar", burn_in=True))

    assert result.cues == [Cue(0.5, 2.5, "قطتي ترقص تحت المطر")]
    assert decoded_frames(result.video) == 32
    assert streams_of(result.video) == [("video", "h264", "und"), ("audio", "aac", "eng"), ("subtitle", "mov_text", "ara")]
