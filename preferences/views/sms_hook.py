"""POST /hooks/twilio/{brand}/sms: Twilio's incoming-message webhook (a signed server-to-server
call, so no CSRF token; rate-limited per sending IP). See preferences.sms."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.throttle import throttle_count
from preferences.models import TwilioAccount
from preferences.sms import InboundText, inbound_text_handle, token_decrypt, twilio_signature_valid

TWIML = "text/xml; charset=utf-8"


def _refused() -> HttpResponse:
    return HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def twilio_sms(request: HttpRequest, brand_slug: str) -> HttpResponse:
    retry_after = throttle_count(
        scope="sms-hook", ident=str(request.META.get("REMOTE_ADDR") or "unknown"), rate=settings.SMS_HOOK_RATE
    )
    if retry_after is not None:
        response = HttpResponse("Too many requests\n", status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(retry_after)
        return response
    account = TwilioAccount.objects.select_related("brand").filter(brand__slug=brand_slug).first()
    signature = request.headers.get("X-Twilio-Signature", "")
    if account is None or not signature or request.content_type != "application/x-www-form-urlencoded":
        return _refused()
    # The URL Twilio was given: the public base URL, not whatever Host the proxy passed on.
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    params = [(name, value) for name, values in request.POST.lists() for value in values]
    if not twilio_signature_valid(
        url=url, params=params, auth_token=token_decrypt(account.auth_token_encrypted), signature=signature
    ):
        return _refused()
    if request.POST.get("AccountSid") != account.account_sid or not request.POST.get("MessageSid"):
        return _refused()
    text = InboundText(
        message_sid=request.POST["MessageSid"][:64],
        sender=request.POST.get("From", ""),
        to=request.POST.get("To", "")[:32],
        body=request.POST.get("Body", "")[:1600],
        received_at=timezone.now(),
    )
    return HttpResponse(inbound_text_handle(brand=account.brand, text=text), content_type=TWIML)
