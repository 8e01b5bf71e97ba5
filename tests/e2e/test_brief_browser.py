"""A creator writes a brief with two axes and two languages in headless Chromium, previews the
matrix and its cost, unticks one cell, launches, and sees the right variants made by a real
worker; the Japanese clip shows its own glyphs and speaks its own script.

Screenshots go to GREENLIGHT_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from assets.models import Clip
from generation.models import Brief, Membership, Variant
from generation.providers.animatic import FALLBACK_FONT, font_for_text, voice_for
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARD = "春の新作"
SCRIPTS = {"en": "Fresh for spring.", "ja": "春の新作です。今すぐどうぞ。"}


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("GREENLIGHT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ffmpeg(*args: str) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", *args],
        capture_output=True,
        check=True,
    ).stdout


# --- the picture: is the card drawn with real glyphs? -----------------------------------------


def _normalised(mask: Image.Image) -> list[int]:
    box = mask.getbbox()
    assert box is not None, "no text in the frame"
    small = mask.crop(box).resize((96, 24), Image.Resampling.BILINEAR)
    return list(small.point(lambda v: 255 if v > 96 else 0).tobytes())


def _iou(a: list[int], b: list[int]) -> float:
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    either = sum(1 for x, y in zip(a, b, strict=True) if x or y)
    return both / either


def _frame_text_mask(video: Path, *, at: float) -> Image.Image:
    png = _ffmpeg("-ss", str(at), "-i", str(video), "-frames:v", "1", "-f", "image2", "-")
    frame = Image.open(io.BytesIO(png)).convert("L")
    width, height = frame.size
    # The card sits in the middle; the header and the progress bar are left out. The
    # background is never brighter than ~160, the text is white.
    band = frame.crop((0, round(height * 0.3), width, round(height * 0.75)))
    return band.point(lambda v: 255 if v > 215 else 0)


def _drawn_text_mask(text: str, font: str) -> Image.Image:
    face = ImageFont.truetype(font, 54)
    image = Image.new("L", (60 * len(text) + 40, 120), 0)
    ImageDraw.Draw(image).text((20, 20), text, font=face, fill=255)
    return image


# --- the sound: which script does it speak? ---------------------------------------------------


def _envelope(pcm: bytes, rate: int = 8000, frame_s: float = 0.02) -> list[float]:
    samples = memoryview(pcm).cast("h")
    step = int(rate * frame_s)
    return [
        math.sqrt(sum(s * s for s in samples[i : i + step]) / step)
        for i in range(0, len(samples) - step, step)
    ]


def _pcm(path: Path) -> bytes:
    return _ffmpeg("-i", str(path), "-ac", "1", "-ar", "8000", "-f", "s16le", "-")


def _best_correlation(clip: list[float], speech: list[float]) -> float:
    """The highest normalised correlation of `speech` against `clip` at any lag up to 1 s."""

    def norm(values: list[float]) -> list[float]:
        mean = sum(values) / len(values)
        spread = math.sqrt(sum((v - mean) ** 2 for v in values)) or 1.0
        return [(v - mean) / spread for v in values]

    best = -1.0
    for lag in range(0, 50):
        window = clip[lag : lag + len(speech)]
        part = speech[: len(window)]
        best = max(best, sum(a * b for a, b in zip(norm(window), norm(part), strict=True)))
    return best


def _espeak(text: str, language: str, out: Path) -> Path:
    source = out.with_suffix(".txt")
    source.write_text(text, encoding="utf-8")
    subprocess.run(
        ["espeak-ng", "-b", "1", "-v", voice_for(language), "-s", "165", "-w", str(out),
         "-f", str(source)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return out


def test_write_preview_untick_launch_and_hear_each_language(
    celery_worker,
    live_server,
    browser,
    shots,
    tmp_path,
):
    campaign = CampaignFactory(name="Spring Launch", slug="spring-launch")
    MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR, user__username="creator")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "creator")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")
    page.click("text=Spring Launch")
    page.click("text=New brief")

    page.fill("#id_title", "Spring in two languages")
    page.fill("#id_prompt", "{hook}: a green bottle in a {scene}, {language}")
    page.fill("#id_shots", CARD)
    page.fill("#id_axis_1_name", "hook")
    page.fill("#id_axis_1_values", "Wake up\nGood night")
    page.fill("#id_axis_2_name", "scene")
    page.fill("#id_axis_2_values", "sunny kitchen")
    # Long enough for the Japanese script at espeak's pace, so it is neither sped up nor cut.
    page.fill("#id_durations", "6")
    assert page.is_hidden("#id_script_ja")
    page.check("input[name=languages][value='ja']")
    page.fill("#id_script_en", SCRIPTS["en"])
    page.fill("#id_script_ja", SCRIPTS["ja"])
    # The live count multiplies the axes as they are typed and ticked: 2 × 1 × 1 × 1 × 2.
    page.wait_for_selector("#variant-count:text-is('4')")
    page.screenshot(path=shots / "brief_axes_form.png", full_page=True)
    page.click("button:has-text('Save draft and preview')")

    page.wait_for_selector("[data-testid=plan-count]:text-is('4')")
    assert page.inner_text("[data-testid=plan-cost]") == "$0.00"
    japanese = page.locator(".sample[lang=ja]").first.inner_text()
    assert (
        SCRIPTS["ja"] in japanese and "Wake up: a green bottle in a sunny kitchen, ja" in japanese
    )
    assert Brief.objects.get().status == Brief.Status.DRAFT
    row = page.locator("tr:has(td:text-is('Good night')):has(td:text-is('en'))")
    row.locator("input[name=cell]").uncheck()
    page.wait_for_selector("[data-testid=plan-count]:text-is('3')")
    page.screenshot(path=shots / "brief_preview.png", full_page=True)
    page.click("[data-testid=launch]")

    page.wait_for_selector("#variant-progress")
    page.wait_for_selector("text=3 of 3 done", timeout=180_000)
    page.wait_for_selector("#variant-progress img", timeout=20_000)
    page.screenshot(path=shots / "brief_launched.png", full_page=True)
    brief = Brief.objects.get()
    made = {(v.axis_values["hook"], v.language) for v in Variant.objects.filter(brief=brief)}
    assert made == {("Wake up", "en"), ("Wake up", "ja"), ("Good night", "ja")}

    def ready():
        clips = Clip.objects.filter(variant__brief=brief, status=Clip.Status.READY)
        return clips.count() == 3 and list(clips)

    clips = celery_worker.wait_for("three ready clips", ready)
    clip = next(c for c in clips if c.variant.language == "ja")
    assert clip.variant.script == SCRIPTS["ja"]
    video = Path(default_storage.path(clip.file.name))

    # The frame: the card's glyphs match the text drawn with a font that has them, and not
    # the empty boxes a Latin-only font draws.
    frame = _normalised(_frame_text_mask(video, at=1.5))
    right = _normalised(_drawn_text_mask(CARD, font_for_text(CARD, "ja")))
    boxes = _normalised(_drawn_text_mask(CARD, FALLBACK_FONT))
    assert _iou(frame, right) > 0.5
    assert _iou(frame, right) > _iou(frame, boxes) + 0.15

    # The sound: the clip's speech follows espeak's Japanese reading of the Japanese script
    # much more closely than the English one.
    heard = _envelope(_pcm(video))
    own = _envelope(_pcm(_espeak(SCRIPTS["ja"], "ja", tmp_path / "ja.wav")))
    # What the old form made: the English script read by the Japanese voice.
    english_in_japanese = _envelope(_pcm(_espeak(SCRIPTS["en"], "ja", tmp_path / "en-ja.wav")))
    scores = (_best_correlation(heard, own), _best_correlation(heard, english_in_japanese))
    print("speech correlation (own script, English script):", scores)
    assert scores[0] > 0.6, scores
    assert scores[0] > scores[1] + 0.15, scores
    context.close()
