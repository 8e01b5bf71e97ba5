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
    path("clips/<uuid:clip_uuid>/<str:direction>/", views.queue_step, name="queue_step"),
    path("campaigns/<slug:slug>/audit.csv", views.campaign_audit_csv, name="campaign_audit_csv"),
]
