"""Each campaign's loudness window: fields on Campaign, edited in the admin, read by QC."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.urls import reverse

from assets.models import Clip
from assets.services import clip_ingest, clip_reanalyse, delivery_spec
from generation.models import Campaign
from tests.assets.conftest import TOO_QUIET_DB, make_clip
from tests.factories import CampaignFactory, ClipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _codes(clip: Clip) -> set[str]:
    return {f["code"] for f in clip.qc}


def _ingested(path: Path, campaign: Campaign) -> Clip:
    with path.open("rb") as fh:
        name = default_storage.save("jobs/1/video.mp4", File(fh))
    clip = ClipFactory(
        status=Clip.Status.PROCESSING,
        file=name,
        poster="",
        sha256="",
        job__variant__brief__campaign=campaign,
        job__request={"duration_s": 4, "aspect_ratio": "16:9", "audio": True},
    )
    clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    return clip


@pytest.fixture(scope="module")
def quiet_tone(tmp_path_factory) -> Path:
    # About -30 LUFS: quiet for social's -14 window, right for a -30 ±3 one.
    return make_clip(tmp_path_factory.mktemp("loud") / "quiet.mp4", gain_db=TOO_QUIET_DB)


@pytest.fixture(scope="module")
def in_window_tone(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("loud") / "social.mp4")


def test_blank_fields_mean_the_settings_window(settings) -> None:
    settings.GREENLIGHT_LOUDNESS_TARGET_LUFS = -16.0
    campaign = CampaignFactory(loudness_tolerance_lu=1.0)
    spec = delivery_spec(campaign=campaign)
    assert (spec.loudness_target_lufs, spec.loudness_tolerance_lu, spec.true_peak_max_dbtp) == (
        -16.0,
        1.0,
        settings.GREENLIGHT_TRUE_PEAK_MAX_DBTP,
    )


def test_the_campaigns_window_changes_a_clips_qc_findings(quiet_tone) -> None:
    social = _ingested(quiet_tone, CampaignFactory())
    assert "loudness" in _codes(social)
    finding = next(f for f in social.qc if f["code"] == "loudness")
    assert "too quiet" in finding["message"] and "-14 ±2 LUFS" in finding["message"]

    quiet = CampaignFactory(loudness_target_lufs=-30.0, loudness_tolerance_lu=3.0)
    assert "loudness" not in _codes(_ingested(quiet_tone, quiet))


def test_the_campaigns_peak_limit_changes_a_clips_qc_findings(in_window_tone) -> None:
    social = _ingested(in_window_tone, CampaignFactory())
    assert not _codes(social) & {"loudness", "true_peak"}
    assert -12.0 < social.true_peak_dbtp <= -1.0

    strict = _ingested(in_window_tone, CampaignFactory(true_peak_max_dbtp=-12.0))
    assert _codes(strict) & {"loudness", "true_peak"} == {"true_peak"}
    assert "at most -12 dBTP" in next(f for f in strict.qc if f["code"] == "true_peak")["message"]


def test_reanalysis_applies_a_window_changed_after_ingest(quiet_tone) -> None:
    campaign = CampaignFactory()
    clip = _ingested(quiet_tone, campaign)
    assert "loudness" in _codes(clip)
    Campaign.objects.filter(pk=campaign.pk).update(
        loudness_target_lufs=-30.0, loudness_tolerance_lu=3.0
    )
    assert "loudness" not in _codes(clip_reanalyse(clip_id=clip.pk))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loudness_target_lufs", -60, "greater than or equal to -40"),
        ("loudness_target_lufs", 3, "less than or equal to -5"),
        ("loudness_tolerance_lu", 0, "greater than or equal to 0.5"),
        ("loudness_tolerance_lu", 25, "less than or equal to 10"),
        ("true_peak_max_dbtp", 2, "less than or equal to 0"),
        ("true_peak_max_dbtp", -30, "greater than or equal to -12"),
    ],
)
def test_out_of_range_values_are_refused_with_the_range(field, value, message) -> None:
    campaign = CampaignFactory.build(**{field: value})
    with pytest.raises(ValidationError) as refused:
        campaign.full_clean()
    assert message in " ".join(refused.value.message_dict[field])


def test_a_window_above_the_peak_limit_is_refused() -> None:
    campaign = CampaignFactory.build(
        loudness_target_lufs=-6.0, loudness_tolerance_lu=0.5, true_peak_max_dbtp=-9.0
    )
    with pytest.raises(ValidationError) as refused:
        campaign.full_clean()
    assert (
        "above the -9 dBTP true-peak limit" in refused.value.message_dict["loudness_target_lufs"][0]
    )


def test_the_database_refuses_what_the_form_would(db) -> None:
    campaign = CampaignFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(loudness_tolerance_lu=-1)


def test_the_admin_edits_the_window_and_explains_bad_values(client) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    campaign = CampaignFactory(name="Spring", slug="spring")
    url = reverse("admin:generation_campaign_change", args=[campaign.pk])
    page = client.get(url)
    assert b"Loudness window (QC)" in page.content

    form = {
        "name": "Spring",
        "slug": "spring",
        "description": "",
        "budget_usd": "",
        "loudness_target_lufs": "-23",
        "loudness_tolerance_lu": "abc",
        "true_peak_max_dbtp": "3",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    refused = client.post(url, form)
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "Enter a number." in text and "less than or equal to 0" in text
    campaign.refresh_from_db()
    assert campaign.loudness_target_lufs is None

    saved = client.post(url, {**form, "loudness_tolerance_lu": "1", "true_peak_max_dbtp": ""})
    assert saved.status_code == 302, saved.content.decode()[:3000]
    campaign.refresh_from_db()
    assert (campaign.loudness_target_lufs, campaign.loudness_tolerance_lu) == (-23.0, 1.0)
    assert campaign.true_peak_max_dbtp is None
    spec = delivery_spec(campaign=campaign)
    assert (spec.loudness_target_lufs, spec.loudness_tolerance_lu) == (-23.0, 1.0)
