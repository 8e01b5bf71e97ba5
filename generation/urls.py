from django.urls import path

from generation import views, webhooks

app_name = "generation"
urlpatterns = [
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<slug:slug>/briefs/new/", views.brief_create, name="brief_create"),
    path("briefs/<int:pk>/", views.brief_detail, name="brief_detail"),
    path("briefs/<int:pk>/edit/", views.brief_edit, name="brief_edit"),
    path("briefs/<int:pk>/preview/", views.brief_preview, name="brief_preview"),
    path("briefs/<int:pk>/approve/", views.brief_approve, name="brief_approve"),
    path("briefs/<int:pk>/launch/", views.brief_launch, name="brief_launch"),
    path("variants/<int:pk>/regenerate/", views.variant_regenerate, name="variant_regenerate"),
    path("variants/<int:pk>/revise/", views.variant_revise, name="variant_revise"),
    path("versions/<int:pk>/languages/", views.job_localize, name="job_localize"),
    path("briefs/<int:pk>/cuts/", views.brief_cuts, name="brief_cuts"),
    path("briefs/<int:pk>/cuts/<slug:cell_key>/assemble/", views.cut_assemble, name="cut_assemble"),
    path("hooks/<slug:provider>/", webhooks.provider_webhook, name="provider_webhook"),
]
