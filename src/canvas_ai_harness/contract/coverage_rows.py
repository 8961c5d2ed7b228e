"""The rows of the coverage table (``coverage.py``): each documented rule and its checks.

A row's ``quote`` is copied from the bullet, table row or sentence it stands for, so that
``tests/test_coverage.py`` can find it there: every bullet, numbered item and table row of
``shared/canvas-facts.md`` and every quirk, operation, parameter, security scheme, header and
response of ``specs/openapi.yaml`` has a row. Add the row when the documents gain a rule.
"""

from __future__ import annotations

from typing import Final

from canvas_ai_harness.contract.coverage import FACTS, SPEC, Rule

__all__ = ["RULES"]

_TOP = "Canvas AI Conversations: how the real API behaves"
_ROUTES = "The five routes (prefix `/api/v1`)"
_BODIES = "Bodies"
_LIFECYCLE = "Lifecycle rules"
_VISIBILITY = "Visibility and authorization (checked in this order; the first failure answers)"
_INPUT = "post_message input"
_AI = "Failures of the AI service"
_CONVENTIONS = "Canvas-wide conventions the mock must reproduce"
_CLIENTS = "Third-party code that calls these routes"

# Why some behaviours cannot be provoked on a live Canvas.
_AI_FAILS = "a live Canvas's AI service cannot be made to fail on demand; the check judges every 503 the run meets"
_NULL_ID = (
    "only when Canvas's AI service returns no conversation id, which a live Canvas cannot be made to do; "
    "the checks accept a null id on create"
)
_DAILY = (
    "reaching it takes 100 creates or 1000 messages by one user in a day, far over the suite's AI-call budget; "
    "a 429 rate_limited the run meets is judged by the spec's schema and stops that scenario"
)
_THROTTLE = (
    "overflowing a user's leaky bucket (capacity 800, 10/s) takes a burst of requests: the load suite's job "
    "(`canvas-ai-harness load` counts it as throttling); the contract suite slows down and retries, never fails on it"
)
_TOLERANCE = "a tolerance, not a rule: Canvas may accept or refuse it, so no check may fail on it"
_CLIENT_SIDE = "describes clients and the spec's history, not what Canvas answers"

_F: Final = FACTS
_S: Final = SPEC
# fmt: off
RULES: Final[tuple[Rule, ...]] = (
    # -- canvas-facts.md: the profiles ---------------------------------------------------------
    Rule("profile-closed-state", _F, _TOP, "state after DELETE / after a new create",
         "a closed conversation's state is completed (profile ended: ended)", ("profile-closed-state",)),
    Rule("profile-destroy-body", _F, _TOP, "DELETE body",
         "destroy answers the profile's message", ("profile-destroy-message",)),
    Rule("profile-message-limit", _F, _TOP, "message longer than 4000 characters",
         "over 4000 characters: accepted (profile ended: 422 with its body)", ("profile-message-limit",)),
    Rule("profile-daily-limits", _F, _TOP, "per-user daily limits (create 100, post_message 1000)",
         "profile ended: 429 rate_limited after 100 creates or 1000 messages a day", (), _DAILY),
    Rule("profile-503-body", _F, _TOP, "503 body (AI service failure)",
         "a 503's body is {error} (profile ended: {error, code, retryable, reference_id})",
         ("no-server-error", "body-matches-schema"), _AI_FAILS),
    Rule("profile-show-body", _F, _TOP, "show body",
         "show adds all_objectives_met in profile ended only", ("profile-show-fields",)),
    Rule("profile-messages", _F, _TOP, 'plus `"feedback": []` except on create',
         "messages are {role, text} (profile ended: {id, role, text} plus feedback except on create)",
         ("profile-message-ids",)),
    # -- canvas-facts.md: the five routes ------------------------------------------------------
    Rule("route-active", _F, _ROUTES, "| active_conversation |",
         "GET conversations: 200 with the caller's active conversation, or {}",
         ("active-returns-own-active", "active-empty-after-end")),
    Rule("route-create", _F, _ROUTES, "| create | **201**", "POST conversations: 201 {id, messages, progress}",
         ("create-answers-201",)),
    Rule("route-show", _F, _ROUTES, "| show | 200 (teachers only)", "GET conversations/:id: 200, teachers only",
         ("teacher-reaches-any-conversation", "show-by-student-403")),
    Rule("route-post-message", _F, _ROUTES, "| post_message |",
         "POST conversations/:id/messages: 200 {id, messages, progress}",
         ("non-blank-message-accepted", "transcript-appends-user-and-assistant")),
    Rule("route-destroy", _F, _ROUTES, "| destroy |", "DELETE conversations/:id: 200 with the profile's message",
         ("profile-destroy-message", "destroy-closes")),
    Rule("route-newer", _F, _ROUTES, "they are outside this harness's five",
         "newer Canvas adds evaluation and feedback routes", (), "outside the five routes this harness tests"),
    # -- canvas-facts.md: bodies ----------------------------------------------------------------
    Rule("body-id-integer", _F, _BODIES, "`id`: integer conversation id (64-bit)",
         "a conversation id is a 64-bit integer", ("integer-ids", "body-matches-schema")),
    Rule("body-id-null-on-create", _F, _BODIES, "On create, `id` is `null` when the AI service returned",
         "create's id is null when the AI service gave no id (nothing saved)", (), _NULL_ID),
    Rule("body-whole-transcript", _F, _BODIES, "`messages`: the **whole transcript**, oldest first, every time",
         "messages is the whole transcript, oldest first; roles User and Assistant, no system role",
         ("earlier-messages-unchanged", "body-matches-schema")),
    Rule("body-new-transcript", _F, _BODIES, "A new conversation's transcript is",
         "a new transcript is [User: hidden prompt, Assistant: first question]", ("new-transcript-user-assistant",)),
    Rule("body-turn-appends-two", _F, _BODIES, "Each successful post_message appends exactly two messages",
         "each post_message appends the user's text, then the reply; earlier messages unchanged",
         ("transcript-appends-user-and-assistant", "earlier-messages-unchanged", "user-text-unchanged",
          "assistant-text-non-empty")),
    Rule("body-progress", _F, _BODIES, "`progress`:",
         "progress is {current, total, percentage, objectives} or null; percentage rounds 100*current/total",
         ("progress-consistent", "body-matches-schema")),
    Rule("body-llm-id-hidden", _F, _BODIES, "is **never** in create, active or post_message responses",
         "llm_conversation_id only in show", ("llm-id-not-leaked",)),
    Rule("body-show-fields", _F, _BODIES, "show returns",
         "show's fields; user_id a string; ISO 8601 UTC timestamps", ("body-matches-schema",)),
    # -- canvas-facts.md: lifecycle -------------------------------------------------------------
    Rule("life-one-active", _F, _LIFECYCLE, "A user has at most one active conversation per experience",
         "create first closes the caller's active conversation", ("create-closes-previous",)),
    Rule("life-503-still-closes", _F, _LIFECYCLE, "so a 503 on create still leaves the old one closed",
         "a create that fails with 503 has still closed the previous conversation", (), _AI_FAILS),
    Rule("life-active-own", _F, _LIFECYCLE, "active_conversation returns the caller's own active conversation only",
         "active answers the caller's own conversation; a teacher's own preview, never a student's",
         ("active-returns-own-active",)),
    Rule("life-closed-404", _F, _LIFECYCLE, "post_message and destroy find the conversation through the same",
         "a student's completed conversation is 404 for post_message, destroy and show",
         ("closed-conversation-404",)),
    Rule("life-destroy-closes", _F, _LIFECYCLE, "destroy does not delete",
         "destroy closes without deleting; a teacher can still show it",
         ("destroy-closes", "teacher-reaches-any-conversation", "profile-closed-state")),
    # -- canvas-facts.md: visibility and authorization -----------------------------------------
    Rule("auth-order", _F, _VISIBILITY, "checked in this order; the first failure answers",
         "the first failing step answers (e.g. a flag-off course is 404 even without a token)",
         ("feature-flag-off-404", "unknown-course-404", "invalid-token-401")),
    Rule("auth-invalid-token", _F, _VISIBILITY, "An invalid token: **401**",
         "an invalid token: 401 Invalid access token, with WWW-Authenticate", ("invalid-token-401",)),
    Rule("auth-access-token", _F, _VISIBILITY, "(or an `access_token` query/form parameter)",
         "the token may be an access_token query or form parameter", ("access-token-parameter",)),
    Rule("auth-course", _F, _VISIBILITY, "Course (`:course_id`, which also accepts `sis_course_id:<sis id>`)",
         "an unknown or deleted course is Rails's 404; sis_course_id: reaches the same course",
         ("unknown-course-404", "sis-course-id-same-course")),
    Rule("auth-flag-off", _F, _VISIBILITY, "Feature flag `ai_experiences` off for the course",
         "flag off: 404 Resource Not Found, even without a token", ("feature-flag-off-404",)),
    Rule("auth-no-token", _F, _VISIBILITY, "No token at all: **401**",
         "no token: 401 unauthenticated, with WWW-Authenticate", ("no-token-401",)),
    Rule("auth-non-member", _F, _VISIBILITY, "A logged-in user who is not a member of the course: **403**",
         "a non-member: 403 unauthorized (older sites: 401, same body)", ("outsider-403",)),
    Rule("auth-experience", _F, _VISIBILITY, "Experience: unknown, deleted, or in another course",
         "an unknown, deleted or foreign experience: 404 Resource Not Found",
         ("unknown-experience-404", "deleted-experience-404", "other-course-experience-404")),
    Rule("auth-unpublished", _F, _VISIBILITY, "An *unpublished* experience is **not** refused by these routes",
         "an unpublished experience is served", ("unpublished-experience-allowed",)),
    Rule("auth-conversation", _F, _VISIBILITY, "Conversation (show, post_message, destroy): teachers",
         "teachers reach any conversation; others only their own active ones; else 404",
         ("teacher-reaches-any-conversation", "another-students-conversation-404",
          "other-experience-conversation-404", "closed-conversation-404")),
    Rule("auth-show-403", _F, _VISIBILITY, "show only: a non-teacher who passed step 6",
         "show by a student on its own active conversation: 403", ("show-by-student-403",)),
    # -- canvas-facts.md: post_message input ----------------------------------------------------
    Rule("input-encodings", _F, _INPUT, "Parameter `message`, as JSON",
         "message as JSON, form or query string; Canvas merges them",
         ("non-blank-message-accepted", "user-text-unchanged")),
    Rule("input-blank-400", _F, _INPUT, "Missing, empty or whitespace-only `message`: **400**",
         "a missing or blank message: 400 message is required, after the visibility 404", ("blank-message-400",)),
    Rule("input-untyped", _F, _INPUT, "Canvas does not type-check it",
         "a JSON number is accepted as text", (), _TOLERANCE),
    Rule("input-any-length", _F, _INPUT, "Any length is accepted in profile `completed`",
         "any length in profile completed; 422 over 4000 in profile ended",
         ("profile-message-limit", "user-text-unchanged")),
    # -- canvas-facts.md: the AI service --------------------------------------------------------
    Rule("ai-failure-503", _F, _AI, "Every action but destroy turns an AI-service failure into",
         "an AI-service failure is a 503 {error}; destroy never answers 503",
         ("no-server-error", "body-matches-schema"), _AI_FAILS),
    # -- canvas-facts.md: Canvas-wide conventions -----------------------------------------------
    Rule("conv-unrouted-404", _F, _CONVENTIONS, "Unknown routes and unsupported methods on these paths",
         "unknown routes and methods: Rails's routing 404, not 405", ("unrouted-request-404",)),
    Rule("conv-trailing-json", _F, _CONVENTIONS, "A trailing `.json` on the path is accepted",
         "a trailing .json is accepted", ("trailing-json-accepted",)),
    Rule("conv-string-ids", _F, _CONVENTIONS, "`Accept: application/json+canvas-string-ids` turns",
         "string ids on request, recursively", ("string-ids-on-request",)),
    Rule("conv-request-cost", _F, _CONVENTIONS, "every response may carry `X-Request-Cost` (float)",
         "X-Request-Cost and X-Rate-Limit-Remaining are floats as strings", ("headers-conform",)),
    Rule("conv-throttling", _F, _CONVENTIONS, "when a user's leaky bucket",
         "an overflowing bucket: 403 text/plain Rate Limit Exceeded (some docs: 429)", (), _THROTTLE),
    Rule("conv-lowercase-headers", _F, _CONVENTIONS, "Header names arrive lower-case from Canvas",
         "header names arrive lower-case", (), "HTTP header names are case-insensitive: nothing a client may rely on"),
    Rule("conv-masquerade", _F, _CONVENTIONS, "may add `as_user_id=<id>` to act as",
         "a user who may become others acts as as_user_id's user", ("masquerade-acts-as-user",)),
    Rule("conv-bad-as-user-id", _F, _CONVENTIONS, "a bad `as_user_id` answers **401**",
         "a bad as_user_id: 401 {errors: Invalid as_user_id}", ("invalid-as-user-id-401",)),
    Rule("conv-no-csrf", _F, _CONVENTIONS, "Bearer-token requests need no CSRF token",
         "Bearer requests need no CSRF token: every POST of the suite sends none",
         ("create-answers-201", "non-blank-message-accepted")),
    Rule("conv-500-body", _F, _CONVENTIONS, "Unhandled server errors: 500",
         "an unhandled error is 500 with Canvas's body: never a valid answer here", ("no-server-error",)),
    # -- canvas-facts.md: third-party code ------------------------------------------------------
    Rule("client-canvas-ui", _F, _CLIENTS, "Canvas's own UI:",
         "the UI's calls (active, then create on {}, JSON messages, string ids) are answered as documented",
         ("active-empty-after-end", "create-answers-201", "string-ids-on-request")),
    Rule("client-no-python", _F, _CLIENTS, "No public Python client covers these routes",
         "no public Python client; the Swagger 1.2 docs are wrong", (), _CLIENT_SIDE),
    # -- openapi.yaml: info.description -----------------------------------------------------------
    Rule("spec-profiles", _S, "info.description", "This spec covers both behaviour sets",
         "both profiles, as in canvas-facts.md's table",
         ("profile-closed-state", "profile-destroy-message", "profile-message-limit", "profile-show-fields",
          "profile-message-ids")),
    Rule("spec-whole-transcript", _S, "info.description", "`messages` is always the **whole transcript**",
         "the whole transcript; new = [User, Assistant]; each turn appends two",
         ("earlier-messages-unchanged", "new-transcript-user-assistant", "transcript-appends-user-and-assistant")),
    Rule("spec-create-201", _S, "info.description", "create answers **201**, and its `id` is `null`",
         "create answers 201; its id may be null", ("create-answers-201", "integer-ids"), _NULL_ID),
    Rule("spec-llm-id", _S, "info.description", "(`llm_conversation_id`) appears only in show",
         "llm_conversation_id only in show", ("llm-id-not-leaked",)),
    Rule("spec-user-id-string", _S, "info.description", "In show, `user_id` is a **string**",
         "show's user_id is a string", ("body-matches-schema",)),
    Rule("spec-one-active", _S, "info.description", "A user has at most one active conversation per experience",
         "one active conversation; DELETE closes", ("create-closes-previous", "destroy-closes")),
    Rule("spec-visibility", _S, "info.description", "Visibility: teachers reach any conversation",
         "teachers reach any; others their own active ones; else 404, never 403",
         ("teacher-reaches-any-conversation", "another-students-conversation-404", "closed-conversation-404")),
    Rule("spec-two-404s", _S, "info.description", "Two different 404 bodies",
         "Rails's 404 for courses and routes; Resource Not Found for the rest",
         ("unknown-course-404", "unrouted-request-404", "feature-flag-off-404", "unknown-experience-404",
          "deleted-experience-404")),
    Rule("spec-non-members", _S, "info.description", "Non-members get 403",
         "non-members: 403 (older sites 401)", ("outsider-403",)),
    Rule("spec-throttling", _S, "info.description", "Throttling: any response may carry",
         "cost headers on any answer; 403/429 throttling is not a contract error", ("headers-conform",), _THROTTLE),
    Rule("spec-conventions", _S, "info.description", "contract suite tests separately",
         "masquerading, string ids, a trailing .json, Canvas's 500 body",
         ("masquerade-acts-as-user", "invalid-as-user-id-401", "string-ids-on-request", "trailing-json-accepted",
          "no-server-error")),
    # -- openapi.yaml: operations -----------------------------------------------------------------
    Rule("spec-active", _S, "getActiveConversation", "Returns the caller's **own** active conversation",
         "the caller's own active conversation or {}; a teacher's own preview; unpublished served",
         ("active-returns-own-active", "active-empty-after-end", "unpublished-experience-allowed")),
    Rule("spec-create", _S, "createConversation", "Canvas first closes the caller's active conversation",
         "closes the previous one, then answers 201 with [User, Assistant]",
         ("create-closes-previous", "create-answers-201", "new-transcript-user-assistant")),
    Rule("spec-create-503", _S, "createConversation", "so a 503 here still leaves the old conversation closed",
         "a 503 on create still closed the old conversation", (), _AI_FAILS),
    Rule("spec-create-daily", _S, "createConversation", "at most 100 creates per user per day, then 429",
         "profile ended: 100 creates a day", (), _DAILY),
    Rule("spec-show", _S, "getConversation", "Teachers (anyone who may manage assignments in the course)",
         "teachers show any conversation; a student's own active one is 403, others' 404; the only route with "
         "llm_conversation_id, user_id and timestamps",
         ("teacher-reaches-any-conversation", "show-by-student-403", "another-students-conversation-404",
          "llm-id-not-leaked")),
    Rule("spec-destroy", _S, "deleteConversation", "Does **not** delete",
         "closes, a teacher still shows it; a closed one is 404 to its student; never 503",
         ("destroy-closes", "profile-closed-state", "closed-conversation-404", "no-server-error")),
    Rule("spec-post-message", _S, "postMessage", "Appends exactly two messages to the transcript",
         "two messages appended, the whole transcript returned; JSON, form or query; blank is 400",
         ("transcript-appends-user-and-assistant", "earlier-messages-unchanged", "non-blank-message-accepted",
          "blank-message-400", "profile-message-limit")),
    Rule("spec-post-number", _S, "postMessage", "so accepting a non-string is not a contract violation",
         "a JSON number may be accepted", ("negative-data-rejected",), _TOLERANCE),
    Rule("spec-post-daily", _S, "postMessage", "allows at most 1000 messages per user per day",
         "profile ended: 1000 messages a day", (), _DAILY),
    Rule("spec-operations-shapes", _S, "components.schemas", "",
         "every status, content type, header and body of every operation as declared; closed objects",
         ("status-code-declared", "content-type-declared", "headers-conform", "body-matches-schema",
          "negative-data-rejected")),
    Rule("spec-links", _S, "components.links", "",
         "the links chain create, post, show and destroy: stateful sequences follow them",
         ("create-closes-previous", "transcript-appends-user-and-assistant")),
    # -- openapi.yaml: security, parameters, headers, responses ----------------------------------
    Rule("spec-bearer", _S, "components.securitySchemes.bearerAuth", "Bearer requests need no CSRF token",
         "Authorization: Bearer, no CSRF token", ("invalid-token-401", "create-answers-201")),
    Rule("spec-access-token", _S, "components.securitySchemes.accessToken", "access_token",
         "the same token as an access_token query or form parameter", ("access-token-parameter",)),
    Rule("spec-course-id", _S, "components.parameters.course_id", "sis_course_id:<SIS id>",
         "a course id or sis_course_id:; unknown or deleted: Rails's 404",
         ("sis-course-id-same-course", "unknown-course-404")),
    Rule("spec-experience-id", _S, "components.parameters.ai_experience_id", "unpublished is not refused",
         "unknown, deleted or foreign: 404; unpublished served",
         ("unknown-experience-404", "deleted-experience-404", "other-course-experience-404",
          "unpublished-experience-allowed")),
    Rule("spec-conversation-id", _S, "components.parameters.id", "A conversation the caller may not see is a 404",
         "a conversation the caller may not see: 404",
         ("another-students-conversation-404", "other-experience-conversation-404", "closed-conversation-404")),
    Rule("spec-www-authenticate", _S, "components.headers.WWW-Authenticate", "Sent with every 401",
         "WWW-Authenticate on every 401", ("headers-conform", "no-token-401", "invalid-token-401")),
    Rule("spec-request-cost", _S, "components.headers.X-Request-Cost", "a float as a string",
         "X-Request-Cost is a float as a string", ("headers-conform",)),
    Rule("spec-rate-limit-remaining", _S, "components.headers.X-Rate-Limit-Remaining", "a float as a string",
         "X-Rate-Limit-Remaining is a float as a string", ("headers-conform",)),
    Rule("spec-401", _S, "components.responses.Unauthorized401", "Three bodies",
         "invalid token, no token, older sites' non-member; always WWW-Authenticate",
         ("invalid-token-401", "no-token-401", "outsider-403", "body-matches-schema")),
    Rule("spec-403", _S, "components.responses.Forbidden403", "a logged-in user who is not a member of the course",
         "non-members and show by a student: 403 JSON", ("outsider-403", "show-by-student-403")),
    Rule("spec-403-throttled", _S, "components.responses.Forbidden403", "Canvas throttling",
         "403 text/plain: throttling, slow down", (), _THROTTLE),
    Rule("spec-404", _S, "components.responses.NotFound404", "Not found.",
         "which 404 body for what",
         ("unknown-course-404", "unrouted-request-404", "feature-flag-off-404", "unknown-experience-404",
          "another-students-conversation-404", "closed-conversation-404")),
    Rule("spec-429", _S, "components.responses.TooManyRequests429", "Too many requests.",
         "429: profile ended's daily limit, or throttling", (), _DAILY),
    Rule("spec-503", _S, "components.responses.ServiceUnavailable503", "The AI service failed.",
         "503 when the AI service fails, never on destroy", ("no-server-error", "body-matches-schema"), _AI_FAILS),
    Rule("spec-413", _S, "components.responses.PayloadTooLarge413", "over the server's size limit",
         "a body over the server's limit is 413 with Canvas's error list",
         ("status-code-declared", "body-matches-schema"),
         "the limit is a site's configuration, not an API rule: a live Canvas is not sent megabytes to find it"),
)
# fmt: on
