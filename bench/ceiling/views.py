"""The ceilings: the least a DRF view can do on this server, with this database.

Same middleware, same JSON parser and renderer as the API (the REST_FRAMEWORK
defaults), but no authentication, permission or throttle classes and no service layer.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.ceiling.models import Row


class CeilingApi(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []


class ConstantApi(CeilingApi):
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadOneApi(CeilingApi):
    def get(self, request: Request, pk: int) -> Response:
        row = Row.objects.filter(pk=pk).first()  # one SELECT by primary key
        if row is None:
            return Response({"detail": "not found"}, status=404)
        return Response({"id": row.pk, "value": row.value, "created_at": row.created_at})


class InsertOneApi(CeilingApi):
    def post(self, request: Request) -> Response:
        value = str(request.data.get("value", "")) if isinstance(request.data, dict) else ""
        row = Row.objects.create(value=value[:100])  # one INSERT, autocommit
        return Response({"id": row.pk, "value": row.value, "created_at": row.created_at}, status=201)
