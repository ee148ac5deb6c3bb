"""HealthEx client: enrol a user, pull their records page by page, ask for a refresh.

The bearer token is cached until shortly before its ``exp`` and renewed once when the API
answers 401, so an expiry between our check and the vendor's never fails a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any, Literal

import httpx
import jwt
from pydantic import Field, PrivateAttr

from healthex_pipeline.connectors.http import VendorError, check_status, read_json, required_field
from healthex_pipeline.connectors.resource import VendorResource
from healthex_pipeline.raw_zone import RawPartition

SOURCE_KIND = "healthex-everything"
# Renew this long before the token's exp, so a request never leaves with a dying token.
_RENEW_MARGIN_SECONDS = 300.0
_UPDATE_OUTCOMES: dict[str, Literal["in_progress", "patient_action_needed"]] = {
    "IN_PROGRESS_NO_ACTION_NEEDED": "in_progress",
    "PATIENT_ACTION_NEEDED": "patient_action_needed",
}


class HealthExClient(VendorResource):
    """HealthEx TEFCA IAS API; ``project_id`` scopes enrolment and refreshes.

    Credentials are left out of the repr, so a logged resource never shows them.
    """

    api_key: str = Field(repr=False)
    api_secret: str = Field(repr=False)
    project_id: str
    page_size: int = 100

    _token: str | None = PrivateAttr(default=None)
    _token_renew_at: float = PrivateAttr(default=0.0)

    def create_link(self, external_id: str) -> str:
        """The enrolment link the user opens; ``external_id`` must be our pseudonym."""
        body = {"externalId": external_id}
        path = f"/v1/projects/{self.project_id}/link"
        # Enrolment is keyed by externalId, so a repeated request yields the same enrolment.
        answer = self.retry_policy.run(
            "create link",
            lambda: read_json("create link", self._send("create link", "POST", path, body)),
        )
        return required_field("create link", answer, "link")

    def fetch_everything(self, patient_id: str, partition: RawPartition) -> str:
        """Stream every ``$everything`` page into one inbox batch; returns the batch name.

        Pages are written as they arrive, so a failure midway leaves no batch behind.
        """
        pages = (
            (f"everything-{number:05d}.json", [page])
            for number, page in enumerate(self._pages(patient_id), start=1)
        )
        return partition.stage_stream(pages, SOURCE_KIND, {"call": "everything"})

    def update_data(self, patient_id: str) -> Literal["in_progress", "patient_action_needed"]:
        """Ask HealthEx to pull fresh records; a repeated request asks for the same refresh."""
        path = (
            f"/v1/projects/{self.project_id}/recruitment/identified-patients/"
            f"{patient_id}/$updateData"
        )
        answer = self.retry_policy.run(
            "update data", lambda: read_json("update data", self._send("update data", "POST", path))
        )
        outcome = _UPDATE_OUTCOMES.get(required_field("update data", answer, "message"))
        if outcome is None:
            raise VendorError("update data", reason="unexpected refresh status")
        return outcome

    def _pages(self, patient_id: str) -> Iterator[bytes]:
        """Each searchset page as received, following ``link[relation=next]`` on our API only."""
        path = f"/FHIR/R4/Person/{patient_id}/$everything"
        next_url: httpx.URL | None = httpx.URL(path, params={"_count": self.page_size})
        while next_url is not None:
            content, bundle = self.retry_policy.run("everything", partial(self._page, next_url))
            yield content
            next_url = self._next_link(bundle)

    def _page(self, url: httpx.URL) -> tuple[bytes, Any]:
        """One page, parsed once to prove it arrived whole (a cut-off page is retried)."""
        response = self._send("everything", "GET", url)
        return response.content, read_json("everything", response)

    def _next_link(self, bundle: object) -> httpx.URL | None:
        links = bundle.get("link", []) if isinstance(bundle, dict) else []
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
                base = self.http().base_url
                target = base.join(str(link["url"]))
                if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
                    # Our bearer token must never travel to another host.
                    raise VendorError("everything", reason="next link outside the API")
                return target
        return None

    def _send(
        self, operation: str, method: str, url: httpx.URL | str, json: Any = None
    ) -> httpx.Response:
        """One authorised request; a 401 renews the token once and repeats the request."""
        response = self.http().request(method, url, headers=self._auth(), json=json)
        if response.status_code == 401:
            self._token = None
            response = self.http().request(method, url, headers=self._auth(), json=json)
        check_status(operation, response)
        return response

    def _auth(self) -> dict[str, str]:
        if self._token is None or time.time() >= self._token_renew_at:
            self._token, self._token_renew_at = self.retry_policy.run("auth", self._new_token)
        return {"Authorization": f"Bearer {self._token}"}

    def _new_token(self) -> tuple[str, float]:
        credentials = {"apiKey": self.api_key, "apiSecret": self.api_secret}
        response = self.http().post("/v1/auth/token", json=credentials)
        check_status("auth", response)
        token = required_field("auth", read_json("auth", response), "token")
        try:
            # Only the expiry is read; the API, not us, is the judge of the token's validity.
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise VendorError("auth", reason="unreadable token") from None
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            raise VendorError("auth", reason="token without expiry")
        return token, float(expires) - _RENEW_MARGIN_SECONDS
