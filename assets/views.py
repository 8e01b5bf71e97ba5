from __future__ import annotations

import mimetypes
import os
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_safe

from assets import selectors
from assets.streaming import CACHE_CONTROL, accel_redirect_response, ranged_file_response
from config.http import HtmxHttpRequest


def _serve(
    request: HtmxHttpRequest,
    alias: str,
    name: str,
    *,
    content_type: str,
    filename: str,
    attachment: bool = False,
) -> HttpResponseBase:
    """Serve a stored file with Range support, the cheapest way the deployment allows.

    Remote storage (S3 and friends) answers with a short-lived presigned URL and serves Range
    itself. Local files go to nginx by X-Accel-Redirect when GREENLIGHT_ACCEL_REDIRECT names
    a location for the storage, else from here through the server's sendfile path.
    """
    storage = storages[alias]
    if not name:
        raise Http404("file missing")
    if not isinstance(storage, FileSystemStorage):
        if not storage.exists(name):
            raise Http404("file missing")
        return HttpResponseRedirect(storage.url(name))
    location = settings.GREENLIGHT_ACCEL_REDIRECT.get(alias, "")
    if location:
        if not storage.exists(name):
            raise Http404("file missing")
        return accel_redirect_response(
            location=location.rstrip("/") + "/" + name.lstrip("/"),
            content_type=content_type,
            filename=filename,
            as_attachment=attachment,
        )
    # Open first, then describe the open file: no window in which a file that was checked is
    # gone (a re-analysis deletes replaced files), and one fstat instead of three stats.
    try:
        fh = storage.open(name, "rb")
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise Http404("file missing") from exc
    stat = os.fstat(fh.fileno())
    return ranged_file_response(
        request,
        file=fh,
        size=stat.st_size,
        content_type=content_type,
        filename=filename,
        as_attachment=attachment,
        last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )


@require_safe
@login_required
def clip_video(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    clip = selectors.access_clip_files(user=request.user, clip_uuid=clip_uuid, fields=("file",))
    return _serve(
        request,
        "default",
        clip.file.name,
        content_type="video/mp4",
        filename=f"clip-{clip.uuid}-v{clip.version}.mp4",
        attachment=request.GET.get("download") == "1",
    )


# A clip's derived files: field -> (content type, file extension).
_DERIVED = {
    "poster": ("image/jpeg", "jpg"),
    "sprite": ("image/jpeg", "jpg"),
    "waveform": ("image/png", "png"),
}


def _serve_derived(request: HtmxHttpRequest, clip_uuid: uuid.UUID, field: str) -> HttpResponseBase:
    """Serve one of a clip's derived files to a user who may see the clip."""
    clip = selectors.access_clip_files(user=request.user, clip_uuid=clip_uuid, fields=(field,))
    content_type, extension = _DERIVED[field]
    return _serve(
        request,
        "default",
        getattr(clip, field).name,
        content_type=content_type,
        filename=f"clip-{clip.uuid}-{field}.{extension}",
    )


@require_safe
@login_required
def clip_poster(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    return _serve_derived(request, clip_uuid, "poster")


@require_safe
@login_required
def clip_sprite(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    return _serve_derived(request, clip_uuid, "sprite")


@require_safe
@login_required
def clip_waveform(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    return _serve_derived(request, clip_uuid, "waveform")


@require_safe
@login_required
def clip_thumbnails(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    """The WebVTT thumbnails track, always from here (a few KB), whatever the storage.

    Its cues name `sprite.jpg` relative to this URL, i.e. the permission-checked sprite view,
    so the track works on S3 too, where a presigned sprite URL baked into it would expire.
    """
    clip = selectors.access_clip_files(
        user=request.user, clip_uuid=clip_uuid, fields=("thumbnails",)
    )
    name = clip.thumbnails.name
    if not name or not default_storage.exists(name):
        raise Http404("file missing")
    with default_storage.open(name, "rb") as fh:
        body = fh.read()
    response = HttpResponse(body, content_type="text/vtt; charset=utf-8")
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


@require_GET
@login_required
def archive_list(request: HtmxHttpRequest) -> HttpResponse:
    tag = request.GET.get("tag", "").strip()[:80]
    records = selectors.archive_records_for(user=request.user, tag=tag)
    return render(request, "assets/archive_list.html", {"records": records, "tag": tag})


@require_safe
@login_required
def archive_file(request: HtmxHttpRequest, pk: int, kind: str) -> HttpResponseBase:
    if kind not in ("video", "sidecar"):
        raise Http404("no such archive file")
    record = selectors.access_archive_record(user=request.user, record_id=pk)
    name = record.video_path if kind == "video" else record.sidecar_path
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return _serve(
        request,
        "archive",
        name,
        content_type=content_type,
        filename=name.rsplit("/", 1)[-1],
        attachment=True,
    )
