"""Reference image uploads, with real files made here: what each bad file gets."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from generation.models import Brief, Membership, ReferenceImage
from generation.providers.base import Provider
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register
from generation.references import ReferenceRejected, reference_clean
from tests.factories import CampaignFactory, MembershipFactory, brief_form_data
from tests.providers import install

PICTURE = register(
    ModelSpec(
        provider="picture",
        model="pic-1",
        label="Picture 1",
        modes=frozenset({Mode.TEXT, Mode.IMAGE}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16", "1:1"),
        audio=Audio.OPTIONAL,
        max_reference_images=1,
        min_image_side=300,
        min_image_aspect=0.4,
        max_image_aspect=2.5,
        prices=(Price(Decimal("0.1"), source="test", as_of=date(2026, 11, 24)),),
    )
)


class Picture(Provider):
    name = "picture"
    label = "Picture (image input)"


def _image(fmt: str, size=(640, 480), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(out, fmt, **save)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _bomb(side: int = 100_000) -> bytes:
    """A side × side PNG header in a few hundred bytes (10 gigapixels by default)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _clean(data: bytes, spec=PICTURE):
    return reference_clean(io.BytesIO(data), spec=spec, name="upload")


# --- what each bad file gets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_image("JPEG")[:-600], "the image is truncated or damaged"),
        (
            _bomb(),
            "the image is more than 40 megapixels (its header claims far more pixels than "
            "its bytes could hold)",
        ),
        (_bomb(7000), "the image is 7000×7000, more than 40 megapixels"),
        (_image("GIF"), "the file is not a JPEG, PNG or WEBP image"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800">'
            b'<rect width="800" height="800"/></svg>',
            "the file is not a JPEG, PNG or WEBP image",
        ),
        (b"", "the file is empty"),
        (
            _image("PNG", size=(299, 800)),
            "Picture 1 needs images at least 300 px on each side; this one is 299×800",
        ),
        (
            _image("PNG", size=(2000, 400)),
            "Picture 1 takes images up to 2.5:1 wide; this one is 2000×400",
        ),
    ],
    ids=["truncated", "bomb", "small-bomb", "gif", "svg", "empty", "below-min-side", "too-wide"],
)
def test_bad_files_are_refused_naming_why(data: bytes, message: str) -> None:
    with pytest.raises(ReferenceRejected) as excinfo:
        _clean(data)

    assert str(excinfo.value) == message


def test_the_byte_cap(settings) -> None:
    settings.GREENLIGHT_REFERENCE_MAX_BYTES = 1024**2
    noisy = Image.frombytes("RGB", (1200, 1200), bytes(range(256)) * (1200 * 1200 * 3 // 256))
    out = io.BytesIO()
    noisy.save(out, "PNG", compress_level=0)

    with pytest.raises(ReferenceRejected, match="larger than 1 MB"):
        _clean(out.getvalue())


def test_a_model_without_image_input_refuses_any_image() -> None:
    from generation.providers.capabilities import spec_for

    with pytest.raises(ReferenceRejected, match="Animatic v1 does not take reference images"):
        _clean(_image("PNG"), spec=spec_for("animatic", "animatic-v1"))


def test_a_png_named_jpg_is_judged_by_its_content() -> None:
    upload = SimpleUploadedFile("photo.jpg", _image("PNG"), content_type="image/jpeg")

    image = reference_clean(upload, spec=PICTURE, name=upload.name)

    assert (image.format, image.extension, image.content_type) == ("PNG", "png", "image/png")
    assert Image.open(io.BytesIO(image.content)).format == "PNG"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_metadata_is_stripped_and_the_picture_turned_upright(fmt: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to view
    exif[0x010F] = "SecretCam"  # camera make
    source = _image(fmt, size=(640, 400), exif=exif.tobytes())
    assert b"SecretCam" in source

    image = _clean(source)

    assert b"SecretCam" not in image.content
    reread = Image.open(io.BytesIO(image.content))
    assert reread.getexif() == {} or 0x010F not in reread.getexif()
    assert "icc_profile" not in reread.info
    assert (image.width, image.height) == reread.size == (400, 640)


# --- through the brief form ----------------------------------------------------------------


@pytest.fixture
def picture_client(client, monkeypatch, no_enqueue, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    install(monkeypatch, Picture)
    campaign = CampaignFactory(slug="launch")
    client.force_login(MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user)
    return client


def _post(client, upload, **overrides):
    data = brief_form_data(**{"model": "picture:pic-1", "reference": upload, **overrides})
    return client.post(reverse("generation:brief_create", args=["launch"]), data)


@pytest.mark.django_db
def test_an_upload_is_stored_re_encoded_and_sent_with_every_job(picture_client) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    upload = SimpleUploadedFile("shot.jpg", _image("JPEG", exif=exif.tobytes()))

    response = _post(picture_client, upload)

    assert response.status_code == 302, response.context["form"].errors
    reference = ReferenceImage.objects.get()
    assert (reference.format, reference.width, reference.height) == ("JPEG", 640, 480)
    assert reference.original_name == "shot.jpg"
    with default_storage.open(reference.image.name, "rb") as fh:
        stored = fh.read()
    assert b"SecretCam" not in stored
    brief = Brief.objects.get()
    picture_client.post(reverse("generation:brief_launch", args=[brief.pk]))
    requests = [j.request for j in brief.variants.first().jobs.all()]
    assert requests[0]["image_url"].endswith(reference.image.url)


@pytest.mark.django_db
def test_a_bad_upload_is_a_form_error_and_nothing_is_written(picture_client) -> None:
    upload = SimpleUploadedFile("anim.gif", _image("GIF"), content_type="image/gif")

    response = _post(picture_client, upload)

    assert response.status_code == 400
    assert response.context["form"].errors["reference"] == [
        "anim.gif: the file is not a JPEG, PNG or WEBP image"
    ]
    assert not Brief.objects.exists() and not ReferenceImage.objects.exists()


@pytest.mark.django_db
def test_the_animatic_refuses_a_reference_on_the_form(picture_client) -> None:
    upload = SimpleUploadedFile("shot.png", _image("PNG"))

    response = _post(picture_client, upload, model="animatic:animatic-v1")

    assert response.status_code == 400
    assert response.context["form"].errors["reference"] == [
        "shot.png: Animatic v1 does not take reference images"
    ]


@pytest.mark.django_db
def test_a_variant_takes_its_own_image_on_the_revise_page(picture_client) -> None:
    from tests.factories import JobFactory

    job = JobFactory(
        status="failed",
        variant__brief__campaign=CampaignFactory(slug="pics"),
        variant__brief__provider="picture",
        variant__brief__model="pic-1",
    )
    variant = job.variant
    MembershipFactory(campaign=variant.brief.campaign, user=_user(picture_client),
                      role=Membership.Role.CREATOR)  # fmt: skip
    url = reverse("generation:variant_revise", args=[variant.pk])
    assert 'name="reference"' in picture_client.get(url).content.decode()

    response = picture_client.post(
        url,
        {
            "prompt": "Brighter",
            "shots": "One",
            "reference": SimpleUploadedFile("v.webp", _image("WEBP", size=(800, 600))),
        },
    )

    assert response.status_code == 302
    own = ReferenceImage.objects.get(variant=variant)
    assert (own.format, own.width) == ("WEBP", 800)
    latest = variant.jobs.order_by("-attempt").first()
    assert latest.request["image_url"].endswith(own.image.url)


@pytest.mark.django_db
def test_the_animatic_revise_page_offers_no_image(client, no_enqueue) -> None:
    from tests.factories import JobFactory

    job = JobFactory(status="failed")
    creator = MembershipFactory(
        campaign=job.variant.brief.campaign, role=Membership.Role.CREATOR
    ).user
    client.force_login(creator)

    page = client.get(reverse("generation:variant_revise", args=[job.variant.pk]))

    assert 'name="reference"' not in page.content.decode()


def _user(client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


@pytest.mark.django_db
def test_more_images_than_the_model_takes_is_a_form_error(picture_client) -> None:
    uploads = [SimpleUploadedFile(f"{n}.png", _image("PNG")) for n in range(2)]

    response = _post(picture_client, uploads)

    assert response.status_code == 400
    assert response.context["form"].errors["reference"] == [
        "Picture 1 takes at most 1 reference image(s)"
    ]
