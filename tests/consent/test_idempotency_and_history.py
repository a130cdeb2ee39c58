from __future__ import annotations

from consent.models import ConsentEvent

URL = "/api/v1/contacts/cust-1/consents"


def body(notice_version, decision="granted"):
    return {
        "purpose": "email-marketing",
        "decision": decision,
        "notice_version": notice_version.public_id,
    }


def test_same_key_same_body_replays_first_response(api, contact, purpose, notice_version):
    first = api.post(URL, body(notice_version), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(URL, body(notice_version), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ConsentEvent.objects.count() == 1


def test_same_key_other_body_is_422_and_writes_nothing(api, contact, purpose, notice_version):
    api.post(URL, body(notice_version), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = api.post(URL, body(notice_version, "withdrawn"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["errors"]
    assert ConsentEvent.objects.count() == 1


def test_failed_request_does_not_burn_the_key(api, contact, purpose, notice_version):
    bad = api.post(
        URL, {"purpose": "nope", "decision": "withdrawn"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert bad.status_code == 422
    good = api.post(
        URL, {"purpose": "nope", "decision": "withdrawn"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert good.status_code == 422  # re-executed, not replayed
    assert "Idempotent-Replayed" not in good


def test_keys_are_per_brand(api, outsider_api, contact, other_brand, purpose, notice_version):
    api.post(URL, body(notice_version), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = outsider_api.post(URL, body(notice_version), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 404  # executed for the outsider (no such contact), not replayed


def test_put_contact_is_idempotent(api, brand):
    first = api.put("/api/v1/contacts/new", {"locale": "de"}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = api.put("/api/v1/contacts/new", {"locale": "de"}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert (first.status_code, again.status_code) == (201, 201)


def test_history_pages_oldest_first_with_cursor(api, contact, purpose, notice_version):
    ids = []
    for index in range(5):
        decision = "granted" if index % 2 == 0 else "withdrawn"
        ids.append(api.post(URL, body(notice_version, decision), format="json").json()["event_id"])

    page1 = api.get(f"{URL}/history?limit=2").json()
    assert [e["event_id"] for e in page1["events"]] == ids[:2]
    assert page1["events"][0]["evidence"] == {
        "ip": "",
        "user_agent": "",
        "page_url": "",
        "gpc": None,
        "tc_string": "",
        "gpp_string": "",
        "message": None,
        "erased": False,
    }
    assert page1["events"][0]["recorded_by"] == f"api_key:{api.api_key.prefix}"
    page2 = api.get(f"{URL}/history?limit=2&cursor={page1['next_cursor']}").json()
    page3 = api.get(f"{URL}/history?limit=2&cursor={page2['next_cursor']}").json()
    assert [e["event_id"] for e in page2["events"] + page3["events"]] == ids[2:]
    assert page3["next_cursor"] is None


def test_history_rejects_bad_cursor_and_limit(api, contact):
    for query in ("cursor=garbage", "cursor=YWJj", "limit=0", "limit=501", "limit=ten"):
        response = api.get(f"{URL}/history?{query}")
        assert response.status_code == 422, query
        assert response["Content-Type"] == "application/problem+json"
