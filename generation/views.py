from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from config.http import HtmxHttpRequest
from generation import selectors, services
from generation.forms import BriefForm, LocalizeForm, VariantReviseForm
from generation.matrix import (
    LANGUAGE_NAMES,
    LANGUAGES,
    MatrixError,
    TemplateError,
    matrix_cells,
    template_parse,
)
from generation.models import GenerationJob
from generation.providers.base import ProviderError
from generation.references import ReferenceRejected


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    campaigns = selectors.campaigns_for_user(user=request.user).annotate(
        brief_count=Count("briefs", distinct=True)
    )
    return render(request, "generation/home.html", {"campaigns": campaigns})


BRIEFS_PAGE_SIZE = 50
VARIANTS_PAGE_SIZE = 24


@require_GET
@login_required
def campaign_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The campaign's briefs, newest first, a page at a time (ids are counted and paged; only
    the page's rows are read with their authors and variant counts)."""
    campaign = selectors.access_campaign(user=request.user, slug=slug)
    page = Paginator(selectors.briefs_for_campaign(campaign=campaign), BRIEFS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "generation/campaign_detail.html",
        {
            "campaign": campaign,
            "page": page,
            "briefs": selectors.brief_rows(ids=list(page.object_list)),
            "can_create": services.can_create_brief(user=request.user, campaign=campaign),
            "spend": services.campaign_spend(campaign=campaign),
        },
    )


def _creator_only(user, campaign) -> None:
    if not services.can_create_brief(user=user, campaign=campaign):
        raise HttpForbidden("only creators on this campaign may write briefs")


_BRIEF_ERRORS = (
    services.BriefNotReady,
    ReferenceRejected,
    services.BudgetExceeded,
    MatrixError,
    TemplateError,
    ProviderError,
)


@require_http_methods(["GET", "POST"])
@login_required
def brief_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Write a draft brief; saving leads to its preview, where it is launched."""
    campaign = selectors.access_campaign(user=request.user, slug=slug)
    _creator_only(request.user, campaign)
    form = BriefForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            brief = services.brief_draft_save(
                campaign=campaign,
                user=request.user,
                data=form.to_input(),
                references=form.references(),
            )
        except _BRIEF_ERRORS as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("generation:brief_preview", pk=brief.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "generation/brief_form.html",
        {"campaign": campaign, "form": form, "brief": None},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def brief_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Change a draft brief; a launched brief is shown instead."""
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    _creator_only(request.user, brief.campaign)
    if not brief.is_draft:
        messages.error(request, "This brief is launched; its variants can no longer change.")
        return redirect(brief)
    form = BriefForm(
        request.POST or None, request.FILES or None, initial=BriefForm.initial_for(brief)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.brief_draft_save(
                campaign=brief.campaign,
                user=request.user,
                data=form.to_input(),
                brief=brief,
                references=form.references(),
            )
        except _BRIEF_ERRORS as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("generation:brief_preview", pk=brief.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "generation/brief_form.html",
        {"campaign": brief.campaign, "form": form, "brief": brief},
        status=status,
    )


def _chosen_exclude(request: HtmxHttpRequest, brief) -> list[str] | None:
    """Cell keys left unticked in a posted preview form; None when nothing was posted."""
    if "cells-shown" not in request.POST:
        return None
    chosen = set(request.POST.getlist("cell"))
    cells = matrix_cells(
        axes=brief.axis_list,
        aspect_ratios=brief.aspect_ratios,
        durations=brief.durations,
        languages=brief.languages,
    )
    return [cell.key for cell in cells if cell.key not in chosen]


@require_http_methods(["GET", "POST"])
@login_required
def brief_preview(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """What launching the draft would make and cost; POST (htmx) recounts ticked cells."""
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    if not brief.is_draft:
        return redirect(brief)
    exclude = _chosen_exclude(request, brief) if request.method == "POST" else None
    context = _preview_context(request, brief, exclude=exclude)
    if request.htmx and request.method == "POST":
        return render(request, "generation/brief_preview.html#plan-summary", context)
    return render(request, "generation/brief_preview.html", context)


def _preview_context(request: HtmxHttpRequest, brief, *, exclude=None, error: str = "") -> dict:
    plan = services.brief_plan(brief=brief, exclude=exclude)
    campaign = brief.campaign
    spend = services.campaign_spend(campaign=campaign)
    left = None if campaign.budget_usd is None else campaign.budget_usd - spend
    return {
        "brief": brief,
        "plan": plan,
        "error": error,
        "budget_left": left,
        "over_budget": left is not None and plan.estimate_usd > left,
        "can_launch": services.can_create_brief(user=request.user, campaign=campaign),
        "can_approve": services.can_approve_brief(user=request.user, campaign=campaign),
        "axes": brief.axis_list,
    }


@require_POST
@login_required
def brief_approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve a draft brief (campaigns that launch only approved briefs)."""
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    try:
        services.brief_approve(brief=brief, user=request.user)
    except services.PermissionDenied as exc:
        raise HttpForbidden(str(exc)) from None
    except services.BriefNotReady as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Approved: the creator can launch this brief.")
    return redirect("generation:brief_preview", pk=brief.pk)


@require_POST
@login_required
def brief_launch(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Launch a draft: make the chosen variants and queue their jobs."""
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    _creator_only(request.user, brief.campaign)
    if not brief.is_draft:
        messages.error(request, "This brief is already launched.")
        return redirect(brief)
    exclude = _chosen_exclude(request, brief)
    try:
        services.brief_launch(brief=brief, user=request.user, exclude=exclude)
    except _BRIEF_ERRORS as exc:
        context = _preview_context(request, brief, exclude=exclude, error=str(exc))
        return render(request, "generation/brief_preview.html", context, status=400)
    messages.success(request, "Launched: the variants are being generated.")
    return redirect(brief)


@require_GET
@login_required
def brief_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The brief and one page of its variants; htmx polls the `variant-progress` partial of the
    same page, whose counts cover every variant (SQL), until nothing is active (286)."""
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    page = Paginator(selectors.brief_variant_ids(brief=brief), VARIANTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    variants = selectors.brief_variants(brief=brief, ids=list(page.object_list))
    selectors.variant_language_links(variants=variants, per_page=VARIANTS_PAGE_SIZE)
    progress = selectors.brief_progress(brief=brief)
    context = {
        "brief": brief,
        "model_label": selectors.model_label(provider=brief.provider, model=brief.model),
        "spend": selectors.brief_spend(brief=brief),
        "variants": variants,
        "page": page,
        "progress": progress,
        "axes": brief.axis_list,
        "prompt_parts": template_parse_safe(brief.prompt),
        "script_parts": [
            (code, template_parse_safe(brief.script_for(code)))
            for code in brief.languages
            if brief.script_for(code)
        ],
        "can_create": services.can_create_brief(user=request.user, campaign=brief.campaign),
    }
    if request.htmx:
        response = render(request, "generation/brief_detail.html#variant-progress", context)
        if not progress["active"]:
            stop = HttpResponseStopPolling(response.content)
            return stop
        return response
    return render(request, "generation/brief_detail.html", context)


def template_parse_safe(template: str) -> list[tuple[str, str | None]]:
    """A template split into text and slots for display; unparsable text shows as written."""
    try:
        return template_parse(template)
    except TemplateError:
        return [(template, None)]


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


@require_http_methods(["GET", "POST"])
@login_required
def variant_revise(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Edit a variant's prompt, script and shots and generate its next version."""
    variant = selectors.access_variant(user=request.user, variant_id=pk)
    if not services.can_create_brief(user=request.user, campaign=variant.brief.campaign):
        raise HttpForbidden("only creators on this campaign may generate new versions")
    jobs = list(variant.jobs.order_by("attempt"))
    latest = jobs[-1] if jobs else None
    reviewer_notes = _reviewer_notes(latest)
    initial = {
        "prompt": variant.prompt,
        "script": variant.script,
        "shots": "\n".join(variant.shot_list),
        "notes": request.GET.get("notes", "") or (reviewer_notes[-1][1] if reviewer_notes else ""),
    }
    form = VariantReviseForm(
        request.POST or None,
        request.FILES or None,
        initial=initial,
        duration_s=variant.duration_s,
        spec=services.brief_model_spec(brief=variant.brief),
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            job = services.variant_revise(
                variant=variant,
                user=request.user,
                prompt=d["prompt"],
                script=d["script"],
                shots=d["shots"],
                notes=d["notes"],
                pin_seed=d["pin_seed"],
                reference=d.get("reference"),
            )
        except (
            services.VersionInProgress,
            services.BudgetExceeded,
            ProviderError,
            ReferenceRejected,
        ) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Version {job.attempt} of #{variant.position} is queued.")
            return redirect(variant.brief)
    return render(
        request,
        "generation/variant_revise.html",
        {
            "variant": variant,
            "brief": variant.brief,
            "form": form,
            "next_version": (latest.attempt + 1) if latest else 1,
            "reviewer_notes": reviewer_notes,
            "latest": latest,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def job_localize(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Make language versions of one version's clip: same picture and seed, its own script."""
    job = _access_job(request.user, pk)
    variant, brief = job.variant, job.variant.brief
    if not services.can_create_brief(user=request.user, campaign=brief.campaign):
        raise HttpForbidden("only creators on this campaign may make language versions")
    taken = {variant.language} | {v.language for v in job.language_versions.all()}
    spec_languages = services.model_languages(brief=brief)
    languages = [code for code, _name in LANGUAGES if code not in taken and code in spec_languages]
    form = LocalizeForm(request.POST or None, languages=languages, initial_scripts=brief.scripts)
    error = ""
    try:
        services.localize_check(job=job)
    except services.BriefNotReady as exc:
        error = str(exc)
    if request.method == "POST" and not error and form.is_valid():
        try:
            made = services.variant_localize(
                job=job, user=request.user, scripts=form.cleaned_data["scripts"]
            )
        except _BRIEF_ERRORS as exc:
            form.add_error(None, str(exc))
        else:
            names = ", ".join(LANGUAGE_NAMES.get(v.language, v.language) for v in made)
            messages.success(request, f"{names} version(s) of #{variant.position} are queued.")
            return redirect(brief)
    return render(
        request,
        "generation/job_localize.html",
        {"job": job, "variant": variant, "brief": brief, "form": form, "error": error},
        status=400 if request.method == "POST" or error else 200,
    )


def _access_job(user, job_id: int) -> GenerationJob:
    """A job whose campaign the user may see, or 404 (through the one visibility rule)."""
    qs = GenerationJob.objects.select_related("variant__brief__campaign")
    return selectors.get_or_404(
        selectors.visible_to(qs, user=user, campaign="variant__brief__campaign"),
        "version",
        pk=job_id,
    )


def _reviewer_notes(job) -> list[tuple[str, str]]:
    """(who, note) for every decision note on the job's clip, oldest first.

    The review lives in a later app; it is reached by relation name only.
    """
    clip = getattr(job, "clip", None) if job is not None else None
    review = getattr(clip, "review", None) if clip is not None else None
    if review is None:
        return [("Earlier request", job.notes)] if job is not None and job.notes else []
    decisions = review.decisions.select_related("user").order_by("created_at")
    return [(d.user.get_username(), d.note) for d in decisions if d.note]


class LoginView(auth_views.LoginView):
    """Django's login, plus a hint where the demo logins are when the demo data exists."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["demo_logins"] = (settings.VAR_DIR / "demo-logins.json").exists()
        return context


# --- Cuts of multi-shot briefs ---------------------------------------------------------------


def _cuts_panel(request: HtmxHttpRequest, brief, **extra) -> HttpResponse:
    context = {
        "brief": brief,
        "can_create": services.can_create_brief(user=request.user, campaign=brief.campaign),
        **extra,
    }
    return render(request, "generation/brief_cuts.html#cuts-panel", context)


@require_GET
@login_required
def brief_cuts(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The brief page's cuts panel; polling stops (286) once no cut is being made."""
    from generation import sequences

    brief = selectors.access_brief(user=request.user, brief_id=pk)
    panel = sequences.brief_cut_panel(brief=brief)
    response = _cuts_panel(request, brief, panel=panel)
    if not panel["assembling"]:
        return HttpResponseStopPolling(response.content)
    return response


@require_POST
@login_required
def cut_assemble(request: HtmxHttpRequest, pk: int, cell_key: str) -> HttpResponse:
    """Join a cell's approved shots into its next cut (in the worker); a repeat does nothing."""
    brief = selectors.access_brief(user=request.user, brief_id=pk)
    if not services.can_create_brief(user=request.user, campaign=brief.campaign):
        raise HttpForbidden("only creators on this campaign may assemble cuts")
    from generation import sequences

    try:
        made = sequences.cut_assemble(brief=brief, cell_key=cell_key, user=request.user)
    except sequences.CutRefused as exc:
        level, text = "error", f"Not assembled: {exc}."
    else:
        version = f"Cut v{made.job.attempt}"
        if made.created:
            level, text = "success", f"{version} is being assembled from the approved shots."
        elif made.job.status in GenerationJob.ACTIVE:
            level, text = "info", f"{version} is already being assembled."
        else:
            level, text = "info", f"{version} already joins these shot versions."
    if request.htmx:
        return _cuts_panel(request, brief, cut_message=text, cut_level=level)
    getattr(messages, level)(request, text)
    return redirect(f"{brief.get_absolute_url()}#cuts")
