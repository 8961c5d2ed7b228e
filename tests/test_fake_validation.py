"""The fake checks every request against the spec and fails the test with what was wrong."""

from __future__ import annotations

import pytest
import requests

from canvas_ai_harness.fake import FakeCanvas, NonConformingRequest


def _auth(fake: FakeCanvas) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.tokens.student}"}


@pytest.fixture
def conversation(canvas_fake: FakeCanvas) -> str:
    """The URL of the student's new conversation."""
    body = canvas_fake.start_conversation()
    return f"{canvas_fake.conversations_url()}/{body['id']}"


def test_json_without_content_type_fails_with_what_the_spec_expects(canvas_fake: FakeCanvas, conversation: str) -> None:
    with pytest.raises(NonConformingRequest) as raised:
        requests.post(f"{conversation}/messages", headers=_auth(canvas_fake), data=b'{"message": "hi"}')
    message = str(raised.value)
    assert "does not conform to specs/openapi.yaml" in message
    assert "a JSON body was sent without Content-Type" in message
    assert "The spec expects: POST /api/v1/courses/{course_id}/ai_experiences/" in message
    assert "/conversations/{id}/messages (postMessage" in message
    assert "application/json or application/x-www-form-urlencoded" in message
    assert [v.kind for v in raised.value.violations] == ["content-type"]


def test_missing_message_fails(canvas_fake: FakeCanvas, conversation: str) -> None:
    with pytest.raises(NonConformingRequest, match='the body has no "message"; the spec requires "message"'):
        requests.post(f"{conversation}/messages", headers=_auth(canvas_fake), json={"text": "hi"})


def test_blank_message_fails(canvas_fake: FakeCanvas, conversation: str) -> None:
    with pytest.raises(NonConformingRequest, match=r"body\.message"):
        requests.post(f"{conversation}/messages", headers=_auth(canvas_fake), json={"message": "  "})


def test_missing_token_fails(canvas_fake: FakeCanvas) -> None:
    with pytest.raises(NonConformingRequest, match=r"header\.Authorization: no token"):
        requests.get(canvas_fake.conversations_url())


def test_wrong_method_fails_naming_the_allowed_ones(canvas_fake: FakeCanvas, conversation: str) -> None:
    with pytest.raises(NonConformingRequest, match=r"PATCH is not an operation of .*allowed: DELETE, GET"):
        requests.patch(conversation, headers=_auth(canvas_fake))


def test_bad_id_fails(canvas_fake: FakeCanvas) -> None:
    with pytest.raises(NonConformingRequest, match=r'path\.id: id is "None" in the path; the spec requires an integer'):
        requests.delete(f"{canvas_fake.conversations_url()}/None", headers=_auth(canvas_fake))


def test_unknown_route_is_a_connection_error_listing_the_known_routes(canvas_fake: FakeCanvas) -> None:
    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(f"{canvas_fake.base_url}/api/v1/users/self/profile", headers=_auth(canvas_fake))
    message = str(raised.value)
    assert "FakeCanvas does not know GET https://canvas.example.edu/api/v1/users/self/profile" in message
    assert message.count("/conversations") == 5 and "DELETE /api/v1/courses/{course_id}" in message


def test_a_refused_request_is_recorded_and_changes_nothing(canvas_fake: FakeCanvas, conversation: str) -> None:
    with pytest.raises(NonConformingRequest):
        requests.post(f"{conversation}/messages", headers=_auth(canvas_fake), json={})
    [call] = canvas_fake.calls
    assert call.status is None and not call.conforming and call.operation_id == "postMessage"
    assert len(canvas_fake.service.store.get(1).messages) == 2  # type: ignore[union-attr]


@pytest.mark.canvas_fake(check_requests=False)
def test_without_checks_canvas_answers_and_violations_are_kept(canvas_fake: FakeCanvas) -> None:
    response = requests.put(canvas_fake.conversations_url(), headers=_auth(canvas_fake))
    assert response.status_code == 404  # Canvas's routing 404
    assert response.json() == {"errors": [{"message": "The specified resource does not exist."}]}
    [call] = canvas_fake.calls.non_conforming
    assert call.violations[0].kind == "method"
    with pytest.raises(AssertionError, match=r"1 request\(s\) did not conform"):
        canvas_fake.calls.assert_conforming()


def test_a_token_in_the_url_is_redacted_from_the_failure(canvas_fake: FakeCanvas) -> None:
    with pytest.raises(NonConformingRequest) as raised:
        requests.patch(f"{canvas_fake.conversations_url()}?access_token={canvas_fake.tokens.student}")
    assert canvas_fake.tokens.student not in str(raised.value)


def test_answers_conform_to_the_spec_including_string_ids(canvas_fake: FakeCanvas) -> None:
    headers = {**_auth(canvas_fake), "Accept": "application/json+canvas-string-ids, application/json"}
    created = requests.post(canvas_fake.conversations_url(), headers=headers).json()
    assert created["id"] == "1"
    requests.get(canvas_fake.conversations_url(), headers=headers)
    assert all(not call.response_violations for call in canvas_fake.calls)
