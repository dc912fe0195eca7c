"""Google accounts for Antigravity and Gemini CLI (Code Assist), as oauth-providers.md §4, §7
and §11 describe. One Google identity server and one Code Assist backend serve both clients;
a token remembers which client it was issued to, and the backend checks that client's envelope.

Origins: accounts.google.com (authorize), oauth2.googleapis.com (token), www.googleapis.com
(userinfo), cloudcode-pa and daily-cloudcode-pa (Code Assist), cloudresourcemanager and
serviceusage (Gemini CLI project set-up).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes.gemini_upstream import STATUS, _chunks, _whole
from tests.fakes.oauth.provider import Client, Provider, Routes
from tests.fakes.oauth.recording import REC, Recorded
from tests.fakes.oauth.state import Account, Fault, iso
from tests.fakes.wire_base import estimate_tokens, frame, sse_response

ACCOUNTS = "https://accounts.google.com"
OAUTH2 = "https://oauth2.googleapis.com"
WWW = "https://www.googleapis.com"
CLOUDCODE = "https://cloudcode-pa.googleapis.com"
DAILY = "https://daily-cloudcode-pa.googleapis.com"
CRM = "https://cloudresourcemanager.googleapis.com"
SERVICEUSAGE = "https://serviceusage.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/"
COMPANION = "cloudaicompanion.googleapis.com"
ONBOARD_RESPONSE = "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse"
ANTIGRAVITY = Client(
    "antigravity",
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
    ("http://localhost:51121/oauth-callback",),
    frozenset(
        SCOPE + s
        for s in (
            "cloud-platform",
            "userinfo.email",
            "userinfo.profile",
            "cclog",
            "experimentsandconfigs",
        )
    ),
    pkce="optional",
    secret="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",
)
GEMINI = Client(
    "gemini",
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    ("http://localhost:8085/oauth2callback",),
    frozenset(SCOPE + s for s in ("cloud-platform", "userinfo.email", "userinfo.profile")),
    pkce="optional",
    secret="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",
)
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential."
)
MODELS = {
    "gemini-3-flash": "Gemini 3 Flash",
    "gemini-3.1-pro-low": "Gemini 3.1 Pro (Low)",
    "claude-sonnet-4-6": "Claude Sonnet 4.6",
    "gemini-2.5-pro": "Gemini 2.5 Pro",
    "gemini-2.5-flash": "Gemini 2.5 Flash",
}
_numbers = itertools.count(100000000001)


def google_error(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS.get(status, "INTERNAL"),
    }
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)


def retry_details(
    reason: str, delay: float, domain: str = "cloudcode-pa.googleapis.com"
) -> list[dict[str, Any]]:
    """ErrorInfo + RetryInfo of a 429 (google.rpc types; Duration as "<seconds>s")."""
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": domain,
            "metadata": {
                "quotaResetDelay": f"{delay:g}s",
                "quotaResetTimeStamp": iso(time.time() + delay),
            },
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"},
    ]


class Google(Provider):
    name = "google"
    clients = (ANTIGRAVITY, GEMINI)
    access_ttl = 3599
    offline_by_access_type = True
    rotates_refresh = False  # Google keeps the refresh token and omits it from refresh answers
    token_prefix = ("ya29.fake-", "1//fake-")

    def routes(self) -> Routes:
        code_assist = [
            web.post("/v1internal:loadCodeAssist", self.load_code_assist),
            web.post("/v1internal:onboardUser", self.onboard_user),
            web.post("/v1internal:generateContent", self.generate),
            web.post("/v1internal:streamGenerateContent", self.generate),
            web.post("/v1internal:countTokens", self.count_tokens),
            web.post("/v1internal:fetchAvailableModels", self.fetch_available_models),
            web.post("/v1internal:retrieveUserQuota", self.retrieve_user_quota),
        ]
        service = "/v1/projects/{project}/services/{service}"
        return {
            ACCOUNTS: [
                web.get("/o/oauth2/v2/auth", self.authorize),
                web.get("/o/oauth2/auth", self.authorize),
            ],
            OAUTH2: [web.post("/token", self.token_endpoint)],
            WWW: [
                web.get("/oauth2/v2/userinfo", self.userinfo),
                web.get("/oauth2/v1/userinfo", self.userinfo),
            ],
            CLOUDCODE: code_assist,
            DAILY: list(code_assist),
            CRM: [web.get("/v1/projects", self.list_projects)],
            SERVICEUSAGE: [
                web.get(service, self.service_state),
                web.post(service, self.service_enable),
            ],
        }

    def add_account(self, email: str | None = None, **fields: Any) -> Account:
        n = len(self.accounts) + 1
        fields.setdefault("id", str(next(_numbers)))
        fields.setdefault("plan", "free")
        project = fields.setdefault("project", f"fake-project-{n}")
        fields.setdefault("projects", [project] if project else [f"user-project-{n}"])
        fields.setdefault("enabled_services", set(fields["projects"]))
        return super().add_account(email or f"user{n}@gmail.test", **fields)

    def default_quota(self, account: Account) -> dict[str, Any]:
        reset = iso(time.time() + 5 * 3600)
        info = {"remainingFraction": 1.0, "resetTime": reset}
        return {
            "models": {m: {"displayName": d, "quotaInfo": dict(info)} for m, d in MODELS.items()}
        }

    def refresh_error(self, kind: str, retry_after: int) -> web.Response:
        if kind == "invalid_grant":
            return _invalid_grant()
        if kind == "rate_limited":
            details = retry_details("RATE_LIMIT_EXCEEDED", retry_after, "oauth2.googleapis.com")
            return google_error(
                429, "Too many requests.", details, {"Retry-After": str(retry_after)}
            )
        return super().refresh_error(kind, retry_after)

    # -- scripting ----------------------------------------------------------------------------

    def rate_limit(
        self,
        account: Account,
        reason: str = "QUOTA_EXHAUSTED",
        delay: float = 3600.0,
        times: int | None = None,
    ) -> None:
        """429 RESOURCE_EXHAUSTED with ErrorInfo.reason (QUOTA_EXHAUSTED, RATE_LIMIT_EXCEEDED)
        and RetryInfo.retryDelay; lasts `delay` seconds unless `times` is given."""
        message = (
            "You have exhausted your capacity on this model. "
            f"Your quota will reset after {delay:g}s."
        )

        def respond() -> web.Response:
            return google_error(429, message, retry_details(reason, delay))

        account.faults.append(Fault("inference", respond, times, until=time.time() + delay))

    def set_model_quota(
        self, account: Account, model: str, remaining: float, reset_in: int
    ) -> None:
        """Set one model's quotaInfo in `:fetchAvailableModels`."""
        info = {"remainingFraction": remaining, "resetTime": iso(time.time() + reset_in)}
        entry = account.quota["models"].setdefault(model, {"displayName": model})
        entry["quotaInfo"] = info

    # -- identity -----------------------------------------------------------------------------

    def authenticate(
        self, rec: Recorded, kind: str
    ) -> tuple[Account | None, str, web.Response | None]:
        grant, problem = self.access(rec, kind)
        if grant is None or problem:
            return None, "", google_error(401, UNAUTHENTICATED)
        return grant.account, grant.client, None

    async def userinfo(self, request: web.Request) -> web.Response:
        account, _, denied = self.authenticate(request[REC], "profile")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        return web.json_response(
            {
                "id": account.id,
                "email": account.email,
                "verified_email": True,
                "name": "Fake User",
                "picture": "https://example.invalid/photo.png",
            }
        )

    # -- Code Assist set-up ---------------------------------------------------------------------

    async def load_code_assist(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        account, _, denied = self.authenticate(rec, "setup")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        if not isinstance(rec.body, dict) or not isinstance(rec.body.get("metadata"), dict):
            return google_error(400, "Invalid JSON payload: metadata is required.")
        tiers = [
            {"id": "free-tier", "name": "Gemini Code Assist for individuals", "isDefault": True},
            {"id": "standard-tier", "name": "Gemini Code Assist", "isDefault": False},
        ]
        answer: dict[str, Any] = {"allowedTiers": tiers}
        if account.project:
            answer |= {"currentTier": tiers[0], "cloudaicompanionProject": account.project}
        return web.json_response(answer)

    async def onboard_user(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        account, _, denied = self.authenticate(rec, "setup")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        body = rec.body if isinstance(rec.body, dict) else {}
        if not (body.get("tier_id") or body.get("tierId")):
            return google_error(400, "Invalid argument: tierId is required.")
        if account.onboarding_polls > 0:
            account.onboarding_polls -= 1
            return web.json_response({"name": f"operations/onboard-{account.id}", "done": False})
        asked = body.get("cloudaicompanionProject")
        if isinstance(asked, str) and asked in account.projects:
            project = asked
        else:
            account.project = account.project or f"gen-lang-client-{next(_numbers)}"
            project = account.project
        response = {
            "@type": ONBOARD_RESPONSE,
            "cloudaicompanionProject": {"id": project, "name": project},
        }
        return web.json_response(
            {"name": f"operations/onboard-{account.id}", "done": True, "response": response}
        )

    async def list_projects(self, request: web.Request) -> web.Response:
        account, _, denied = self.authenticate(request[REC], "setup")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        projects = [
            {
                "projectNumber": str(abs(hash(p)) % 10**12),
                "projectId": p,
                "lifecycleState": "ACTIVE",
                "name": p,
            }
            for p in account.projects
        ]
        return web.json_response({"projects": projects})

    def service(self, request: web.Request, enable: bool) -> web.Response:
        account, _, denied = self.authenticate(request[REC], "setup")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        project = request.match_info["project"]
        name, _, verb = request.match_info["service"].partition(":")
        if (
            project not in account.projects
            or name != COMPANION
            or verb != ("enable" if enable else "")
        ):
            return google_error(403, f"Permission denied on resource project {project}.")
        if enable:
            account.enabled_services.add(project)
        state = "ENABLED" if project in account.enabled_services else "DISABLED"
        service = {
            "name": f"projects/{project}/services/{name}",
            "config": {"name": name, "title": "Gemini for Google Cloud API"},
            "state": state,
            "parent": f"projects/{project}",
        }
        if not enable:
            return web.json_response(service)
        response = {
            "@type": "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse",
            "service": service,
        }
        return web.json_response(
            {"name": "operations/noop.DONE_OPERATION", "done": True, "response": response}
        )

    async def service_state(self, request: web.Request) -> web.Response:
        return self.service(request, enable=False)

    async def service_enable(self, request: web.Request) -> web.Response:
        return self.service(request, enable=True)

    # -- Code Assist inference -------------------------------------------------------------------

    def envelope_problem(self, account: Account, client: str, body: Any) -> web.Response | None:
        """The `{project, model, request}` envelope (§4.4, §7.4); antigravity adds three fields."""
        if not isinstance(body, dict) or not isinstance(body.get("request"), dict):
            return google_error(400, "Invalid JSON payload: request is required.")
        if not isinstance(body["request"].get("contents"), list):
            return google_error(400, "Invalid JSON payload: request.contents is required.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return google_error(400, "Invalid argument: model is required.")
        project = body.get("project")
        if project not in {account.project, *account.projects}:
            return google_error(403, f"Permission denied on resource project {project}.")
        if project in account.projects and project not in account.enabled_services:
            details = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}
            ]
            return google_error(403, f"{COMPANION} is not enabled on project {project}.", details)
        if client == "antigravity":
            wrong = body.get("userAgent") != "antigravity" or body.get("requestType") not in (
                "agent",
                "image_gen",
            )
            if wrong or not body.get("requestId"):
                return google_error(
                    400, "Invalid argument: userAgent, requestType and requestId are required."
                )
        return None

    async def generate(self, request: web.Request) -> web.StreamResponse:
        rec: Recorded = request[REC]
        account, client, denied = self.authenticate(rec, "inference")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        problem = self.envelope_problem(account, client, rec.body)
        if problem:
            return problem
        scripted = account.fault("inference")
        if scripted is not None:
            return scripted
        reply, model = self.next_reply(account), rec.body["model"]
        if request.path.endswith(":generateContent"):
            return web.json_response({"response": _whole(reply, model)})
        chunks = [{"response": chunk} for chunk in _chunks(reply, model)]
        if request.query.get("alt") != "sse":
            return web.json_response(chunks)
        response = await sse_response(request)
        for chunk in chunks:
            await response.write(frame(chunk))
        return response

    async def count_tokens(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        account, _, denied = self.authenticate(rec, "inference")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        inner = rec.body.get("request") if isinstance(rec.body, dict) else None
        if not isinstance(inner, dict):
            return google_error(400, "Invalid JSON payload: request is required.")
        return web.json_response({"totalTokens": estimate_tokens(inner.get("contents"))})

    async def retrieve_user_quota(self, request: web.Request) -> web.Response:
        """The Gemini CLI's quota call: `{project}` of the account -> `{buckets: [...]}`."""
        rec: Recorded = request[REC]
        account, _, denied = self.authenticate(rec, "quota")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        project = rec.body.get("project") if isinstance(rec.body, dict) else None
        if project not in {account.project, *account.projects}:
            return google_error(403, f"Permission denied on resource project {project}.")
        return account.fault("quota") or web.json_response({"buckets": _buckets(account.quota)})

    async def fetch_available_models(self, request: web.Request) -> web.Response:
        account, _, denied = self.authenticate(request[REC], "quota")
        if account is None:
            return denied or google_error(401, UNAUTHENTICATED)
        return account.fault("quota") or web.json_response(account.quota)


def _buckets(quota: dict[str, Any]) -> list[dict[str, Any]]:
    """The Gemini CLI's quota buckets, from the same per-model figures fetchAvailableModels
    shows (one REQUESTS bucket per model)."""
    buckets = []
    for model, entry in quota.get("models", {}).items():
        info = entry.get("quotaInfo") or {}
        buckets.append(
            {
                "modelId": model,
                "tokenType": "REQUESTS",
                "remainingFraction": info.get("remainingFraction", 1.0),
                "resetTime": info.get("resetTime"),
            }
        )
    return buckets


def _invalid_grant() -> web.Response:
    body = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    return web.json_response(body, status=400)
