from django.contrib import admin
from django.urls import include, path

from generation import views as generation_views

admin.site.site_header = "Greenlight operations"
admin.site.site_title = "Greenlight ops"

urlpatterns = [
    path("", generation_views.home, name="home"),
    path("accounts/login/", generation_views.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("generation.urls")),
    path("", include("assets.urls")),
    path("", include("review.urls")),
]
