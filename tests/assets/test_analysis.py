"""The single-pass analysis and QC on media made in the test with ffmpeg: each defect gets
its finding (with where it happens), each unusable file a clear failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from assets import media, services
from assets.media import MediaError

from .conftest import MediaFiles, QcMedia, tool_names

# What the 4 s, 320x180 detector clips were asked to be, so only the defect is reported.
ASKED = {"duration_s": 4, "aspect_ratio": "16:9", "audio": True}


def _analyse(path: Path, tmp_path: Path) -> tuple[media.MediaInfo, media.Analysis]:
    info = media.probe(path)
    return info, media.analyse(source=path, info=info, work_dir=tmp_path / "analysis")


def _codes(path: Path, tmp_path: Path) -> list[str]:
    info, analysis = _analyse(path, tmp_path)
    findings = services.qc_findings(info=info, request=ASKED, analysis=analysis)
    return [f["code"] for f in findings]


def _overlaps(segments, start: float, end: float, *, slack: float = 0.3) -> bool:
    return any(abs(s - start) <= slack and abs(e - end) <= slack for s, e in segments)


def test_a_clean_clip_has_no_findings_and_every_derived_file(
    qc_media: QcMedia, tmp_path: Path
) -> None:
    info, analysis = _analyse(qc_media.clean, tmp_path)

    assert services.qc_findings(info=info, request=ASKED, analysis=analysis) == []
    assert analysis.frames == 100
    assert analysis.decoded_s == pytest.approx(4.0)
    assert (analysis.black, analysis.silence, analysis.freeze) == ([], [], [])
    assert analysis.loudness_lufs == pytest.approx(-14.0, abs=0.5)
    assert analysis.true_peak_dbtp is not None and analysis.true_peak_dbtp < -1
    assert analysis.loudness_range_lu is not None
    # Sprite: one 160x90 tile every 0.5 s, eight in one row.
    geometry = analysis.sprite_geometry
    assert (geometry.columns, geometry.rows, geometry.count) == (8, 1, 8)
    with Image.open(analysis.sprite) as sprite:
        assert sprite.size == (8 * 160, 90)
    with Image.open(analysis.waveform) as waveform:
        assert waveform.size == media.WAVEFORM_SIZE
    with Image.open(analysis.poster) as poster:
        assert poster.size == (320, 180)
    # Never the first frame: candidates sit in the middle of six equal slices.
    assert analysis.poster_at_s is not None and analysis.poster_at_s >= 4 / 6 / 2 - 0.01
    names = {p.name for p in (tmp_path / "analysis").iterdir()}
    assert {"poster.jpg", "sprite.jpg", "waveform.png"} <= names


def test_the_analysis_is_one_ffmpeg_run(qc_media: QcMedia, tmp_path: Path, tool_runs) -> None:
    runs = tool_runs
    info = media.probe(qc_media.clean)
    runs.clear()

    media.analyse(source=qc_media.clean, info=info, work_dir=tmp_path)

    assert len(runs) == 1
    assert runs[0][0] == media.FFMPEG
    assert runs[0].count("-i") == 1
    graph = runs[0][runs[0].index("-filter_complex") + 1]
    for name in ("split", "asplit", "ebur128", "silencedetect", "blackdetect", "freezedetect"):
        assert name in graph
    assert "tile=" in graph and "showwavespic" in graph
    # One filter thread: slice threads cost the decoder its CPUs (docs/ARCHITECTURE.md).
    assert runs[0][runs[0].index("-filter_complex_threads") + 1] == "1"


def test_a_short_clip_is_decoded_on_one_thread_a_long_one_on_many(tmp_path: Path) -> None:
    def threads(width: int, height: int, duration: float) -> str | None:
        info = media.MediaInfo(
            format_name="mp4", duration_s=duration, width=width, height=height,
            fps=25.0, video_codec="h264",
        )  # fmt: skip
        args = media._analysis_args(source=tmp_path / "a.mp4", info=info, work_dir=tmp_path)
        # An input option: it sits before the input.
        return args[args.index("-threads") + 1] if "-threads" in args[: args.index("-i")] else None

    assert threads(1280, 720, 3) == "1"
    assert threads(720, 1280, 5) == "1"
    assert threads(1280, 720, 6) is None
    assert threads(1920, 1080, 10) is None


def test_one_black_second(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.black, tmp_path)

    assert _overlaps(analysis.black, 1.0, 2.0)
    # A black stretch is a still picture too, but it is reported once, as black.
    assert analysis.freeze == []
    findings = services.qc_findings(info=info, request=ASKED, analysis=analysis)
    assert [f["code"] for f in findings] == ["black"]
    assert findings[0]["severity"] == "warning"
    assert findings[0]["message"] == "shows a black picture at 1.00–2.00 s"
    assert findings[0]["segments"] == [(1.0, 2.0)]


def test_one_silent_second(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.silent, tmp_path)

    assert _overlaps(analysis.silence, 1.0, 2.0)
    assert _codes(qc_media.silent, tmp_path / "again") == ["silence"]


def test_one_frozen_second(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.frozen, tmp_path)

    assert _overlaps(analysis.freeze, 2.0, 3.0)
    assert analysis.black == []
    assert _codes(qc_media.frozen, tmp_path / "again") == ["freeze"]


def test_too_loud(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.loud, tmp_path)

    assert analysis.loudness_lufs > -12
    findings = services.qc_findings(info=info, request=ASKED, analysis=analysis)
    assert [f["code"] for f in findings] == ["loudness", "true_peak"]
    assert findings[0]["message"].startswith("is too loud: -4.")
    assert findings[0]["message"].endswith("-14 ±2 LUFS is the window")
    assert findings[1]["message"].endswith("at most -1 dBTP is allowed")


def test_too_quiet(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.quiet, tmp_path)

    assert analysis.loudness_lufs < -16
    findings = services.qc_findings(info=info, request=ASKED, analysis=analysis)
    assert [f["code"] for f in findings] == ["loudness"]
    assert findings[0]["message"].startswith("is too quiet: -29.")


def test_the_loudness_window_follows_the_spec(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.quiet, tmp_path)
    broadcast = services.DeliverySpec(
        loudness_target_lufs=-30.0, loudness_tolerance_lu=1.0, true_peak_max_dbtp=-2.0
    )

    assert services.qc_findings(info=info, request=ASKED, analysis=analysis, spec=broadcast) == []


def test_the_loudness_window_comes_from_settings_unless_the_campaign_has_one(settings) -> None:
    settings.GREENLIGHT_LOUDNESS_TARGET_LUFS = -23.0
    settings.GREENLIGHT_LOUDNESS_TOLERANCE_LU = 1.0
    settings.GREENLIGHT_TRUE_PEAK_MAX_DBTP = -2.0

    assert services.delivery_spec() == services.DeliverySpec(-23.0, 1.0, -2.0)

    class CampaignWithWindow:
        loudness_target_lufs = -16
        loudness_tolerance_lu = None  # not set on the campaign: the setting applies

    spec = services.delivery_spec(campaign=CampaignWithWindow())
    assert spec == services.DeliverySpec(-16.0, 1.0, -2.0)


def test_no_audio(qc_media: QcMedia, tmp_path: Path) -> None:
    info, analysis = _analyse(qc_media.no_audio, tmp_path)

    assert analysis.waveform is None
    assert analysis.loudness_lufs is None and analysis.true_peak_dbtp is None
    assert analysis.silence == []
    assert _codes(qc_media.no_audio, tmp_path / "again") == ["audio_missing"]
    findings = services.qc_findings(info=info, request={**ASKED, "audio": False}, analysis=analysis)
    assert findings == []


def test_a_truncated_file_fails(qc_media: QcMedia, tmp_path: Path) -> None:
    info = media.probe(qc_media.truncated)  # the moov is whole: the damage shows on decode
    assert info.duration_s == pytest.approx(4.0, abs=0.1)

    with pytest.raises(MediaError, match=r"^truncated: decodes \d\.\d\ds of 4\.00s"):
        media.analyse(source=qc_media.truncated, info=info, work_dir=tmp_path)


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("still_mp4", "not a video: still image"),
        ("one_frame", "not a video: still image"),
    ],
)
def test_a_still_image_named_mp4_is_not_a_video(qc_media: QcMedia, attr: str, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        media.probe(getattr(qc_media, attr))


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("text_as_mp4", "undecodable"),
        ("audio_only", "not a video: no video stream"),
        ("empty", "empty file"),
    ],
)
def test_what_is_not_a_video_fails_before_the_analysis(
    media_files: MediaFiles, attr: str, message: str
) -> None:
    with pytest.raises(MediaError, match=message):
        media.probe(getattr(media_files, attr))


def test_a_clip_whose_moov_is_at_the_end_analyses(media_files: MediaFiles, tmp_path: Path) -> None:
    info, analysis = _analyse(media_files.moov_at_end, tmp_path)

    assert analysis.frames == 50
    assert analysis.sprite is not None and analysis.poster is not None


def test_the_analysis_writes_the_faststart_copy_it_is_asked_for(
    media_files: MediaFiles, tmp_path: Path
) -> None:
    target = tmp_path / "faststart.mp4"

    info, analysis = media.probe_and_analyse(
        source=media_files.moov_at_end, work_dir=tmp_path / "analysis", faststart_target=target
    )

    assert media.moov_before_mdat(target)
    # What a separate stream copy with the moov moved first gives: the same streams.
    remuxed = tmp_path / "remuxed.mp4"
    subprocess.run(
        [
            media.FFMPEG, "-nostdin", "-v", "error", "-i", str(media_files.moov_at_end),
            "-map", "0", "-c", "copy", "-movflags", "+faststart", str(remuxed),
        ],
        check=True,
    )  # fmt: skip
    keys = ("codec_type", "codec_name", "nb_frames", "duration_ts")
    streams = [{k: s.get(k) for k in keys} for s in media.probe(target).raw["streams"]]
    assert streams == [{k: s.get(k) for k in keys} for s in media.probe(remuxed).raw["streams"]]
    assert media.probe(target).duration_s == pytest.approx(
        media.probe(media_files.moov_at_end).duration_s, abs=0.01
    )
    _, alone = media.probe_and_analyse(source=media_files.moov_at_end, work_dir=tmp_path / "a")
    assert analysis.as_dict() == alone.as_dict()


def test_a_failed_analysis_leaves_no_faststart_copy(qc_media: QcMedia, tmp_path: Path) -> None:
    target = tmp_path / "faststart.mp4"
    info = media.probe(qc_media.truncated)

    with pytest.raises(MediaError, match="truncated"):
        media.analyse(
            source=qc_media.truncated, info=info, work_dir=tmp_path, faststart_target=target
        )
    with pytest.raises(MediaError, match="truncated"):
        media.probe_and_analyse(
            source=qc_media.truncated, work_dir=tmp_path / "b", faststart_target=target
        )

    assert not target.exists()


def test_thumbnails_vtt_cues_follow_the_sprite() -> None:
    geometry = media.SpriteGeometry(
        columns=2, rows=2, count=3, tile_width=160, tile_height=90, interval_s=0.5
    )

    vtt = media.thumbnails_vtt(geometry, sprite_url="sprite.jpg", duration_s=1.2)

    assert vtt == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:00.500\nsprite.jpg#xywh=0,0,160,90\n\n"
        "00:00:00.500 --> 00:00:01.000\nsprite.jpg#xywh=160,0,160,90\n\n"
        "00:00:01.000 --> 00:00:01.200\nsprite.jpg#xywh=0,90,160,90\n"
    )


def test_long_clips_stretch_the_sprite_interval() -> None:
    info = media.MediaInfo(
        format_name="mp4", duration_s=600.0, width=1920, height=1080, fps=25, video_codec="h264"
    )

    geometry = media._sprite_geometry(info)

    assert geometry.count == media.SPRITE_MAX_TILES
    assert geometry.interval_s == 6.0
    assert (geometry.columns, geometry.rows) == (10, 10)
    vertical = media._sprite_geometry(dataclasses_replace(info, width=1080, height=1920))
    assert (vertical.tile_width, vertical.tile_height) == (160, 284)


def dataclasses_replace(info: media.MediaInfo, **changes) -> media.MediaInfo:
    import dataclasses

    return dataclasses.replace(info, **changes)


def test_the_poster_is_the_sharp_lit_candidate(tmp_path: Path) -> None:
    # Six one-second slices, one candidate in the middle of each: black, blurred, blurred,
    # sharp, blurred, black. Only the fourth (3.5 s) is both lit and sharp.
    kinds = ("black", "blurred", "blurred", "sharp", "blurred", "black")
    sources = {
        "black": "color=c=black:s=640x360:r=25:d=1",
        "blurred": "testsrc2=s=640x360:r=25:d=1,boxblur=12:4",
        "sharp": "testsrc2=s=640x360:r=25:d=1",
    }
    graph = [f"{sources[kind]}[v{i}]" for i, kind in enumerate(kinds)]
    graph.append("".join(f"[v{i}]" for i in range(len(kinds))) + f"concat=n={len(kinds)}:v=1:a=0")
    path = tmp_path / "poster.mp4"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", ";".join(graph),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
            str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip

    info, analysis = _analyse(path, tmp_path)

    assert analysis.poster_at_s == pytest.approx(3.5, abs=0.05)
    with Image.open(analysis.poster) as poster:
        assert poster.size == (640, 360)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p"])
def test_the_poster_keeps_the_pictures_colours_in_either_range(
    tmp_path: Path, pix_fmt: str
) -> None:
    # The candidates leave ffmpeg as raw limited-range frames and Pillow encodes the one kept:
    # a wrong range conversion would wash the colours out or crush them.
    path = tmp_path / f"{pix_fmt}.mp4"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "color=c=0xC08040:s=320x180:r=25:d=2",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", pix_fmt,
            str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip

    info, analysis = _analyse(path, tmp_path)

    with Image.open(analysis.poster) as poster:
        assert poster.size == (320, 180)
        mean = ImageStat.Stat(poster.convert("RGB")).mean
    assert mean == pytest.approx([0xC0, 0x80, 0x40], abs=4)


def test_a_candidates_file_cut_short_keeps_its_whole_frames(tmp_path: Path) -> None:
    header = b"YUV4MPEG2 W4 H2 F25:1 Ip A1:1 C420mpeg2 XCOLORRANGE=LIMITED\n"
    dark = b"FRAME\n" + bytes([16] * 8) + bytes([128] * 4)
    lit = b"FRAME\n" + bytes([200, 40] * 4) + bytes([128] * 4)
    candidates = tmp_path / "candidates.y4m"
    candidates.write_bytes(header + dark + lit + lit[:9])

    poster, at_s = media._pick_poster(candidates, step=1.0, target=tmp_path / "poster.jpg")

    assert (poster, at_s) == (tmp_path / "poster.jpg", 1.5)
    assert media._pick_poster(tmp_path / "none.y4m", step=1.0, target=tmp_path / "x.jpg") == (
        None,
        None,
    )


# --- probe and analysis together ------------------------------------------------------------


def _sequential(path: Path, work_dir: Path) -> tuple[media.MediaInfo, media.Analysis]:
    info = media.probe(path)
    return info, media.analyse(source=path, info=info, work_dir=work_dir)


@pytest.mark.parametrize("attr", ["clean", "black", "frozen", "silent", "no_audio"])
def test_probe_and_analyse_equals_probe_then_analyse(
    qc_media: QcMedia, tmp_path: Path, attr: str
) -> None:
    path = getattr(qc_media, attr)

    info, analysis = media.probe_and_analyse(source=path, work_dir=tmp_path / "together")

    expected_info, expected = _sequential(path, tmp_path / "apart")
    # Every field ffprobe fills in, from the decode's log and the moov box instead.
    assert info == expected_info
    assert info.video_duration_s == expected_info.video_duration_s > 0
    assert analysis.as_dict() == expected.as_dict()
    assert analysis.poster.read_bytes() == expected.poster.read_bytes()
    assert analysis.sprite.read_bytes() == expected.sprite.read_bytes()


def test_probe_and_analyse_of_other_layouts(media_files: MediaFiles, tmp_path: Path) -> None:
    # Portrait without audio (moov first), and a moov at the end (read past the media data).
    for path in (media_files.vertical, media_files.moov_at_end):
        info, analysis = media.probe_and_analyse(source=path, work_dir=tmp_path / path.stem)

        expected_info, expected = _sequential(path, tmp_path / f"{path.stem}-apart")
        assert info == expected_info
        assert analysis.as_dict() == expected.as_dict()


def test_an_mp4_whose_moov_is_read_is_described_without_ffprobe(
    qc_media: QcMedia, tmp_path: Path, tool_runs
) -> None:
    media.probe_and_analyse(source=qc_media.clean, work_dir=tmp_path)

    # One process: probe then analyse would run ffprobe first.
    assert tool_names(tool_runs) == ["ffmpeg"]


def test_a_moov_at_the_end_is_read_too_and_a_file_cut_before_it_is_probed_first(
    media_files: MediaFiles, tmp_path: Path
) -> None:
    guess = media._header_guess(media_files.moov_at_end)
    probed = media.probe(media_files.moov_at_end)
    assert guess is not None
    assert (guess.width, guess.height, guess.has_audio) == (
        probed.width,
        probed.height,
        probed.has_audio,
    )
    assert abs(guess.duration_s - probed.duration_s) < 0.1
    # Cut short inside the media data: no moov to read, so nothing is guessed.
    data = media_files.moov_at_end.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert media._header_guess(cut) is None


def test_a_wrong_guess_from_the_moov_box_analyses_again_with_the_probe(
    qc_media: QcMedia, tmp_path: Path, monkeypatch, tool_runs
) -> None:
    real_guess = media._header_guess

    def wrong(path):
        guess = real_guess(path)
        return dataclasses_replace(guess, duration_s=guess.duration_s * 2, has_audio=False)

    monkeypatch.setattr(media, "_header_guess", wrong)

    info, analysis = media.probe_and_analyse(source=qc_media.black, work_dir=tmp_path / "t")

    # The decode's log disagrees with the box on the duration: ffprobe settles it, and the
    # analysis runs again with what it says.
    assert tool_names(tool_runs) == ["ffmpeg", "ffprobe", "ffmpeg"]
    expected_info, expected = _sequential(qc_media.black, tmp_path / "apart")
    assert analysis.as_dict() == expected.as_dict()
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(
        p.name for p in (tmp_path / "apart").iterdir()
    )


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("truncated", r"^truncated: decodes"),
        ("still_mp4", "^not a video: still image"),
        ("one_frame", "^not a video: still image"),
    ],
)
def test_probe_and_analyse_fails_as_probe_then_analyse_does(
    qc_media: QcMedia, tmp_path: Path, attr: str, message: str
) -> None:
    with pytest.raises(MediaError, match=message):
        media.probe_and_analyse(source=getattr(qc_media, attr), work_dir=tmp_path)


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("text_as_mp4", "^undecodable"),
        ("audio_only", "^not a video: no video stream"),
        ("empty", "^empty file"),
        ("random_bytes", "^undecodable"),
    ],
)
def test_probe_and_analyse_of_what_is_not_a_video(
    media_files: MediaFiles, tmp_path: Path, attr: str, message: str
) -> None:
    with pytest.raises(MediaError, match=message):
        media.probe_and_analyse(source=getattr(media_files, attr), work_dir=tmp_path)


# Files whose description ffprobe and the decode's log must agree on, field for field.
_LAYOUTS = {
    "ntsc-5.1.mp4": [
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30000/1001:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=2,aformat=channel_layouts=5.1",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
    ],
    "rotated.mp4": [
        "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-metadata:s:v", "rotate=90",
    ],
    # The sound runs a second past the picture: the truncation check must judge the picture.
    "long-sound.mov": [
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=24000/1001:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "1",
    ],
    "mpeg4-mp3.mp4": [
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=2",
        "-c:v", "mpeg4", "-c:a", "mp3", "-movflags", "+faststart",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_LAYOUTS))
def test_the_decode_log_describes_a_file_as_ffprobe_does(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    subprocess.run(
        [media.FFMPEG, "-nostdin", "-v", "error", "-y", *_LAYOUTS[name], str(path)], check=True
    )

    info, analysis = media.probe_and_analyse(source=path, work_dir=tmp_path / "together")

    expected_info, expected = _sequential(path, tmp_path / "apart")
    assert info == expected_info
    assert analysis.as_dict() == expected.as_dict()


def test_ffprobe_describes_what_the_decode_log_leaves_out(
    qc_media: QcMedia, tmp_path: Path, monkeypatch, tool_runs
) -> None:
    # A channel layout the table does not name: ffprobe runs after the decode, once.
    monkeypatch.setattr(media, "_LAYOUT_CHANNELS", {})

    info, _ = media.probe_and_analyse(source=qc_media.clean, work_dir=tmp_path)

    assert tool_names(tool_runs) == ["ffmpeg", "ffprobe"]
    assert info == media.probe(qc_media.clean)


_LOG = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '/x/clip.mp4':
  Metadata:
    title           : ok
                    :   Stream #0:7: Video: evil, 9x9, 99 fps
  Duration: 00:00:03.00, start: 0.000000, bitrate: 959 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, \
progressive), 1280x720 [SAR 1:1 DAR 16:9], 821 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1(side), fltp
  Stream #0:2[0x0]: Video: mjpeg (Baseline), yuvj420p(pc), 600x600, 90k tbr (attached pic)
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))
Output #0, null, to 'pipe:':
  Stream #0:0(und): Video: wrapped_avframe, yuv420p, 640x360, q=2-31, 200 kb/s, 50 fps
frame=   90 fps=0.0 q=-0.0 Lsize=N/A time=00:00:03.00 bitrate=N/A speed=10x
"""
_GUESS = media.MediaInfo(
    format_name="", duration_s=3.0, width=720, height=1280, fps=0.0, video_codec="",
    has_audio=True, video_duration_s=2.96,
)  # fmt: skip


def test_the_input_description_is_read_from_the_log_alone() -> None:
    info = media._logged_info(_LOG.encode(), guess=_GUESS, size=1_200_000)

    assert info == media.MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=3.0,
        width=720,  # a quarter turn
        height=1280,
        fps=30000 / 1001,  # printed to the hundredth
        video_codec="h264",  # not the metadata's, nor the cover art's, nor the output's
        audio_codec="aac",
        has_audio=True,
        audio_channels=6,
        audio_sample_rate=48000,
        bit_rate=3_200_000,
        size_bytes=1_200_000,
        video_duration_s=2.96,
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("29.97 fps, ", ""),  # no frame rate
        ("5.1(side)", "weird layout"),  # a layout ffmpeg's table does not name
        ("Duration: 00:00:03.00", "Duration: N/A"),
        ("Duration: 00:00:03.00", "Duration: 00:00:03.02"),  # not what the moov box says
        ("frame=   90", "frame=    1"),  # one picture: ffprobe calls it a still image
        ("Video: h264", "Data: h264"),  # no picture at all
        ("Input #0", "Input #1"),
    ],
)
def test_a_log_that_leaves_something_out_describes_nothing(old: str, new: str) -> None:
    assert old in _LOG
    assert media._logged_info(_LOG.replace(old, new).encode(), guess=_GUESS, size=1) is None


@pytest.mark.parametrize(
    ("printed", "rate"),
    [(29.97, 30000 / 1001), (23.98, 24000 / 1001), (59.94, 60000 / 1001), (25.0, 25.0),
     (12.5, 12.5), (30.0, 30.0), (1000.0, 1000.0)],
)  # fmt: skip
def test_printed_frame_rates(printed: float, rate: float) -> None:
    assert media._logged_rate(printed) == rate


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


@pytest.mark.parametrize(
    ("mdhd", "length"),
    [
        # Version 0: 32-bit times, timescale 1000, duration 2500.
        (b"\x00" * 12 + (1000).to_bytes(4, "big") + (2500).to_bytes(4, "big"), 2.5),
        # Version 1: 64-bit times and duration, timescale 90000, duration 270000.
        (b"\x01" + b"\x00" * 19 + (90000).to_bytes(4, "big") + (270000).to_bytes(8, "big"), 3.0),
        # A version 1 box cut short is not read as version 0.
        (b"\x01" + b"\x00" * 19 + (90000).to_bytes(4, "big") + (270000).to_bytes(4, "big"), 0.0),
    ],
)
def test_a_track_length_is_read_from_either_mdhd_version(mdhd: bytes, length: float) -> None:
    trak = _box(b"mdia", _box(b"mdhd", mdhd) + _box(b"hdlr", b"\x00" * 8 + b"vide"))

    handler, _, found = media._trak_guess(trak)

    assert (handler, found) == (b"vide", length)
