from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from config.http import HtmxHttpRequest
from generation import selectors, services
from generation.forms import BriefForm
from generation.matrix import MatrixError, TemplateError
from generation.providers.base import ProviderError


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    campaigns = selectors.campaigns_for_user(user=request.user).annotate(
        brief_count=Count("briefs", distinct=True)
    )
    return render(request, "generation/home.html", {"campaigns": campaigns})


@require_GET
@login_required
def campaign_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    campaign = selectors.access_campaign(user=request.user, slug=slug)
    return render(
        request,
        "generation/campaign_detail.html",
        {
            "campaign": campaign,
            "briefs": selectors.briefs_for_campaign(campaign=campaign),
            "can_create": services.can_create_brief(user=request.user, campaign=campaign),
            "spend": services.campaign_spend(campaign=campaign),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def brief_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    campaign = selectors.access_campaign(user=request.user, slug=slug)
    if not services.can_create_brief(user=request.user, campaign=campaign):
        raise HttpForbidden("only creators on this campaign may write briefs")
    form = BriefForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            brief = services.brief_create(
                campaign=campaign, user=request.user, data=form.to_input()
            )
        except (services.BudgetExceeded, MatrixError, TemplateError, ProviderError) as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(brief)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "generation/brief_form.html",
        {"campaign": campaign, "form": form},
        status=status,
    )


@require_GET
@login_required
def brief_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    variants = selectors.brief_variants(brief=brief)
    progress = selectors.brief_progress(variants=variants)
    context = {"brief": brief, "variants": variants, "progress": progress}
    if request.htmx:
        response = render(request, "generation/brief_detail.html#variant-progress", context)
        if not progress["active"]:
            stop = HttpResponseStopPolling(response.content)
            return stop
        return response
    return render(request, "generation/brief_detail.html", context)


@require_POST
@login_required
def variant_regenerate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Queue the next version of a variant, keeping the reviewer's notes beside it."""
    variant = selectors.access_variant(user=request.user, variant_id=pk)
    if not services.can_create_brief(user=request.user, campaign=variant.brief.campaign):
        raise HttpForbidden("only creators on this campaign may generate new versions")
    try:
        job = services.job_create(
            variant=variant,
            requested_by=request.user,
            notes=request.POST.get("notes", "").strip()[:4000],
        )
    except (services.VersionInProgress, services.BudgetExceeded, ProviderError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Version {job.attempt} of #{variant.position} is queued.")
    return redirect(variant.brief)


class LoginView(auth_views.LoginView):
    """Django's login, plus a hint where the demo logins are when the demo data exists."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["demo_logins"] = (settings.VAR_DIR / "demo-logins.json").exists()
        return context
