import json
import pytest

URL = "/api/v1/contacts/cust-1/consents"

CASES = [
    b"[" * 5000,
    b'{"purpose": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    json.dumps({"purpose": "email-marketing", "decision": "\ud800"}).encode(),
    json.dumps({"\ud800": 1}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "method": "\udfff"}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "evidence": {"ip": "fe80::1%eth0"}}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "evidence": {"ip": "::ffff:1.2.3.4"}}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "occurred_at": "2024-01-01-10:00"}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "occurred_at": "0001-01-01T00:00:00+01:00"}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "occurred_at": "0001-01-01T00:00:00Z"}).encode(),
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "occurred_at": "9999-12-31T23:59:59Z"}).encode(),
    b'{"purpose": NaN, "decision": Infinity}',
    json.dumps({"purpose": "email-marketing", "decision": "withdrawn", "evidence": {"page_url": "http://\ud800.com/"}}).encode(),
]


@pytest.mark.parametrize("body", CASES)
def test_scratch(api, contact, notice_version, body):
    api.raise_request_exception = True
    r = api.post(URL, data=body, content_type="application/json")
    print(body[:80], r.status_code, r.get("Content-Type"), r.content[:300])
