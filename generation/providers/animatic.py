"""The local `animatic` provider: a free, offline preview rendered by ffmpeg and espeak-ng.

A request becomes one ffmpeg run: a slowly rotating, hue-drifting gradient whose palette comes
from the prompt and seed, each shot's text as a card over an even share of the duration, a
progress bar, and either the script spoken by espeak-ng or a quiet ambient bed. Rendering is
synchronous inside `submit`, so by the time a request id exists the clip is already finished
(or the submit raised). Files live under `GREENLIGHT_PROVIDER_WORK_DIR / "animatic"`:
`<id>.mp4` (the clip), `<id>.json` (the request) and `<id>.error` (why a render failed); what
every local provider shares is in `generation.providers.local`.
"""

from __future__ import annotations

import bisect
import colorsys
import contextlib
import functools
import hashlib
import json
import os
import re
import subprocess
import tempfile
import uuid
import wave
from datetime import date
from decimal import Decimal
from pathlib import Path

from PIL import ImageFont

from generation.providers.base import (
    ASPECT_RATIOS,
    RESOLUTIONS,
    GenerationRequest,
    ProviderError,
    RequestRejected,
)
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register
from generation.providers.local import LocalProvider, run_tool, write_atomic

MODEL = "animatic-v1"
FPS = 25
MIN_DURATION_S = 3
MAX_DURATION_S = 15
FALLBACK_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# Greenlight language code -> espeak-ng voice. Keys are matched case-insensitively; every voice
# here is listed by `espeak-ng --voices` on Debian 12 (espeak-ng 1.51).
SUPPORTED_LANGUAGES: dict[str, str] = {
    "en": "en-us",
    "en-US": "en-us",
    "en-GB": "en-gb",
    "es": "es",
    "es-419": "es-419",
    "fr": "fr-fr",
    "de": "de",
    "it": "it",
    "nl": "nl",
    "pt": "pt",
    "pt-BR": "pt-br",
    "pl": "pl",
    "sv": "sv",
    "tr": "tr",
    "ru": "ru",
    "ja": "ja",
    "ko": "ko",
    "zh": "cmn",
    "yue": "yue",
    "hi": "hi",
    "ar": "ar",
}

_SHORT_SIDE = {"720p": 720, "1080p": 1080}
# Long side over short side for each aspect ratio; 1:1 is handled by equal sides.
_LONG_OVER_SHORT = {"16:9": (16, 9), "9:16": (16, 9), "1:1": (1, 1)}
# fontconfig wants a script-bearing tag for Chinese; every other code's primary subtag works.
_FONTCONFIG_LANG = {"zh": "zh-cn"}
# The ambient bed sits near -32 dBFS peak: audible on headphones, far under any speech.
_BED_VOLUME = 0.125
SPEECH_LUFS = -14.0
# Aim under the -1 dBTP delivery limit with room for the peaks AAC encoding adds.
SPEECH_TRUE_PEAK = -2.0
_MAX_CARD_CHARS = 400


def frame_size(*, aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """Return (width, height) for an aspect ratio and resolution; the short side is the `p`."""
    short = _SHORT_SIDE[resolution]
    num, den = _LONG_OVER_SHORT[aspect_ratio]
    long = short * num // den
    return (short, long) if aspect_ratio == "9:16" else (long, short)


def voice_for(language: str) -> str:
    """Return the espeak-ng voice for a Greenlight language code, or raise RequestRejected."""
    wanted = language.strip().replace("_", "-").lower()
    for code, voice in SUPPORTED_LANGUAGES.items():
        if code.lower() == wanted:
            return voice
    raise RequestRejected(
        f"language {language!r} is not supported by the animatic provider; "
        f"supported: {', '.join(SUPPORTED_LANGUAGES)}",
        code="unsupported_language",
    )


def validate_request(*, request: GenerationRequest) -> None:
    """Raise RequestRejected naming the first field the animatic provider cannot render."""
    duration = request.duration_s
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or not MIN_DURATION_S <= duration <= MAX_DURATION_S
    ):
        raise RequestRejected(
            f"duration_s {duration!r} must be a whole number of seconds from "
            f"{MIN_DURATION_S} to {MAX_DURATION_S}",
            code="bad_duration",
        )
    if request.aspect_ratio not in ASPECT_RATIOS:
        raise RequestRejected(
            f"aspect_ratio {request.aspect_ratio!r} is not one of {', '.join(ASPECT_RATIOS)}",
            code="bad_aspect_ratio",
        )
    if request.resolution not in RESOLUTIONS:
        raise RequestRejected(
            f"resolution {request.resolution!r} is not one of {', '.join(RESOLUTIONS)}",
            code="bad_resolution",
        )
    if request.model not in ("", MODEL):
        raise RequestRejected(
            f"model {request.model!r} is not offered; the animatic provider has {MODEL!r}",
            code="bad_model",
        )
    # Each card needs half a second or it flashes by unread.
    if len(request.shots) > duration * 2:
        raise RequestRejected(
            f"{len(request.shots)} shots do not fit in {duration} s "
            f"(at most {duration * 2}, half a second each)",
            code="too_many_shots",
        )
    voice_for(request.language)


def animatic_palette(*, prompt: str, seed: int | None) -> tuple[str, str, str]:
    """Return three 0xRRGGBB colours derived from the prompt and seed, stable across runs."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    hue = digest[0] / 255
    # Neighbouring hue, then a near-complement kept darker, so white text stays readable.
    hues = (hue, hue + 0.08 + digest[1] / 255 * 0.17, hue + 0.45 + digest[2] / 255 * 0.1)
    values = (0.50 + digest[3] / 255 * 0.12, 0.42 + digest[4] / 255 * 0.12, 0.28)
    saturations = (0.55 + digest[5] / 255 * 0.25, 0.6, 0.5 + digest[6] / 255 * 0.3)
    colours = []
    for h, s, v in zip(hues, saturations, values, strict=True):
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        colours.append(f"0x{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return colours[0], colours[1], colours[2]


def render_animatic(*, request: GenerationRequest, out_path: Path) -> None:
    """Render the request to an MP4 at `out_path`, replacing it atomically.

    Validates first (RequestRejected). A missing ffmpeg or espeak-ng is a non-retryable
    ProviderError; a failed run is a ProviderError carrying the tail of the tool's stderr,
    retryable only when the process was killed or timed out rather than refusing the input.
    """
    validate_request(request=request)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    part = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.part")
    with tempfile.TemporaryDirectory(prefix="greenlight-animatic-") as scratch:
        try:
            args = _ffmpeg_args(request=request, scratch=Path(scratch), out=part)
            run_tool(args, tool="ffmpeg", timeout=render_timeout(request.duration_s), step="render")
            os.replace(part, out_path)
        finally:
            part.unlink(missing_ok=True)


register(
    ModelSpec(
        provider="animatic",
        model=MODEL,
        label="Animatic v1",
        modes=frozenset({Mode.TEXT}),
        durations=tuple(range(MIN_DURATION_S, MAX_DURATION_S + 1)),
        resolutions=RESOLUTIONS,
        aspect_ratios=ASPECT_RATIOS,
        audio=Audio.OPTIONAL,
        languages=tuple(SUPPORTED_LANGUAGES),
        prices=(Price(Decimal(0), source="local render, no charge", as_of=date(2026, 11, 24)),),
    )
)


class AnimaticProvider(LocalProvider):
    """Local, free previews, rendered synchronously in submit (see LocalProvider)."""

    name = "animatic"
    label = "Animatic (local preview)"
    failure_code = "render_failed"
    noun = "animatic request"

    def validate(self, request: GenerationRequest) -> None:
        """RequestRejected for input the animatic cannot render."""
        validate_request(request=request)

    def make(self, request: GenerationRequest, *, idempotency_key: str, paths: dict) -> None:
        """Render the clip; ProviderError when ffmpeg or espeak-ng is missing or fails."""
        write_atomic(paths["json"], json.dumps(request.as_dict(), ensure_ascii=False, indent=2))
        render_animatic(request=request, out_path=paths["mp4"])


# --- rendering internals ---------------------------------------------------------------------


def _ffmpeg_args(*, request: GenerationRequest, scratch: Path, out: Path) -> list[str]:
    width, height = frame_size(aspect_ratio=request.aspect_ratio, resolution=request.resolution)
    duration = request.duration_s
    graph = [_background(request=request, width=width, height=height)]
    label = "bg"
    for index, chain in enumerate(
        _text_chains(request=request, scratch=scratch, width=width, height=height)
    ):
        graph.append(f"[{label}]{chain}[t{index}]")
        label = f"t{index}"
    bar_h = max(4, min(width, height) // 120)
    graph.append(f"color=c=white:s={width}x{bar_h}:r={FPS}:d={duration}[bar]")
    # One frame ahead so the bar reaches the right edge on the last frame.
    bar_x = _esc(f"-w+w*(t+{1 / FPS:.3f})/{duration}")
    graph.append(f"[{label}][bar]overlay=x={bar_x}:y=H-h:eval=frame:shortest=1[v]")

    inputs: list[str] = []
    if request.audio:
        script = request.script.strip()
        if script:
            speech = scratch / "speech.wav"
            _speak(text=script, voice=voice_for(request.language), out=speech, scratch=scratch)
            inputs = ["-i", str(speech)]
            graph.append(_speech_chain(speech=speech, duration=duration))
        graph.append(_bed_chain(request=request, duration=duration, with_speech=bool(script)))

    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *inputs]
    args += ["-filter_complex", ";".join(graph), "-map", "[v]"]
    # The encode is most of a render's time. superfast keeps CABAC (small files) and takes 1080p
    # from 0.63 to 0.44 of the clip's length on two cores (bench/animatic_render.py); a preview
    # does not need veryfast's last few percent of quality per byte.
    args += ["-c:v", "libx264", "-preset", "superfast", "-crf", "21", "-pix_fmt", "yuv420p"]
    args += ["-r", str(FPS), "-g", str(FPS * 2)]
    if request.audio:
        args += ["-map", "[a]", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]
    else:
        args += ["-an"]
    args += ["-t", str(duration), "-map_metadata", "-1", "-movflags", "+faststart"]
    args += ["-f", "mp4", str(out)]
    return args


def _background(*, request: GenerationRequest, width: int, height: int) -> str:
    c0, c1, c2 = animatic_palette(prompt=request.prompt, seed=request.seed)
    digest = hashlib.sha256(f"{request.seed}\x01{request.prompt}".encode()).digest()
    seed = int.from_bytes(digest[:4], "big")
    speed = 0.012 + digest[4] / 255 * 0.012
    # A gradient is smooth, so drawing it at a quarter size and scaling up costs 1/16 of the
    # pixels with no visible loss; this is most of what keeps 1080p under real time.
    small_w, small_h = max(16, width // 4), max(16, height // 4)
    hue = _esc(f"22*sin(2*PI*t/{request.duration_s})")
    return (
        f"gradients=s={small_w}x{small_h}:r={FPS}:d={request.duration_s}:"
        f"c0={c0}:c1={c1}:c2={c2}:n=3:speed={speed:.4f}:seed={seed},"
        f"hue=h={hue},scale={width}:{height}:flags=bilinear,setsar=1,format=yuv420p[bg]"
    )


def _text_chains(
    *, request: GenerationRequest, scratch: Path, width: int, height: int
) -> list[str]:
    """Return one drawtext per line of every card, plus the header and shot counter.

    Each piece of text is drawn with a font that has its glyphs (`font_for_text`), so an
    English variant whose title or shots hold Japanese, Chinese or Korean draws them instead
    of empty boxes. Landscape clips carry the header on one line; vertical and square ones,
    where one line would cut the title to a few letters, put the title on its own lines
    under the "ANIMATIC PREVIEW" label.
    """
    short = min(width, height)
    margin = round(short * 0.06)
    box_w = width - 2 * margin
    cards = [s.strip() for s in request.shots if s.strip()] or [_fallback_card(request)]
    span = request.duration_s / len(cards)
    files = _TextFiles(scratch)
    chains: list[str] = []
    small = round(short * 0.032)
    label = "ANIMATIC PREVIEW"
    title = request.title.strip() if request.shots else ""
    counter_room = 0.0
    if len(cards) > 1:
        widest = f"{len(cards)} / {len(cards)}"
        counter_room = _pil_font(_font_for(""), small).getlength(widest) + small
    header_bottom = margin + small * 1.3
    if title and width > height:
        header = f"{label}  ·  {title}"
        font = font_for_text(header, request.language)
        header = _ellipsize(header, font=font, size=small, max_width=box_w - counter_room)
        chains.append(_header(files.write(header), font, small, margin, margin))
    else:
        font = font_for_text(label, request.language)
        chains.append(_header(files.write(label), font, small, margin, margin))
        if title:
            size = round(short * 0.04)
            font = font_for_text(title, request.language)
            lines = _wrap(title, font=font, size=size, max_width=box_w)
            if len(lines) > 2:
                lines = [lines[0], _ellipsize(" ".join(lines[1:]), font=font, size=size,
                                              max_width=box_w)]  # fmt: skip
            top = margin + small * 1.5
            for number, line in enumerate(lines):
                y = top + number * size * 1.25
                chains.append(_header(files.write(line), font, size, margin, round(y)))
            header_bottom = top + len(lines) * size * 1.25
    # Cards sit in the middle, clear of the header and of the progress bar at the bottom.
    card_top = header_bottom + small
    box_h = min(height * 0.6, height - card_top - margin - small)
    for index, card in enumerate(cards):
        start = index * span
        # The last card stays up past the end so rounding never leaves a bare final frame.
        end = request.duration_s + 1 if index == len(cards) - 1 else (index + 1) * span
        enable = f"gte(t,{start:.3f})*lt(t,{end:.3f})"
        fade = min(0.25, span / 4)
        alpha = f"clip(min((t-{start:.3f})/{fade:.3f},({start + span:.3f}-t)/{fade:.3f}),0,1)"
        if index == 0:
            alpha = f"clip(({start + span:.3f}-t)/{fade:.3f},0,1)"
        font = font_for_text(card, request.language)
        size, lines = _fit_card(card, font=font, box_w=box_w, box_h=box_h, short=short)
        line_h = round(size * 1.3)
        top = max(card_top, (height - line_h * len(lines)) / 2)
        drift = round(short * 0.03)
        # Cards rise slowly while on screen: motion in the foreground as well as behind it.
        rise = f"{drift}*(1-clip((t-{start:.3f})/{span:.3f},0,1))"
        for number, line in enumerate(lines):
            y = f"{top + number * line_h:.1f}+{rise}"
            chains.append(
                _drawtext(
                    file=files.write(line),
                    font=font,
                    size=size,
                    x="(w-text_w)/2",
                    y=y,
                    alpha=alpha,
                    enable=enable,
                    shadow=max(2, size // 18),
                )
            )
        if len(cards) > 1:
            counter = f"{index + 1} / {len(cards)}"
            chains.append(
                _drawtext(
                    file=files.write(counter),
                    font=_font_for(""),
                    size=small,
                    x=f"w-text_w-{margin}",
                    y=f"{margin}",
                    alpha="0.85",
                    enable=enable,
                )
            )
    return chains


def _header(file: Path, font: str, size: int, x: int, y: int) -> str:
    return _drawtext(file=file, font=font, size=size, x=f"{x}", y=f"{y}", alpha="0.85")


def _drawtext(
    *,
    file: Path,
    font: str,
    size: int,
    x: str,
    y: str,
    alpha: str,
    enable: str = "",
    shadow: int = 2,
) -> str:
    # expansion=none: the text is shown as written, so "%{...}" in a shot is never expanded.
    options = [
        f"fontfile={_esc(font)}",
        f"textfile={_esc(str(file))}",
        "expansion=none",
        f"fontsize={size}",
        "fontcolor=white",
        "shadowcolor=black@0.55",
        f"shadowx={shadow}",
        f"shadowy={shadow}",
        f"x={_esc(x)}",
        f"y={_esc(y)}",
        f"alpha={_esc(alpha)}",
    ]
    if enable:
        options.append(f"enable={_esc(enable)}")
    return "drawtext=" + ":".join(options)


def _speech_chain(*, speech: Path, duration: int) -> str:
    spoken = _wav_seconds(speech)
    lead_in = 0.3
    room = duration - lead_in - 0.2
    tempo = ""
    # Speed up a long script (atempo keeps pitch) rather than cutting its end; past 1.6x
    # espeak is hard to follow, so anything longer is cut at the clip's end.
    if spoken and spoken > room:
        tempo = f"atempo={min(spoken / room, 1.6):.3f},"
    delay = round(lead_in * 1000)
    return (
        f"[0:a]{tempo}aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,"
        f"adelay={delay}|{delay},apad,atrim=0:{duration},asetpts=N/SR/TB[speech]"
    )


def _bed_chain(*, request: GenerationRequest, duration: int, with_speech: bool) -> str:
    digest = hashlib.sha256(f"{request.seed}\x02{request.prompt}".encode()).digest()
    root = 110 * 2 ** ((digest[0] % 12) / 12)
    fifth = root * 1.5
    fade_out = max(0.0, duration - 0.8)
    common = f"sample_rate=48000:duration={duration}"
    bed = (
        f"sine=frequency={root:.2f}:{common}[s0];"
        f"sine=frequency={fifth:.2f}:{common}[s1];"
        f"anoisesrc=color=pink:amplitude=0.5:seed={digest[1]}:{common},lowpass=f=600[n];"
        f"[s0][s1][n]amix=inputs=3:weights=1 0.6 0.5:normalize=0,"
        f"tremolo=f=0.25:d=0.5,volume={_BED_VOLUME},"
        f"aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        f"afade=t=in:d=0.5,afade=t=out:st={fade_out:.2f}:d=0.8"
    )
    if with_speech:
        # Spoken clips are delivered at the social loudness target (EBU R128 -14 LUFS, true
        # peak under -1 dBTP), so QC holds the preview to the same window as a real clip.
        return (
            f"{bed}[bed];[speech][bed]amix=inputs=2:duration=first:normalize=0,"
            f"loudnorm=I={SPEECH_LUFS}:TP={SPEECH_TRUE_PEAK}:LRA=11,aresample=48000[a]"
        )
    return f"{bed}[a]"


def _speak(*, text: str, voice: str, out: Path, scratch: Path) -> None:
    # Text goes through a file: never through argv, where a leading "-" would be an option.
    source = scratch / "script.txt"
    source.write_text(text, encoding="utf-8")
    run_tool(
        ["espeak-ng", "-b", "1", "-v", voice, "-s", "165", "-w", str(out), "-f", str(source)],
        tool="espeak-ng",
        timeout=60,
        step="render",
    )
    if not out.exists() or out.stat().st_size <= 44:
        raise ProviderError(f"espeak-ng wrote no audio for voice {voice!r}", code="tts_failed")


def render_timeout(duration_s: int) -> float:
    """Seconds a render may take: well inside the submit task's soft time limit."""
    return min(60.0 + duration_s * 8.0, 180.0)


def _wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error):
        return None


def _fallback_card(request: GenerationRequest) -> str:
    if request.title.strip():
        return request.title.strip()
    first = re.split(r"(?<=[.!?。！？])\s*", request.prompt.strip(), maxsplit=1)[0]
    return first or "Animatic"


# Languages whose scripts the fallback chain must cover, in the order fonts are tried after
# the default sans: every script the brief form offers, plus a few common others.
_CHAIN_LANGUAGES = ("ja", "ko", "zh-cn", "zh-hk", "ar", "he", "hi", "th", "ru", "el")


def _fc_match(pattern: str) -> str:
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return found if found and Path(found).is_file() else ""


@functools.cache
def _font_for(language: str) -> str:
    """Return the default font file for a language via fontconfig, or the DejaVu fallback."""
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    pattern = f"sans:lang={_FONTCONFIG_LANG.get(primary, primary)}" if primary else "sans"
    found = _fc_match(pattern)
    if found:
        return found
    if Path(FALLBACK_FONT).is_file():
        return FALLBACK_FONT
    raise ProviderError(
        f"no font found (fc-match {pattern!r} and {FALLBACK_FONT} both failed)",
        code="missing_font",
    )


@functools.cache
def font_chain() -> tuple[str, ...]:
    """Every font to try, in order: the default sans, DejaVu, then one per script."""
    chain: list[str] = []
    for candidate in (
        _fc_match("sans"),
        FALLBACK_FONT,
        *(_fc_match(f"sans:lang={lang}") for lang in _CHAIN_LANGUAGES),
    ):
        if candidate and Path(candidate).is_file() and candidate not in chain:
            chain.append(candidate)
    return tuple(chain)


@functools.cache
def _charset(font: str) -> tuple[tuple[int, int], ...]:
    """The code point ranges the font's first face covers, from fontconfig."""
    try:
        text = subprocess.run(
            ["fc-query", "-i", "0", "-f", "%{charset}", font],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    ranges = []
    for part in text.split():
        low, _, high = part.partition("-")
        with contextlib.suppress(ValueError):
            ranges.append((int(low, 16), int(high or low, 16)))
    return tuple(sorted(ranges))


def font_covers(font: str, char: str) -> bool:
    """Whether the font has a glyph for `char`."""
    point = ord(char)
    ranges = _charset(font)
    index = bisect.bisect_right(ranges, (point, 0x10FFFF)) - 1
    return index >= 0 and ranges[index][0] <= point <= ranges[index][1]


def font_for_text(text: str, language: str = "") -> str:
    """The first font that draws every character of `text`, else the one that draws most.

    The language's own font is tried first (so Japanese text gets Japanese glyph forms), then
    the fallback chain; spaces and control characters need no glyph.
    """
    needed = {c for c in text if not c.isspace() and c.isprintable()}
    candidates = [_font_for(language) if language else _font_for(""), *font_chain()]
    best, best_count = candidates[0], -1
    for font in dict.fromkeys(candidates):
        count = sum(1 for c in needed if font_covers(font, c))
        if count == len(needed):
            return font
        if count > best_count:
            best, best_count = font, count
    return best


@functools.cache
def _pil_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _fit_card(
    text: str, *, font: str, box_w: float, box_h: float, short: int
) -> tuple[int, list[str]]:
    """Return the largest font size (and its lines) at which the text fits the box."""
    # A card is read in a second or two; past this length it is a paragraph, not a card, and
    # measuring it would only cost time.
    if len(text) > _MAX_CARD_CHARS:
        text = text[:_MAX_CARD_CHARS].rstrip() + "…"
    size = round(short * 0.075)
    floor = round(short * 0.038)
    while True:
        lines = _wrap(text, font=font, size=size, max_width=box_w)
        if len(lines) * size * 1.3 <= box_h or size <= floor:
            break
        size = max(floor, round(size * 0.9))
    max_lines = max(1, int(box_h // (size * 1.3)))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _ellipsize(lines[-1] + " …", font=font, size=size, max_width=box_w)
    return size, lines


def _wrap(text: str, *, font: str, size: int, max_width: float) -> list[str]:
    """Greedy word wrap measured with the real font; overlong words break between characters."""
    measure = _pil_font(font, size).getlength
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if measure(candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            # Scripts without spaces (Japanese, Chinese) and long URLs arrive as one "word".
            current = ""
            for char in word:
                if current and measure(current + char) > max_width:
                    lines.append(current)
                    current = ""
                current += char
        if current:
            lines.append(current)
    return lines or [""]


def _ellipsize(text: str, *, font: str, size: int, max_width: float) -> str:
    measure = _pil_font(font, size).getlength
    text = text[:_MAX_CARD_CHARS]
    if measure(text) <= max_width:
        return text
    while text and measure(text + "…") > max_width:
        text = text[:-1]
    return text.rstrip() + "…"


def _esc(value: str) -> str:
    """Escape a filter option value for both levels ffmpeg parses: option, then filtergraph."""
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


class _TextFiles:
    """Numbered UTF-8 files for drawtext: text in a file needs no filtergraph escaping."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._count = 0

    def write(self, text: str) -> Path:
        self._count += 1
        path = self._directory / f"text{self._count:03d}.txt"
        path.write_text(text, encoding="utf-8")
        return path
