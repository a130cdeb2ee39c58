"""Quizzes through the API: the brand's quizzes as JSON documents (export and import), their
publish checks, publishing and archiving, the funnel, and quiz tokens for contacts.

Quizzes are configuration, so their writes need the `admin` scope as the configuration API's
do, and so do their reads: a draft is unpublished work and the funnel is the brand's business
figures, neither for a key that only reads consent. A quiz token needs `consent:write` alone:
it lets the brand's site link a person's answers, and the consent they give in the quiz, to a
contact, which is what a sign-up through `POST …/signup` does with that scope.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from brands.api import BrandApiView
from brands.idempotency import idempotent
from brands.models import Scope
from config.api import ERRORS, IDEMPOTENCY_KEY, decode_cursor, keyset_page, parse_limit
from config.errors import ApplicationError, Conflict, NotFound, Unprocessable
from config.serializers import StrictSerializer
from consent import selectors as consent_selectors
from quizzes import selectors, services
from quizzes.document import schema
from quizzes.models import Quiz, QuizStatus
from quizzes.tokens import quiz_token_issue

ADMIN = {Scope.ADMIN.value}
TAGS = ["Quizzes"]
SCHEMA_MEDIA_TYPE = "application/schema+json"
MAX_VERSION = 2**31 - 1  # QuizVersion.number is a PositiveIntegerField
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class PreconditionFailed(ApplicationError):
    status = 412
    code = "precondition-failed"
    title = "Precondition failed"


def document_etag(document: Any) -> str:
    """A strong ETag of a document's content: equal JSON, equal tag, however its keys are ordered
    (PostgreSQL's jsonb keeps them in its own order)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


def if_match_holds(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.1: `*`, or one of the listed tags by strong comparison (a weak tag never
    matches)."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags


# --- Serializers -----------------------------------------------------------------------------


class QuizOut(serializers.Serializer):
    public_id = serializers.CharField(help_text="qz_…; the quiz page is /q/{public_id}/")
    title = serializers.CharField(help_text="The draft's title in its language")
    status = serializers.ChoiceField(
        choices=QuizStatus.values,
        help_text="draft (never published), published (a live version answers), archived",
    )
    version = serializers.SerializerMethodField(help_text="The live version's number; null before publishing")
    draft_updated_at = serializers.DateTimeField(help_text="When the draft last changed (UTC)")

    def get_version(self, quiz: Quiz) -> int | None:
        return quiz.live_version.number if quiz.live_version is not None else None


class QuizListOut(serializers.Serializer):
    quizzes = QuizOut(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page")


class QuizDocument(serializers.Serializer):
    """The quiz document's outline, for the OpenAPI schema only: GET /api/v1/quizzes/schema
    serves the JSON Schema that is checked."""

    format = serializers.IntegerField(min_value=1, max_value=1, help_text="Always 1")
    language = serializers.ChoiceField(choices=["en", "de", "fr"], help_text="The quiz's own language")
    title = serializers.DictField(child=serializers.CharField(), help_text="Language → text")
    questions = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=100,
        help_text="Questions in order: id, type, purpose, text, options… (see the JSON Schema)",
    )
    rules = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Branching: from, when, to, outcome"
    )
    outcomes = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="id, title, text, link, link_label"
    )


class ProblemOut(serializers.Serializer):
    pointer = serializers.CharField(help_text="A JSON pointer into the draft, e.g. /questions/2/options")
    message = serializers.CharField()


class ProblemsOut(serializers.Serializer):
    quiz = serializers.CharField()
    publishable = serializers.BooleanField(help_text="True when `problems` is empty")
    problems = ProblemOut(many=True)


class PublishOut(serializers.Serializer):
    quiz = serializers.CharField()
    version = serializers.IntegerField(help_text="The live version's number")
    published_at = serializers.DateTimeField()


class QuestionStepOut(serializers.Serializer):
    key = serializers.CharField(help_text="The question's id in the document")
    answered = serializers.IntegerField()
    drop_off = serializers.IntegerField(
        help_text="The step before (`started`, or the previous question) minus `answered`; with "
        "branching, people a rule sent past the question count here too, so it may be negative"
    )
    drop_off_rate = serializers.FloatField(allow_null=True, help_text="drop_off / the step before")


class OutcomeShareOut(serializers.Serializer):
    outcome = serializers.CharField(source="key")
    count = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="Of the completed runs")


class OptInShareOut(serializers.Serializer):
    purpose = serializers.CharField(source="key")
    count = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="Of the completed runs")


class FunnelOut(serializers.Serializer):
    quiz = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="null: never published")
    # `from` is a Python keyword: the fields are renamed in to_representation.
    since = serializers.DateField(allow_null=True, help_text="First day counted (UTC); null: the first")
    until = serializers.DateField(allow_null=True, help_text="Last day counted (UTC); null: today")
    viewed = serializers.IntegerField()
    started = serializers.IntegerField()
    completed = serializers.IntegerField()
    start_rate = serializers.FloatField(allow_null=True, help_text="started / viewed")
    completion_rate = serializers.FloatField(allow_null=True, help_text="completed / started")
    questions = QuestionStepOut(many=True)
    outcomes = OutcomeShareOut(many=True)
    opt_ins = OptInShareOut(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        return {
            ("from" if key == "since" else "to" if key == "until" else key): value
            for key, value in data.items()
        }


class QuizTokenIn(StrictSerializer):
    quiz = serializers.CharField(
        required=False, max_length=32, help_text="A quiz's public id: the token then works for it alone"
    )


class QuizTokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="Pass to the embed (`data-token`); never log it")
    expires_at = serializers.DateTimeField(help_text="UTC; QUIZ_TOKEN_SECONDS after minting")


# --- Helpers ---------------------------------------------------------------------------------

ETAG = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=[200, 201], description="The draft's entity tag"
)
LOCATION = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[201], description="/api/v1/quizzes/{public_id}"
)
CURSOR = OpenApiParameter("cursor", str, description="next_cursor of the previous page")
LIMIT = OpenApiParameter("limit", int, description="1–500, default 50")
CONFLICT = OpenApiResponse(OpenApiTypes.OBJECT, description="The quiz is archived.")


def _document_body(request: Request) -> Any:
    if not isinstance(request.data, dict):
        raise ParseError("The request body must be a JSON object: the quiz document.")
    return request.data


def _quiz_out(quiz: Quiz) -> dict[str, Any]:
    return dict(QuizOut(quiz).data)


def _bad_parameter(name: str, message: str) -> ApplicationError:
    """A query parameter that cannot be read: 400 (malformed), naming it in `errors`."""
    return ApplicationError(message, errors={name: [message]})


VERSION_MESSAGE = "version must be a published version's number (1, 2, …)."


def _version_number(raw: str | None, *, bad_request: bool = False) -> int | None:
    """`?version=`: None when absent. Malformed is 422 on the document's GET (as it always was)
    and 400 on the funnel's, where every bad query parameter is a 400."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_VERSION:
        if bad_request:
            raise _bad_parameter("version", VERSION_MESSAGE)
        raise Unprocessable.for_field("version", VERSION_MESSAGE)
    return int(raw)


def _day(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if not DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad_parameter(name, f"{name} must be a day, YYYY-MM-DD.") from None


# --- Views -----------------------------------------------------------------------------------


class QuizListApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="quizzes_list",
        summary="List the brand's quizzes",
        tags=TAGS,
        description="The brand's quizzes, oldest first: id, title, status and the live version.",
        parameters=[CURSOR, LIMIT],
        responses={200: QuizListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        cursor = request.query_params.get("cursor")
        limit = parse_limit(request.query_params.get("limit"))
        rows = selectors.quizzes_list(
            brand=self.principal().brand, after_id=decode_cursor(cursor) if cursor else 0, limit=limit
        )
        page, following = keyset_page(rows, limit)
        body = {"quizzes": page, "next_cursor": following}
        return Response(QuizListOut(body).data)

    @extend_schema(
        operation_id="quizzes_create",
        summary="Create a quiz from a document",
        tags=TAGS,
        description=(
            "A new quiz whose draft is the document (the JSON Schema at `GET /api/v1/quizzes/schema`). "
            "An unfinished draft is fine, one in the wrong shape is not: 422 with `errors` keyed by "
            "JSON pointer into the document (`/questions/1/scale`). Nothing is published yet. "
            "Answers 201 with `Location` and the draft's `ETag`."
        ),
        request=QuizDocument,
        responses={201: QuizOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY, ETAG, LOCATION],
    )
    def post(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            document = _document_body(request)
            quiz = services.quiz_create(brand=brand, actor=self.audit_actor(), document=document)
            return Response(
                _quiz_out(quiz),
                status=status.HTTP_201_CREATED,
                headers={"Location": f"/api/v1/quizzes/{quiz.public_id}", "ETag": document_etag(quiz.draft)},
            )

        response = idempotent(request, brand, handle)
        if response.status_code == status.HTTP_201_CREATED and "Location" not in response:
            # A replay: the stored body names the quiz the first request created.
            quiz = selectors.quiz_get(brand=brand, public_id=response.data["public_id"])
            response["Location"] = f"/api/v1/quizzes/{quiz.public_id}"
            response["ETag"] = document_etag(quiz.draft)
        return response


class QuizSchemaApi(BrandApiView):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        operation_id="quizzes_schema",
        summary="The quiz document's JSON Schema",
        tags=TAGS,
        description=(
            "The JSON Schema (draft 2020-12) every draft is checked against, as "
            "`application/schema+json`: point an editor or a CI check at it to validate quizzes "
            "kept in version control. Publishing checks more (see `…/{public_id}/problems`)."
        ),
        responses={(200, SCHEMA_MEDIA_TYPE): OpenApiTypes.OBJECT, **ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(json.dumps(schema()), content_type=SCHEMA_MEDIA_TYPE)


VERSION = OpenApiParameter(
    "version", int, description="A published version's number: its frozen document instead of the draft"
)


class QuizApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "PUT": ADMIN}

    @extend_schema(
        operation_id="quizzes_get",
        summary="A quiz as its document",
        tags=TAGS,
        description=(
            "The draft, exactly the document last put (key order aside), with its `ETag`: the same "
            "document `PUT` takes, so a quiz can be exported, kept in version control and imported. "
            "`?version=N` answers a published version's frozen document instead (404 if there is "
            "no such version)."
        ),
        parameters=[VERSION, ETAG],
        responses={200: QuizDocument, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        quiz = selectors.quiz_get(brand=self.principal().brand, public_id=public_id)
        number = _version_number(request.query_params.get("version"))
        if number is None:
            document = quiz.draft
        else:
            document = selectors.quiz_version_get(quiz=quiz, number=number).document
        return Response(document, headers={"ETag": document_etag(document)})

    @extend_schema(
        operation_id="quizzes_update",
        summary="Replace a quiz's draft",
        tags=TAGS,
        description=(
            "Replace the draft with the document. The live version is untouched: people keep "
            "answering it until the next publish. With `If-Match` (the `ETag` of a `GET`), the draft "
            "is replaced only if it has not changed since; otherwise 412 and nothing changes. "
            "A document in the wrong shape is 422 with `errors` keyed by JSON pointer; an archived "
            "quiz is 409. Putting the same document again changes nothing."
        ),
        request=QuizDocument,
        responses={
            200: QuizOut,
            409: CONFLICT,
            412: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`If-Match` names another version of the draft: read it again.",
            ),
            **ERRORS,
        },
        parameters=[IDEMPOTENCY_KEY, ETAG],
    )
    def put(self, request: Request, public_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            document = _document_body(request)
            if_match = request.headers.get("If-Match")
            with transaction.atomic():
                # Locked, so that two writers holding the same ETag cannot both pass.
                quiz = selectors.quiz_get(brand=brand, public_id=public_id, for_update=True)
                if if_match is not None and not if_match_holds(if_match, document_etag(quiz.draft)):
                    raise PreconditionFailed(
                        "The draft has changed since that ETag; read it again and reapply your edit."
                    )
                quiz = services.quiz_draft_save(quiz=quiz, actor=self.audit_actor(), document=document)
            return Response(_quiz_out(quiz), headers={"ETag": document_etag(quiz.draft)})

        return idempotent(request, brand, handle)


class QuizProblemsApi(BrandApiView):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        operation_id="quizzes_problems",
        summary="What stops the draft from being published",
        tags=TAGS,
        description=(
            "Every problem publishing would refuse, each with a JSON `pointer` into the draft and a "
            "`message` for its author: the JSON Schema first; then ids and references, loops, dead "
            "ends and questions no path reaches; then purposes, topics, channels, cadences and notice "
            "versions the brand does not have. Empty (`publishable: true`) when it can be published."
        ),
        responses={200: ProblemsOut, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        quiz = selectors.quiz_get(brand=self.principal().brand, public_id=public_id)
        found = services.publish_problems(quiz=quiz)
        body = {"quiz": quiz.public_id, "publishable": not found, "problems": found}
        return Response(ProblemsOut(body).data)


class QuizPublishApi(BrandApiView):
    required_scopes = {"POST": ADMIN}

    @extend_schema(
        operation_id="quizzes_publish",
        summary="Publish the draft",
        tags=TAGS,
        description=(
            "Freeze the draft as the next version and make it live on `/q/{public_id}/`. People "
            "answering the previous version finish it; their responses keep the version they "
            "answered. A draft equal to the live version publishes nothing and answers that version. "
            "422 lists every problem (`errors`: JSON pointer → messages, as `…/problems` shows them); "
            "409 when the quiz is archived. No body."
        ),
        request=None,
        responses={200: PublishOut, 409: CONFLICT, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, public_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            quiz = selectors.quiz_get(brand=brand, public_id=public_id)
            version = services.quiz_publish(quiz=quiz, actor=self.audit_actor())
            body = {"quiz": quiz.public_id, "version": version.number, "published_at": version.published_at}
            return Response(PublishOut(body).data)

        return idempotent(request, brand, handle)


class QuizArchiveApi(BrandApiView):
    required_scopes = {"POST": ADMIN}

    @extend_schema(
        operation_id="quizzes_archive",
        summary="Archive a quiz",
        tags=TAGS,
        description=(
            "The quiz can no longer be answered, edited or published; its versions, responses and "
            "funnel stay. Archiving an archived quiz changes nothing. No body."
        ),
        request=None,
        responses={200: QuizOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, public_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            quiz = selectors.quiz_get(brand=brand, public_id=public_id)
            archived = services.quiz_archive(quiz=quiz, actor=self.audit_actor())
            return Response(_quiz_out(selectors.quiz_get(brand=brand, public_id=archived.public_id)))

        return idempotent(request, brand, handle)


class QuizFunnelApi(BrandApiView):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        operation_id="quizzes_funnel",
        summary="A quiz's funnel",
        tags=TAGS,
        description=(
            "How people went through one version between two days (UTC, both included): how many "
            "`viewed` the quiz, `started` it (answered the first question) and `completed` it; per "
            "question, in the version's order, how many answered it and how many fewer than at the "
            "step before (`drop_off`); how the completed runs were spread over the outcomes; and per "
            "purpose a consent question asks for, how many opted in. Rates are shares rounded to "
            "four places, null when there is nothing to divide by. Counts are anonymous daily "
            "totals, kept whether or not a person finished, so reading them costs the same however "
            "many people answered. A `from`, `to` or `version` that is not a day or a number, or "
            "a `to` before `from`, is 400 naming the parameter in `errors`; a version the quiz "
            "does not have is 404."
        ),
        parameters=[
            OpenApiParameter("from", date, description="First day (YYYY-MM-DD, UTC); default: the first"),
            OpenApiParameter("to", date, description="Last day (YYYY-MM-DD, UTC); default: today"),
            OpenApiParameter("version", int, description="A published version's number; default: live"),
        ],
        responses={200: FunnelOut, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        quiz = selectors.quiz_get(brand=self.principal().brand, public_id=public_id)
        since, until = _day(request, "from"), _day(request, "to")
        if since is not None and until is not None and since > until:
            raise _bad_parameter("to", "to must not be before from.")
        number = _version_number(request.query_params.get("version"), bad_request=True)
        version = selectors.quiz_version_get(quiz=quiz, number=number) if number is not None else None
        funnel = selectors.funnel_get(quiz=quiz, version=version, since=since, until=until)
        return Response(FunnelOut(funnel).data)


class QuizTokenApi(BrandApiView):
    required_scopes = {"POST": {Scope.CONSENT_WRITE.value}}

    @extend_schema(
        operation_id="quiz_tokens_create",
        summary="A quiz token for a contact",
        tags=TAGS,
        description=(
            "A short-lived signed token (QUIZ_TOKEN_SECONDS, 30 minutes by default) that links a "
            "quiz response to this contact: mint it on your server for a signed-in customer and pass "
            "it to the embed. Without one, a quiz stays anonymous until the person enters an email. "
            "With `quiz`, it works for that quiz alone (422 if the brand has no such quiz). 404 for "
            "an unknown contact, 409 for an erased one. Treat it as a secret: it is never logged."
        ),
        request=QuizTokenIn,
        responses={201: QuizTokenOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, external_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            # No body at all reads as an empty object: the token then names no quiz.
            if not isinstance(request.data, dict):
                raise ParseError("The request body must be a JSON object.")
            fields = QuizTokenIn(data=request.data)
            fields.is_valid(raise_exception=True)
            contact = consent_selectors.contact_get(brand=brand, external_id=external_id)
            if contact.erased_at is not None:
                raise Conflict(f"Contact '{external_id}' was erased.")
            quiz = None
            if "quiz" in fields.validated_data:
                try:
                    quiz = selectors.quiz_get(brand=brand, public_id=fields.validated_data["quiz"])
                except NotFound:
                    raise Unprocessable.for_field("quiz", "The brand has no such quiz.") from None
            issued = quiz_token_issue(brand=brand, contact=contact, quiz=quiz)
            body = QuizTokenOut({"token": issued.token, "expires_at": issued.expires_at}).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, brand, handle)
