"""Creating and editing a webhook through the form.

The form becomes the API's ``WebhookIn`` / ``WebhookPatch`` and goes to the webhook service;
its field errors come back next to their fields with the API's messages, in a form that keeps
what was typed (400). When the service stopped at the field rules, the URL is put through the
service's SSRF check as well, so that every wrong field is named at once.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.domain.tenants import Permission
from hookline.domain.webhooks import Webhook, check_fields
from hookline.errors import FieldError, HooklineError, UrlNotAllowed, ValidationFailed
from hookline.services.access import require
from hookline.ui.access import Visitor, posted_form, redirect, visitor
from hookline.ui.forms import WebhookForm, messages_by_field
from hookline.ui.render import render, services_of
from hookline.ui.session import Flash


async def new_page(request: Request) -> Response:
    """An empty form: all clients, SSL verification on, enabled, unsigned."""
    who = await visitor(request)
    require(who.principal, Permission.MANAGE)
    return await _form_page(request, WebhookForm(), None, {})


async def create(request: Request) -> Response:
    """Create the webhook, or show the form again with its errors."""
    who = await visitor(request)
    form = WebhookForm.parse(await posted_form(request, who))
    services = services_of(request)
    try:
        problems = form.own_problems()
        if problems:
            raise ValidationFailed(details=problems)
        webhook = await services.webhooks.create(who.principal, form.to_input().to_draft())
    except (ValidationFailed, UrlNotAllowed) as exc:
        errors = await _all_errors(request, form, exc, url_changed=True)
        return await _form_page(request, form, None, errors, 400)
    flash = Flash("success", f"Webhook \u201c{webhook.name}\u201d created.")
    return redirect(request, f"/ui/webhooks/{webhook.id}", flash)


async def edit_page(request: Request) -> Response:
    """The form of a stored webhook (never its secret)."""
    who = await visitor(request)
    require(who.principal, Permission.MANAGE)
    webhook = await _webhook(request, who)
    return await _form_page(request, WebhookForm.of(webhook), webhook, {})


async def update(request: Request) -> Response:
    """Save the changes; an empty secret keeps the stored one."""
    who = await visitor(request)
    form = WebhookForm.parse(await posted_form(request, who))
    webhook = await _webhook(request, who)
    try:
        problems = form.own_problems()
        if problems:
            raise ValidationFailed(details=problems)
        changes = form.to_patch().to_changes()
        saved = await services_of(request).webhooks.update(who.principal, webhook.id, changes)
    except (ValidationFailed, UrlNotAllowed) as exc:
        changed = form.url != webhook.url
        errors = await _all_errors(request, form, exc, url_changed=changed)
        return await _form_page(request, form, webhook, errors, 400)
    flash = Flash("success", f"Webhook \u201c{saved.name}\u201d saved.")
    return redirect(request, f"/ui/webhooks/{saved.id}", flash)


async def _webhook(request: Request, who: Visitor) -> Webhook:
    return await services_of(request).webhooks.get(who.principal, request.path_params["webhook_id"])


async def _all_errors(
    request: Request, form: WebhookForm, exc: HooklineError, *, url_changed: bool
) -> dict[str, str]:
    """The service's field errors, plus those it did not reach yet: the field rules when the
    form stopped first, the URL's SSRF check when the field rules stopped the service."""
    errors = list(exc.details) or [FieldError("form", exc.message)]
    fields = {e.field.split("[", 1)[0] for e in errors}
    if "clientCuids" in fields and len(fields) == 1:
        errors += check_fields(name=form.name, url=form.url, events=tuple(form.events))
        if form.secret:
            errors += check_fields(secret=form.secret)
    fields = {e.field.split("[", 1)[0] for e in errors}
    if url_changed and "url" not in fields and form.url:
        try:
            await services_of(request).webhooks.check_url(form.url)
        except UrlNotAllowed as refused:
            errors.append(FieldError("url", refused.message))
    return messages_by_field(errors)


async def _form_page(
    request: Request,
    form: WebhookForm,
    webhook: Webhook | None,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    """The form, its catalogue checkboxes (plus removed events the webhook still has)."""
    catalogue = await services_of(request).catalog.list_types()
    choices: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "removed": False} for t in catalogue
    ]
    known = {t.name for t in catalogue}
    for name in webhook.events if webhook is not None else ():
        if name not in known:
            choices.append({"name": name, "description": "", "removed": True})
    stored_secret = webhook is not None and webhook.has_secret
    context = {
        "form": form,
        "webhook": webhook,
        "errors": errors,
        "choices": choices,
        "stored_secret": stored_secret,
        "signing_state": form.signing_state(stored_secret),
        "action": f"/ui/webhooks/{webhook.id}/edit" if webhook else "/ui/webhooks/new",
    }
    return render(request, "webhook_form.html", context, status)


ROUTES = [
    Route("/webhooks/new", new_page, methods=["GET"]),
    Route("/webhooks/new", create, methods=["POST"]),
    Route("/webhooks/{webhook_id}/edit", edit_page, methods=["GET"]),
    Route("/webhooks/{webhook_id}/edit", update, methods=["POST"]),
]
