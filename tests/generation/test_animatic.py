"""The animatic provider renders real clips with the real ffmpeg and espeak-ng; nothing is mocked.

A missing binary is a failure here, never a skip: every other test suite relies on this provider
to produce media offline.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import ffmpeg
import pytest

from generation.matrix import LANGUAGES
from generation.providers import get_provider
from generation.providers.animatic import (
    SUPPORTED_LANGUAGES,
    AnimaticProvider,
    _pil_font,
    _text_chains,
    _wrap,
    animatic_palette,
    font_covers,
    font_for_text,
    frame_size,
    render_animatic,
)
from generation.providers.base import (
    CancelOutcome,
    GenerationRequest,
    ProviderError,
    RemoteState,
    RequestRejected,
    Submission,
)

TRICKY_TEXT = "Save 50%: it's \"fresh\" — C:\\beans\\ [new], café; über %{pts} 'ok'"


def _request(**overrides: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "prompt": "Sunrise over a coffee farm. Steam rises from a cup.",
        "duration_s": 3,
        "shots": ("Wake up to Greenlight", "Brewed in three seconds"),
        "title": "Morning",
        "script": "Good morning. Greenlight makes your coffee.",
        "seed": 7,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def _render(directory: Path, name: str, **overrides: object) -> Path:
    out = directory / f"{name}.mp4"
    render_animatic(request=_request(**overrides), out_path=out)
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Render the shared clips once; each test reads the ones it needs."""
    directory = tmp_path_factory.mktemp("animatic")
    return {
        "16:9": _render(directory, "wide", aspect_ratio="16:9"),
        "9:16": _render(directory, "tall", aspect_ratio="9:16"),
        "1:1": _render(directory, "square", aspect_ratio="1:1"),
        "1080p": _render(directory, "full_hd", aspect_ratio="16:9", resolution="1080p"),
        "bed": _render(directory, "bed", script="", shots=()),
        "silent": _render(directory, "silent", audio=False, aspect_ratio="1:1"),
    }


def _streams(path: Path, kind: str) -> list[dict]:
    return [s for s in ffmpeg.probe(str(path))["streams"] if s["codec_type"] == kind]


def _top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with path.open("rb") as fh:
        while header := fh.read(8):
            size, kind = struct.unpack(">I4s", header)
            header_len = 8
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
                header_len = 16
            boxes.append(kind.decode("latin-1"))
            if size == 0:
                break
            fh.seek(size - header_len, 1)
    return boxes


def _max_volume(path: Path) -> float:
    run = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            "0:a",
            "-af",
            "volumedetect",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(re.search(r"max_volume: (-?[\d.]+|-inf) dB", run.stderr).group(1))


def _gray_frame(path: Path, *, at: float) -> bytes:
    run = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-ss",
            str(at),
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            "scale=160:90",
            "-pix_fmt",
            "gray",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return run.stdout


@pytest.mark.parametrize(
    ("aspect", "resolution", "size"),
    [
        ("16:9", "720p", (1280, 720)),
        ("9:16", "720p", (720, 1280)),
        ("1:1", "720p", (720, 720)),
        ("16:9", "1080p", (1920, 1080)),
        ("9:16", "1080p", (1080, 1920)),
        ("1:1", "1080p", (1080, 1080)),
    ],
)
def test_frame_size_puts_the_resolution_on_the_short_side(aspect, resolution, size):
    assert frame_size(aspect_ratio=aspect, resolution=resolution) == size


@pytest.mark.parametrize(
    ("key", "size"),
    [("16:9", (1280, 720)), ("9:16", (720, 1280)), ("1:1", (720, 720)), ("1080p", (1920, 1080))],
)
def test_clip_has_the_requested_shape_codecs_and_duration(clips, key, size):
    path = clips[key]
    probe = ffmpeg.probe(str(path))
    (video,) = _streams(path, "video")
    (audio,) = _streams(path, "audio")
    assert (video["width"], video["height"]) == size
    assert video["codec_name"] == "h264"
    assert video["pix_fmt"] == "yuv420p"
    assert video["avg_frame_rate"] == "25/1"
    assert audio["codec_name"] == "aac"
    assert audio["sample_rate"] == "48000"
    assert audio["channels"] == 2
    assert abs(float(probe["format"]["duration"]) - 3) <= 0.1
    assert abs(float(video["duration"]) - 3) <= 0.1
    assert abs(float(audio["duration"]) - 3) <= 0.1


@pytest.mark.parametrize("key", ["16:9", "silent"])
def test_moov_comes_before_mdat(clips, key):
    boxes = _top_level_boxes(clips[key])
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")


def test_script_is_spoken_loud_and_clear(clips):
    assert _max_volume(clips["16:9"]) > -20


def test_no_script_still_has_a_quiet_ambient_bed(clips):
    level = _max_volume(clips["bed"])
    assert -60 < level < -25


def test_audio_false_gives_no_audio_stream(clips):
    path = clips["silent"]
    assert _streams(path, "audio") == []
    assert (_streams(path, "video")[0]["width"], _streams(path, "video")[0]["height"]) == (720, 720)
    assert abs(float(ffmpeg.probe(str(path))["format"]["duration"]) - 3) <= 0.1


def test_background_moves(clips):
    early, late = (_gray_frame(clips["bed"], at=t) for t in (0.4, 2.4))
    assert len(early) == len(late) == 160 * 90
    mean_diff = sum(abs(a - b) for a, b in zip(early, late, strict=True)) / len(early)
    assert mean_diff > 1.0


def test_palette_is_stable_per_seed_and_differs_between_seeds():
    first = animatic_palette(prompt="A cup of coffee", seed=1)
    assert first == animatic_palette(prompt="A cup of coffee", seed=1)
    assert first != animatic_palette(prompt="A cup of coffee", seed=2)
    assert first != animatic_palette(prompt="A cup of tea", seed=1)
    assert all(re.fullmatch(r"0x[0-9a-f]{6}", colour) for colour in first)


def test_every_supported_language_has_an_installed_espeak_voice():
    listing = subprocess.run(
        ["espeak-ng", "--voices"], capture_output=True, text=True, check=True
    ).stdout
    installed = set()
    for line in listing.splitlines()[1:]:
        # "Pty Language Age/Gender VoiceName File Other Languages", aliases as "(zh 8)".
        columns = line.split()
        installed.add(columns[1])
        installed.update(re.findall(r"\(([\w-]+) \d+\)", line))
    assert {"en", "es", "fr", "de", "pt-BR", "ja"} <= set(SUPPORTED_LANGUAGES)
    missing = {code: voice for code, voice in SUPPORTED_LANGUAGES.items() if voice not in installed}
    assert missing == {}


# One line in each script the brief form offers; every character must have a glyph.
SAMPLES = {
    "en": "Spring is here",
    "zh": "春天来了，新品上市",
    "yue": "春天嚟咗，新品上市喇",
    "ja": "春の新作、今すぐ",
    "ko": "봄 신상품 지금 만나보세요",
    "de": "Frühling, größer & schöner",
    "fr": "Le printemps est là, déjà",
    "es": "¡La primavera llegó, señor!",
    "it": "È arrivata la primavera",
    "pt-BR": "A primavera chegou, ação!",
}


def test_every_language_the_form_offers_has_a_sample_and_a_voice():
    assert set(SAMPLES) == {code for code, _name in LANGUAGES}
    assert {code for code, _name in LANGUAGES} <= set(SUPPORTED_LANGUAGES)
    assert SUPPORTED_LANGUAGES["yue"] == "yue"


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_the_font_is_picked_by_the_glyphs_the_text_needs(code, language):
    """Whatever the variant's language, the text is drawn with a font that has its glyphs."""
    text = SAMPLES[code]
    font = font_for_text(text, language)
    assert all(font_covers(font, c) for c in text if not c.isspace()), (code, font)


def test_font_covers_reads_the_real_charset():
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    assert font_covers(dejavu, "A") and font_covers(dejavu, "é")
    assert not font_covers(dejavu, "春")


def _drawn(chains: list[str]) -> list[tuple[str, str]]:
    """(font file, text) for every drawtext in a filter chain list."""
    out = []
    for chain in chains:
        font = re.search(r"fontfile=((?:\\\\.|[^:])+)", chain).group(1).replace("\\\\", "")
        textfile = re.search(r"textfile=((?:\\\\.|[^:])+)", chain).group(1).replace("\\\\", "")
        out.append((font, Path(textfile).read_text(encoding="utf-8")))
    return out


def test_an_english_variant_draws_cjk_shots_and_title_with_a_font_that_has_them(tmp_path):
    request = _request(
        language="en",
        shots=("春の新作 Spring is here", "봄 세일"),
        title="Meet the range — 春のコレクション",
    )

    drawn = _drawn(_text_chains(request=request, scratch=tmp_path, width=1280, height=720))

    texts = {text: font for font, text in drawn}
    for text in ("春の新作 Spring is here", "봄 세일"):
        assert all(font_covers(texts[text], c) for c in text if not c.isspace())
    header = next(t for t in texts if t.startswith("ANIMATIC PREVIEW"))
    assert header.endswith("春のコレクション")
    assert all(font_covers(texts[header], c) for c in header if not c.isspace())


@pytest.mark.parametrize(("width", "height"), [(720, 1280), (720, 720), (1080, 1920)])
def test_the_title_is_not_cut_off_in_vertical_and_square_clips(tmp_path, width, height):
    title = "Meet the Spring range: fresh, bright and ready"
    request = _request(title=title, shots=("One", "Two"))

    drawn = [t for _f, t in _drawn(
        _text_chains(request=request, scratch=tmp_path, width=width, height=height)
    )]  # fmt: skip

    assert drawn[0] == "ANIMATIC PREVIEW"
    title_lines = drawn[1 : drawn.index("One")]
    assert " ".join(title_lines) == title
    assert all(not line.endswith("…") for line in title_lines)


def test_two_seeds_give_different_pictures(tmp_path):
    """A new version takes a new seed; the animatic must look different for it."""
    one = _render(tmp_path, "seed1", seed=1, script="", shots=())
    two = _render(tmp_path, "seed2", seed=2, script="", shots=())
    again = _render(tmp_path, "seed1again", seed=1, script="", shots=())

    first, second, repeat = (_gray_frame(p, at=1.0) for p in (one, two, again))
    diff = sum(abs(a - b) for a, b in zip(first, second, strict=True)) / len(first)
    assert diff > 5.0
    assert first == repeat


def test_wrapped_lines_fit_the_width_and_keep_every_word():
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    text = "A much longer shot line that must wrap " * 4 + "Supercalifragilistic" * 3
    lines = _wrap(text, font=font, size=54, max_width=600)
    assert len(lines) > 3
    assert all(_pil_font(font, 54).getlength(line) <= 600 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_tricky_text_renders(tmp_path):
    path = _render(
        tmp_path,
        "tricky",
        shots=(TRICKY_TEXT, "Ünïcödé ÉÀ — naïve façade", "\\ \\\\ '' \" : ; , [ ] %%"),
        title=TRICKY_TEXT,
        script=TRICKY_TEXT,
        language="fr",
    )
    assert _streams(path, "video")[0]["codec_name"] == "h264"


def test_long_script_is_cut_to_the_clip(tmp_path):
    script = "This script is far too long to say in three seconds, however fast it is read. " * 3
    path = _render(tmp_path, "long", script=script, shots=(), title="")
    assert abs(float(ffmpeg.probe(str(path))["format"]["duration"]) - 3) <= 0.1


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"duration_s": 2}, "2"),
        ({"duration_s": 16}, "16"),
        ({"duration_s": 5.5}, "5.5"),
        ({"aspect_ratio": "4:3"}, "'4:3'"),
        ({"resolution": "4k"}, "'4k'"),
        ({"language": "xx"}, "'xx'"),
        ({"model": "veo-3"}, "'veo-3'"),
    ],
)
def test_bad_input_is_rejected_by_name(tmp_path, overrides, named):
    with pytest.raises(RequestRejected) as caught:
        render_animatic(request=_request(**overrides), out_path=tmp_path / "never.mp4")
    assert named in str(caught.value)
    assert not (tmp_path / "never.mp4").exists()


def test_unknown_language_lists_the_supported_ones(settings, tmp_path):
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path
    with pytest.raises(RequestRejected, match="supported: en, .*pt-BR.*ja"):
        AnimaticProvider().submit(_request(language="xx"), idempotency_key="k")
    assert not (tmp_path / "animatic").exists() or not any((tmp_path / "animatic").iterdir())


def test_language_codes_match_case_insensitively(tmp_path):
    path = _render(tmp_path, "br", language="pt-br", script="Bom dia", shots=())
    assert _streams(path, "audio")[0]["codec_name"] == "aac"


def test_submit_status_result_cancel(settings, tmp_path):
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path
    provider = get_provider("animatic")
    assert isinstance(provider, AnimaticProvider)
    request = _request(model="animatic-v1", seed=42)
    assert provider.estimate_cost(request) == 0

    submission = provider.submit(request, idempotency_key="job-1")
    request_id = submission.request_id

    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    status = provider.status(submission)
    assert status.state == RemoteState.COMPLETED
    result = provider.result(submission)
    assert result.cost_usd == 0
    assert result.content_type == "video/mp4"
    assert result.seed == 42
    assert urlparse(result.url).scheme == "file"
    video = Path(url2pathname(urlparse(result.url).path))
    assert video == (tmp_path / "animatic" / f"{request_id}.mp4").resolve()
    assert video.is_file()
    sidecar = tmp_path / "animatic" / f"{request_id}.json"
    assert GenerationRequest.from_dict(json.loads(sidecar.read_text())) == request
    # Atomic writes leave nothing half-written behind.
    assert sorted(p.name for p in (tmp_path / "animatic").iterdir()) == [
        f"{request_id}.json",
        f"{request_id}.mp4",
    ]

    # The same key again finds the finished render instead of rendering twice.
    assert provider.submit(request, idempotency_key="job-1") == submission
    assert provider.lookup(idempotency_key="job-1") == submission
    assert provider.lookup(idempotency_key="job-2") is None

    assert provider.cancel(submission) == CancelOutcome.CANCELED

    assert list((tmp_path / "animatic").iterdir()) == []
    with pytest.raises(ProviderError) as caught:
        provider.status(submission)
    assert caught.value.code == "not_found"
    assert provider.cancel(submission) == CancelOutcome.NOT_FOUND  # already gone


@pytest.mark.parametrize(
    "request_id", ["../etc", "../../etc/passwd", "0" * 32 + "/x", "", "ABCDEF" * 6, "0" * 31]
)
def test_malformed_ids_are_refused_everywhere(settings, tmp_path, request_id):
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path
    provider = AnimaticProvider()
    for call in (provider.status, provider.result, provider.cancel):
        with pytest.raises(ProviderError):
            call(Submission(request_id=request_id))


def test_unknown_ids_are_not_found(settings, tmp_path):
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path
    provider = AnimaticProvider()
    for call in (provider.status, provider.result):
        with pytest.raises(ProviderError) as caught:
            call(Submission(request_id="0" * 32))
        assert caught.value.code == "not_found"
    assert provider.cancel(Submission(request_id="0" * 32)) == CancelOutcome.NOT_FOUND


def test_missing_binary_fails_the_submit_and_the_status(settings, tmp_path, monkeypatch):
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    provider = AnimaticProvider()

    with pytest.raises(ProviderError) as caught:
        provider.submit(_request(), idempotency_key="k")

    assert caught.value.code == "missing_binary"
    assert caught.value.retryable is False
    (error_file,) = (tmp_path / "animatic").glob("*.error")
    status = provider.status(Submission(request_id=error_file.stem))
    assert status.state == RemoteState.FAILED
    assert "not installed" in status.error


def test_a_failed_render_reports_stderr_and_leaves_no_partial_file(tmp_path, monkeypatch):
    from generation.providers import animatic

    def broken_args(*, request, scratch, out):
        return ["ffmpeg", "-nostdin", "-f", "lavfi", "-i", "nosuchsource", "-f", "mp4", str(out)]

    monkeypatch.setattr(animatic, "_ffmpeg_args", broken_args)
    with pytest.raises(ProviderError) as caught:
        render_animatic(request=_request(), out_path=tmp_path / "clip.mp4")
    assert caught.value.code == "render_failed"
    assert "nosuchsource" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
