from __future__ import annotations

import mimetypes
import uuid

from django.contrib.auth.decorators import login_required
from django.core.files.storage import FileSystemStorage, Storage, default_storage, storages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_safe

from assets import selectors
from assets.streaming import ranged_file_response
from config.http import HtmxHttpRequest


def _serve(
    request: HtmxHttpRequest,
    storage: Storage,
    name: str,
    *,
    content_type: str,
    filename: str,
    attachment: bool = False,
) -> HttpResponseBase:
    """Stream a stored file with Range support; remote storage answers with a signed URL."""
    if not name or not storage.exists(name):
        raise Http404("file missing")
    if not isinstance(storage, FileSystemStorage):
        # S3 and friends serve Range themselves; the URL is presigned and short-lived.
        return HttpResponseRedirect(storage.url(name))
    fh = storage.open(name, "rb")
    return ranged_file_response(
        request,
        file=fh,
        size=storage.size(name),
        content_type=content_type,
        filename=filename,
        as_attachment=attachment,
        last_modified=storage.get_modified_time(name),
    )


@require_safe
@login_required
def clip_video(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    clip = selectors.access_clip(user=request.user, clip_uuid=clip_uuid)
    return _serve(
        request,
        default_storage,
        clip.file.name,
        content_type="video/mp4",
        filename=f"clip-{clip.uuid}-v{clip.version}.mp4",
        attachment=request.GET.get("download") == "1",
    )


@require_safe
@login_required
def clip_poster(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponseBase:
    clip = selectors.access_clip(user=request.user, clip_uuid=clip_uuid)
    return _serve(
        request,
        default_storage,
        clip.poster.name,
        content_type="image/jpeg",
        filename=f"clip-{clip.uuid}-poster.jpg",
    )


@require_GET
@login_required
def archive_list(request: HtmxHttpRequest) -> HttpResponse:
    records = selectors.archive_records_for(user=request.user)
    return render(request, "assets/archive_list.html", {"records": records})


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
        storages["archive"],
        name,
        content_type=content_type,
        filename=name.rsplit("/", 1)[-1],
        attachment=True,
    )
