from django.urls import path

from assets import views

app_name = "assets"
urlpatterns = [
    path("media/clips/<uuid:clip_uuid>/video.mp4", views.clip_video, name="clip_video"),
    path("media/clips/<uuid:clip_uuid>/poster.jpg", views.clip_poster, name="clip_poster"),
    path("media/clips/<uuid:clip_uuid>/sprite.jpg", views.clip_sprite, name="clip_sprite"),
    path("media/clips/<uuid:clip_uuid>/waveform.png", views.clip_waveform, name="clip_waveform"),
    path(
        "media/clips/<uuid:clip_uuid>/thumbnails.vtt",
        views.clip_thumbnails,
        name="clip_thumbnails",
    ),
    path("archive/", views.archive_list, name="archive_list"),
    path(
        "archive/<int:pk>/<str:kind>/",
        views.archive_file,
        name="archive_file",
    ),
]
