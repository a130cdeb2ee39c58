"""The catalogue (owners and editors act; viewers may look): topics with their channels and
cadences, purposes and their notices, the hosted page's theme. Every write goes through the
service the configuration API uses (preferences.config_api), with the staff member as the
audit actor."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from brands.audit import Actor
from brands.models import Membership
from brands.services import brand_update
from config.errors import ApplicationError, Conflict
from consent.services import notice_text_set, purpose_create, purpose_update
from console.access import EDITORS, brand_page
from console.catalogue_forms import (
    HEX_COLOUR,
    ConfirmForm,
    DeleteForm,
    NoticeForm,
    PreviewStyleForm,
    PurposeCreateForm,
    PurposeForm,
    ThemeForm,
    TopicCreateForm,
    TopicForm,
    translation_languages,
)
from console.catalogue_selectors import (
    brand_purposes,
    consented_per_version,
    notice_versions_in,
    purpose_of,
    text_diff,
    topic_change_impact,
    topic_of,
)
from console.pages import refusal, render
from console.service_messages import refusal_errors
from preferences.branding import FONT_STACKS, logo_origin
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS
from preferences.selectors import topic_channels, topics_list
from preferences.topics import topic_create, topic_delete, topic_update
from preferences.views.theme import brand_palette

Role = Membership.Role
# Everyone but support looks; owners and editors change (issue 12's roles).
LOOKERS = frozenset({Role.OWNER.value, Role.EDITOR.value, Role.VIEWER.value})


def _console(request: HttpRequest) -> Any:
    return request.console  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user)


def _may_edit(request: HttpRequest) -> bool:
    return bool(_console(request).role in EDITORS)


def _refused_into(form: Any, refused: ApplicationError) -> None:
    """A service's refusal shown on the form: per field where it names one."""
    for name, problems in refusal_errors(refused).items():
        form.add_error(name if name in form.fields else None, problems)


def _summary(form: Any) -> list[tuple[str, str]]:
    return form.error_summary() if form is not None and form.is_bound and form.errors else []


def _translated(brand: Any) -> list[tuple[str, str]]:
    return translation_languages(brand.default_language)


def _labels() -> dict[str, Any]:
    return {
        "channel_labels": CHANNEL_LABELS,
        "cadence_labels": CADENCE_LABELS,
        "language_names": dict(settings.LANGUAGES),
    }


# --- Topics ------------------------------------------------------------------------------


def _topics_page(
    request: HttpRequest, *, form: TopicCreateForm | None = None, status: int = 200
) -> HttpResponse:
    brand = _console(request).brand
    topics = list(topics_list(brand=brand).select_related("purpose", "sms_purpose"))
    if form is None:
        form = TopicCreateForm(
            purposes=brand_purposes(brand=brand),
            languages=_translated(brand),
            initial={"channels": ["email"], "cadence_options": ["immediate"], "default_cadence": "immediate"},
        )
    context = {
        "topics": topics,
        "form": form,
        "errors": _summary(form),
        "may_edit": _may_edit(request),
        **_labels(),
    }
    return render(request, "console/catalogue/topics.html", context, status=status)


@brand_page(read=LOOKERS, actions={"create": EDITORS})
def topics(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's topics; owners and editors add one."""
    if request.method != "POST":
        return _topics_page(request)
    brand = _console(request).brand
    form = TopicCreateForm(request.POST, purposes=brand_purposes(brand=brand), languages=_translated(brand))
    if not form.is_valid():
        return _topics_page(request, form=form, status=400)
    if topic_of(brand=brand, slug=form.cleaned_data["slug"]) is not None:
        form.add_error("slug", _("The brand already has a topic with this slug."))
        return _topics_page(request, form=form, status=422)
    try:
        topic = topic_create(
            brand=brand, actor=_actor(request), slug=form.cleaned_data["slug"], **form.topic_fields()
        )
    except ApplicationError as refused:
        _refused_into(form, refused)
        return _topics_page(request, form=form, status=refused.status)
    messages.success(request, _("Topic “%(name)s” added.") % {"name": topic.name})
    return HttpResponseRedirect(reverse("console:topic", args=[brand.slug, topic.slug]))


def _topic_page(
    request: HttpRequest,
    topic: Any,
    *,
    form: TopicForm | None = None,
    impact: Any = None,
    carried: list[tuple[str, str]] | None = None,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    brand = _console(request).brand
    if form is None:
        form = TopicForm(
            purposes=brand_purposes(brand=brand),
            languages=_translated(brand),
            initial=TopicForm.initial_of(topic),
        )
    errors = _summary(form) or ([("#delete", problem)] if problem else [])
    context = {
        "topic": topic,
        "channels": topic_channels(topic),
        "form": form,
        "errors": errors,
        "impact": impact,
        "carried": carried or [],
        "may_edit": _may_edit(request),
        **_labels(),
    }
    return render(request, "console/catalogue/topic.html", context, status=status)


def _carried(request: HttpRequest) -> list[tuple[str, str]]:
    """The submitted fields, to post again with the confirmation."""
    skip = {"csrfmiddlewaretoken", "action", "confirmed"}
    return [
        (name, value) for name in request.POST if name not in skip for value in request.POST.getlist(name)
    ]


@brand_page(read=LOOKERS, actions={"save": EDITORS, "delete": EDITORS})
def topic(request: HttpRequest, brand_slug: str, topic_slug: str) -> HttpResponse:
    """One topic. Saving a change that takes a channel or cadence away first shows what happens
    to the contacts who chose it, and saves once that is confirmed; deleting refuses a topic in
    use (409)."""
    brand = _console(request).brand
    found = topic_of(brand=brand, slug=topic_slug)
    if found is None:
        return refusal(request, 404, _console(request))
    if request.method != "POST":
        return _topic_page(request, found)
    if request.POST["action"] == "delete":
        deletion = DeleteForm(request.POST)
        if not deletion.is_valid() or deletion.cleaned_data["slug"] != found.slug:
            return _topic_page(request, found, problem=_("Say which topic to delete."), status=400)
        try:
            topic_delete(topic=found, actor=_actor(request))
        except Conflict as refused:
            problem = _(
                "“%(name)s” cannot be deleted: contacts have chosen about it, or a hold or an "
                "unsubscribe names it, and deleting it would lose that."
            ) % {"name": found.name}
            return _topic_page(request, found, problem=problem, status=refused.status)
        messages.success(request, _("Topic “%(name)s” deleted.") % {"name": found.name})
        return HttpResponseRedirect(reverse("console:topics", args=[brand.slug]))
    form = TopicForm(request.POST, purposes=brand_purposes(brand=brand), languages=_translated(brand))
    confirmation = ConfirmForm(request.POST)
    if not form.is_valid() or not confirmation.is_valid():
        return _topic_page(request, found, form=form, status=400)
    fields = {**form.topic_fields(), "translations": form.translations(kept=found.translations)}
    impact = topic_change_impact(
        topic=found, channels=fields["channels"], cadence_options=fields["cadence_options"]
    )
    if impact.removes and confirmation.cleaned_data["confirmed"] != impact.key:
        # Not saved yet: what the removal does, and a button that confirms exactly this removal.
        return _topic_page(request, found, form=form, impact=impact, carried=_carried(request))
    try:
        topic_update(topic=found, actor=_actor(request), **fields)
    except ApplicationError as refused:
        _refused_into(form, refused)
        return _topic_page(request, found, form=form, status=refused.status)
    messages.success(request, _("Topic saved."))
    return HttpResponseRedirect(reverse("console:topic", args=[brand.slug, found.slug]))


# --- Purposes and notices ----------------------------------------------------------------


def _languages() -> list[tuple[str, str]]:
    return [(code, str(name)) for code, name in settings.LANGUAGES]


def _purposes_page(
    request: HttpRequest, *, form: PurposeCreateForm | None = None, status: int = 200
) -> HttpResponse:
    brand = _console(request).brand
    form = form or PurposeCreateForm()
    context = {
        "purposes": brand_purposes(brand=brand),
        "form": form,
        "errors": _summary(form),
        "may_edit": _may_edit(request),
    }
    return render(request, "console/catalogue/purposes.html", context, status=status)


@brand_page(read=LOOKERS, actions={"create": EDITORS})
def purposes(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's purposes; owners and editors add one (its notice texts come next)."""
    if request.method != "POST":
        return _purposes_page(request)
    brand = _console(request).brand
    form = PurposeCreateForm(request.POST)
    if not form.is_valid():
        return _purposes_page(request, form=form, status=400)
    if purpose_of(brand=brand, slug=form.cleaned_data["slug"]) is not None:
        form.add_error("slug", _("The brand already has a purpose with this slug."))
        return _purposes_page(request, form=form, status=422)
    try:
        created = purpose_create(brand=brand, actor=_actor(request), **form.purpose_fields())
    except ApplicationError as refused:
        _refused_into(form, refused)
        return _purposes_page(request, form=form, status=refused.status)
    messages.success(request, _("Purpose “%(name)s” added. Now write its notice.") % {"name": created.name})
    return HttpResponseRedirect(reverse("console:purpose", args=[brand.slug, created.slug]))


def _purpose_page(
    request: HttpRequest, found: Any, *, form: PurposeForm | None = None, status: int = 200
) -> HttpResponse:
    form = form or PurposeForm(initial=PurposeForm.initial_of(found))
    current: dict[str, Any] = {}
    for version in found.notice.versions.order_by("language", "-version"):
        current.setdefault(version.language, version)
    context = {
        "purpose": found,
        "form": form,
        "errors": _summary(form),
        "languages": [(code, name, current.get(code)) for code, name in _languages()],
        "may_edit": _may_edit(request),
    }
    return render(request, "console/catalogue/purpose.html", context, status=status)


@brand_page(read=LOOKERS, actions={"save": EDITORS})
def purpose(request: HttpRequest, brand_slug: str, purpose_slug: str) -> HttpResponse:
    """One purpose: its fields, and its notice in each language."""
    brand = _console(request).brand
    found = purpose_of(brand=brand, slug=purpose_slug)
    if found is None:
        return refusal(request, 404, _console(request))
    if request.method != "POST":
        return _purpose_page(request, found)
    form = PurposeForm(request.POST)
    if not form.is_valid():
        return _purpose_page(request, found, form=form, status=400)
    try:
        purpose_update(purpose=found, actor=_actor(request), **form.purpose_fields())
    except ApplicationError as refused:
        _refused_into(form, refused)
        return _purpose_page(request, found, form=form, status=refused.status)
    messages.success(request, _("Purpose saved."))
    return HttpResponseRedirect(reverse("console:purpose", args=[brand.slug, found.slug]))


def _chosen_version(request: HttpRequest, versions: list[Any]) -> Any:
    """The version ?version=N names (the newest without one, or when it names none)."""
    wanted = request.GET.get("version", "")
    for version in versions:
        if str(version.version) == wanted:
            return version
    return versions[0] if versions else None


def _notice_page(
    request: HttpRequest, found: Any, language: str, *, form: NoticeForm | None = None, status: int = 200
) -> HttpResponse:
    brand = _console(request).brand
    versions = notice_versions_in(purpose=found, language=language)
    counts = consented_per_version(brand=brand, version_ids=[v.pk for v in versions])
    shown = _chosen_version(request, versions)
    previous = next((v for v in versions if shown is not None and v.version == shown.version - 1), None)
    if form is None:
        form = NoticeForm(
            initial={"title": versions[0].title, "text": versions[0].text} if versions else None
        )
    context = {
        "purpose": found,
        "language": language,
        "language_name": dict(_languages())[language],
        "versions": [(v, counts[v.pk]) for v in versions],
        "shown": shown,
        "previous": previous,
        "title_diff": text_diff(previous.title, shown.title) if shown and previous else [],
        "text_diff": text_diff(previous.text, shown.text) if shown and previous else [],
        "shown_count": counts.get(shown.pk, 0) if shown else 0,
        "previous_count": counts.get(previous.pk, 0) if previous else 0,
        "form": form,
        "errors": _summary(form),
        "may_edit": _may_edit(request),
    }
    return render(request, "console/catalogue/notice.html", context, status=status)


@brand_page(read=LOOKERS, actions={"publish": EDITORS})
def notice(request: HttpRequest, brand_slug: str, purpose_slug: str, language: str) -> HttpResponse:
    """A purpose's notice in one language: its versions with how many contacts consented under
    each, a version against the one before, and new text (a new version; the same text none)."""
    brand = _console(request).brand
    found = purpose_of(brand=brand, slug=purpose_slug)
    if found is None or language not in dict(_languages()):
        return refusal(request, 404, _console(request))
    if request.method != "POST":
        return _notice_page(request, found, language)
    form = NoticeForm(request.POST)
    if not form.is_valid():
        return _notice_page(request, found, language, form=form, status=400)
    try:
        version, published = notice_text_set(
            purpose=found, actor=_actor(request), language=language, **form.cleaned_data
        )
    except ApplicationError as refused:
        _refused_into(form, refused)
        return _notice_page(request, found, language, form=form, status=refused.status)
    if published:
        messages.success(request, _("Version %(version)s published.") % {"version": version.version})
    else:
        messages.success(
            request,
            _("The text is the same as version %(version)s: nothing new was published.")
            % {"version": version.version},
        )
    url = reverse("console:notice", args=[brand.slug, found.slug, language])
    return HttpResponseRedirect(f"{url}?version={version.version}")


# --- The theme ---------------------------------------------------------------------------


def _preview(saved: dict[str, Any], typed: Any) -> dict[str, Any]:
    """What the preview shows: each value as typed where it is usable, as saved otherwise."""
    values = dict(saved)
    if typed is not None:
        values.update({name: str(typed.get(name, "")).strip() for name in saved})
    colour = values["primary_colour"].lower()
    if not HEX_COLOUR.match(colour):
        colour = saved["primary_colour"]
    typeface = values["typeface"] if values["typeface"] in FONT_STACKS else saved["typeface"]
    return {
        "name": values["name"] or saved["name"],
        "colour": colour,
        "typeface": typeface,
        "logo_url": values["logo_url"],
        "privacy_policy_url": values["privacy_policy_url"],
    }


def _theme_page(request: HttpRequest, *, form: ThemeForm | None = None, status: int = 200) -> HttpResponse:
    brand = _console(request).brand
    saved = ThemeForm.initial_of(brand)
    form = form or ThemeForm(initial=saved)
    fragment = getattr(request, "htmx", False) and request.POST.get("action") == "preview"
    origin = logo_origin(brand)
    context = {
        "form": form,
        "errors": _summary(form),
        "preview": _preview(saved, form.data if form.is_bound else None),
        "may_edit": _may_edit(request),
        # The saved logo, loaded as the hosted page loads it: a typed one would need the page's
        # CSP to change under an htmx swap, so it shows once saved.
        "logo": brand.logo_url if origin else "",
    }
    template = "console/catalogue/_theme_preview.html" if fragment else "console/catalogue/theme.html"
    response = render(request, template, context, status=status)
    response.console_img_origin = origin  # type: ignore[attr-defined]  # console.middleware
    return response


@brand_page(read=LOOKERS, actions={"save": EDITORS, "preview": EDITORS})
def theme(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The hosted page's theme with a preview of the centre; a colour below WCAG AA contrast on
    white is refused."""
    if request.method != "POST":
        return _theme_page(request)
    form = ThemeForm(request.POST)
    valid = form.is_valid()
    if request.POST["action"] == "preview":
        # htmx swaps only a 2xx answer: the live preview follows even a half-typed form.
        live = bool(getattr(request, "htmx", False))
        return _theme_page(request, form=form, status=200 if valid or live else 400)
    if not valid:
        return _theme_page(request, form=form, status=400)
    brand = _console(request).brand
    try:
        brand_update(brand=brand, actor=_actor(request), **form.cleaned_data)
    except ApplicationError as refused:
        _refused_into(form, refused)
        return _theme_page(request, form=form, status=refused.status)
    messages.success(request, _("Theme saved."))
    return HttpResponseRedirect(reverse("console:theme", args=[brand.slug]))


@brand_page(read=LOOKERS)
def theme_preview_css(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The preview's colours and typeface as CSS custom properties (a stylesheet: the console's
    CSP allows no inline style): those the query gives, typed but not saved, else the brand's."""
    brand = _console(request).brand
    given = request.GET or {"colour": brand.primary_colour, "typeface": brand.typeface}
    query = PreviewStyleForm(given)
    if not query.is_valid():
        return HttpResponse(
            "/* Give colour=#rrggbb and a typeface. */\n", status=400, content_type="text/css; charset=utf-8"
        )
    palette = brand_palette(query.cleaned_data["colour"])
    font = FONT_STACKS[query.cleaned_data["typeface"]]
    css = (
        f".theme-preview {{ --preview-brand: {palette['brand']}; --preview-on-brand: {palette['on_brand']}; "
        f"--preview-ink: {palette['ink']}; --preview-font: {font}; }}\n"
    )
    return HttpResponse(css, content_type="text/css; charset=utf-8")
