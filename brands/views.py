from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from brands.keys import public_jwks
from brands.models import Brand


@require_GET
def jwks(request: HttpRequest, brand_slug: str) -> JsonResponse:
    """Public keys that verify the brand's signed consent receipts."""
    brand = Brand.objects.filter(slug=brand_slug).first()
    if brand is None:
        raise Http404
    response = JsonResponse(public_jwks(brand))
    response["Cache-Control"] = "public, max-age=3600"
    return response
