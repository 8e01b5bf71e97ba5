from django.urls import path

from generation import views, webhooks

app_name = "generation"
urlpatterns = [
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<slug:slug>/briefs/new/", views.brief_create, name="brief_create"),
    path("briefs/<int:pk>/", views.brief_detail, name="brief_detail"),
    path("variants/<int:pk>/regenerate/", views.variant_regenerate, name="variant_regenerate"),
    path("hooks/<slug:provider>/", webhooks.provider_webhook, name="provider_webhook"),
]
