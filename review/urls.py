from django.urls import path

from review import views

app_name = "review"
urlpatterns = [
    path("review/", views.queue, name="queue"),
    path("review/tag/", views.queue_bulk_tag, name="queue_bulk_tag"),
    path("notifications/", views.notification_list, name="notifications"),
    path("clips/<uuid:clip_uuid>/tags/", views.clip_tag, name="clip_tag"),
    path("clips/<uuid:clip_uuid>/comments/", views.clip_comment, name="clip_comment"),
    path(
        "comments/<int:comment_id>/<str:action>/",
        views.comment_resolve,
        name="comment_resolve",
    ),
    path("clips/<uuid:clip_uuid>/tags/<int:tag_id>/remove/", views.clip_untag, name="clip_untag"),
    path("clips/<uuid:clip_uuid>/", views.clip_detail, name="clip_detail"),
    path("clips/<uuid:clip_uuid>/decide/", views.clip_decide, name="clip_decide"),
    path("clips/<uuid:clip_uuid>/panel/", views.decision_panel, name="decision_panel"),
    path(
        "clips/<uuid:clip_uuid>/compare/<uuid:other_uuid>/",
        views.clip_compare,
        name="clip_compare",
    ),
    path("clips/<uuid:clip_uuid>/share/", views.clip_share, name="clip_share"),
    path("clips/<uuid:clip_uuid>/<str:direction>/", views.queue_step, name="queue_step"),
    path("campaigns/<slug:slug>/audit.csv", views.campaign_audit_csv, name="campaign_audit_csv"),
    path("links/<int:link_id>/revoke/", views.share_revoke, name="share_revoke"),
    path("s/<str:token>/", views.guest_enter, name="guest_enter"),
    path("s/<str:token>/clips/", views.guest_home, name="guest_home"),
    path("s/<str:token>/clips/<uuid:clip_uuid>/", views.guest_clip, name="guest_clip"),
    path("s/<str:token>/clips/<uuid:clip_uuid>/panel/", views.guest_panel, name="guest_panel"),
    path("s/<str:token>/clips/<uuid:clip_uuid>/video", views.guest_video, name="guest_video"),
    path(
        "s/<str:token>/clips/<uuid:clip_uuid>/comments/",
        views.guest_comment,
        name="guest_comment",
    ),
    path("s/<str:token>/clips/<uuid:clip_uuid>/decide/", views.guest_decide, name="guest_decide"),
]
