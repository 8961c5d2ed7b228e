"""Canvas-wide conventions the spec deliberately does not declare, judged on each exchange.

``specs/openapi.yaml`` says these are tested separately (``shared/canvas-facts.md``, "Canvas-wide
conventions"): the token as an ``access_token`` query or form parameter, a trailing ``.json`` on
the path, and masquerading with ``as_user_id``. A masquerade that names a user the run knows (its
id learned from show's ``user_id``) is judged as that user by every rule: ``acting()`` says who.
A bad ``as_user_id`` is answered before anything else Canvas checks, with a body the spec does not
declare, so no other rule applies to its 401.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from canvas_ai_harness.canvas import bodies, lifecycle, routes
from canvas_ai_harness.canvas.requests import MalformedRequest, read_params
from canvas_ai_harness.contract.access import MANAGERS, AccessRules
from canvas_ai_harness.contract.client import ANONYMOUS, INVALID, Exchange
from canvas_ai_harness.contract.details import ABSENT, Detail, status_detail
from canvas_ai_harness.contract.ledger import Ledger
from canvas_ai_harness.contract.reading import int_id, snippet
from canvas_ai_harness.contract.verdicts import Verdicts

__all__ = ["MASQUERADER", "UNKNOWN_USER", "ConventionRules", "as_user_id"]

MASQUERADER: Final = "admin"  # the target file's identity that may become other users
UNKNOWN_USER: Final = "9223372036854775003"  # a user id no Canvas has: as_user_id=<it> is refused
_REFUSED_TOKEN: Final = (bodies.UNAUTHENTICATED, bodies.INVALID_TOKEN)


def _params(ex: Exchange) -> dict[str, object]:
    try:
        content_type = next((v for k, v in ex.request_headers.items() if k.lower() == "content-type"), None)
        return read_params(ex.query, content_type, ex.request_body)
    except MalformedRequest:
        return {}


def as_user_id(ex: Exchange) -> str | None:
    """The ``as_user_id`` an exchange sent, if any."""
    value = _params(ex).get("as_user_id")
    return None if value in (None, "") else str(value)


def _token_parameter(ex: Exchange) -> bool:
    """Whether the exchange carried its token only as an ``access_token`` parameter."""
    bearer = any(name.lower() == "authorization" for name in ex.request_headers)
    return not bearer and isinstance(_params(ex).get("access_token"), str)


class ConventionRules:
    """``access_token``, a trailing ``.json``, ``as_user_id``: what Canvas answers each."""

    def __init__(self, access: AccessRules, ledger: Ledger) -> None:
        self.access, self.ledger = access, ledger
        self.user_ids: dict[str, str] = {}  # identity -> its Canvas user id, from show's user_id

    def acting(self, ex: Exchange) -> Exchange:
        """``ex`` as the identity it acts as: a masquerade as a user the run knows is that user."""
        as_user = as_user_id(ex)
        if ex.identity != MASQUERADER or as_user is None:
            return ex
        for identity, user_id in self.user_ids.items():
            if user_id == as_user and identity != ex.identity:
                return dataclasses.replace(ex, identity=identity)
        return ex

    def judge(self, ex: Exchange, acting: Exchange, v: Verdicts) -> bool:
        """Judge the conventions ``ex`` used; True when its answer is theirs alone (no other rule applies)."""
        if ex.identity in (ANONYMOUS, INVALID):
            return False
        if as_user_id(ex) == UNKNOWN_USER:
            v.expect("invalid-as-user-id-401", ex, (401,), bodies.INVALID_AS_USER_ID)
            # Refused: the spec does not declare this 401, so nothing else judges it. Served: Canvas
            # acted as the caller, and every rule (and the ledger) must know what it did.
            return ex.status == 401
        if _token_parameter(ex):
            accepted = not (ex.status == 401 and ex.json() in _REFUSED_TOKEN)
            v.status(
                "access-token-parameter",
                ex,
                accepted,
                f"the answer {ex.identity}'s token gets as a header",
                "not 401 refusing the token",
            )
        if ex.path.endswith(".json") and self.access.course_kind(ex.param("course_id")) == "target":
            routed = not (ex.status == 404 and ex.json() == bodies.ROUTE_NOT_FOUND)
            v.status(
                "trailing-json-accepted", ex, routed, "the answer the path gets without .json", "not the routing 404"
            )
        if acting is not ex:
            self._masquerade(acting, v)
        return False

    def _masquerade(self, ex: Exchange, v: Verdicts) -> None:
        """``ex`` is a masquerade as ``ex.identity``: Canvas must answer as it answers that user."""
        experience = ex.param("ai_experience_id") or ""
        got = f"{ex.status} {snippet(ex)}"
        if ex.operation_id == routes.ACTIVE and self.ledger.knows_active(ex.identity, experience):
            body = ex.json()
            expected = self.ledger.active_id(ex.identity, experience)
            got_id = int_id(body.get("id")) if isinstance(body, dict) else None
            where = status_detail(ex.status, (200,)) if ex.status != 200 else None
            if where is None:
                where = Detail("$.id", expected, body.get("id", ABSENT) if isinstance(body, dict) else ABSENT)
            ok = ex.status == 200 and got_id == expected
            v.judge("masquerade-acts-as-user", ok, got, f"{ex.identity}'s: {expected}", where)
            return
        cid = int_id(ex.param("id"))
        record = self.ledger.get(cid) if cid is not None else None
        if ex.operation_id != routes.SHOW or record is None:
            return
        refused = lifecycle.refusal(
            routes.SHOW,
            same_experience=record.experience_id == experience,
            manager=ex.identity in MANAGERS,
            own=record.owner == ex.identity,
            active=record.active,
        )
        if refused is None:
            v.status("masquerade-acts-as-user", ex, ex.status == 200, f"200, as {ex.identity} is answered", "200")
        else:
            v.expect("masquerade-acts-as-user", ex, (refused.status,), refused.body, note=f" (as {ex.identity})")

    def learn(self, ex: Exchange) -> None:
        """Learn whose each user id is from show's ``user_id`` (the owner the ledger knows)."""
        body = ex.json()
        if ex.operation_id != routes.SHOW or ex.status != 200 or not isinstance(body, dict):
            return
        cid = int_id(ex.param("id"))
        record = self.ledger.get(cid) if cid is not None else None
        if record is not None and body.get("user_id") is not None:
            self.user_ids.setdefault(record.owner, str(body["user_id"]))
