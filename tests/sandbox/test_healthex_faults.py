from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import orjson
import pytest

from tests.sandbox.harness import Sandbox


def everything_url(sandbox: Sandbox, patient_id: str) -> str:
    return f"/FHIR/R4/Person/{patient_id}/$everything"


def test_token_call_rejects_wrong_credentials(sandbox: Sandbox) -> None:
    answer = sandbox.client.post("/v1/auth/token", json={"apiKey": "x", "apiSecret": "y"})
    assert answer.status_code == 401
    assert "error" in answer.json()


def test_everything_without_a_token_answers_401(sandbox: Sandbox) -> None:
    patient_id = sandbox.enroll_and_consent("hx-no-token")
    assert sandbox.client.get(everything_url(sandbox, patient_id)).status_code == 401


def test_everything_for_an_unknown_patient_answers_404(sandbox: Sandbox) -> None:
    answer = sandbox.client.get(everything_url(sandbox, "nobody"), headers=sandbox.auth())
    assert answer.status_code == 404


def test_expire_token_answers_401_token_expired_until_the_client_renews(
    sandbox: Sandbox,
) -> None:
    patient_id = sandbox.enroll_and_consent("hx-expire")
    headers = sandbox.auth()
    sandbox.set_faults({"expire_token": {"times": 1}})
    expired = sandbox.client.get(everything_url(sandbox, patient_id), headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"error": "token expired"}
    renewed = sandbox.client.get(everything_url(sandbox, patient_id), headers=sandbox.auth())
    assert renewed.status_code == 200


def test_rate_limit_sends_retry_after_in_seconds_then_clears(sandbox: Sandbox) -> None:
    patient_id = sandbox.enroll_and_consent("hx-429-seconds")
    headers = sandbox.auth()
    sandbox.set_faults({"rate_limit": {"route": "everything", "times": 2, "retry_after": "2"}})
    url = everything_url(sandbox, patient_id)
    limited = [sandbox.client.get(url, headers=headers) for _ in range(2)]
    assert [a.status_code for a in limited] == [429, 429]
    assert limited[0].headers["retry-after"] == "2"
    assert sandbox.client.get(url, headers=headers).status_code == 200


def test_rate_limit_sends_retry_after_as_an_http_date(sandbox: Sandbox) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    sandbox.set_faults({"rate_limit": {"route": "token", "times": 1, "retry_after": when}})
    answer = sandbox.client.post("/v1/auth/token", json={"apiKey": "a", "apiSecret": "b"})
    assert answer.status_code == 429
    assert parsedate_to_datetime(answer.headers["retry-after"]) > datetime.now(UTC)


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_answers_the_configured_status(sandbox: Sandbox, status: int) -> None:
    headers = sandbox.auth()
    sandbox.set_faults({"server_error": {"route": "link", "times": 1, "status": status}})
    url = f"/v1/projects/{sandbox.config.project_id}/link"
    answer = sandbox.client.post(url, json={"externalId": f"hx-{status}"}, headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"error": "server error"}
    retried = sandbox.client.post(url, json={"externalId": f"hx-{status}"}, headers=headers)
    assert retried.status_code == 200


def test_truncate_cuts_the_body_mid_json_with_a_matching_length(sandbox: Sandbox) -> None:
    patient_id = sandbox.enroll_and_consent("hx-truncate")
    sandbox.wait_delivered("healthex", "hx-truncate")
    headers = sandbox.auth()
    sandbox.set_faults({"truncate": {"route": "everything", "times": 1}})
    answer = sandbox.client.get(everything_url(sandbox, patient_id), headers=headers)
    assert answer.status_code == 200
    assert int(answer.headers["content-length"]) == len(answer.content) > 0
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(answer.content)


def test_slow_answers_after_the_configured_seconds(sandbox: Sandbox) -> None:
    sandbox.set_faults({"slow": {"route": "token", "times": 1, "seconds": 0.6}})
    started = time.monotonic()
    sandbox.token()
    assert time.monotonic() - started >= 0.6


def test_invalid_fault_configuration_is_refused(sandbox: Sandbox) -> None:
    answer = sandbox.client.post("/sandbox/faults", json={"truncate": {"route": "nowhere"}})
    assert answer.status_code == 400


def test_update_data_answers_in_progress_and_pushes_every_facility_again(
    sandbox: Sandbox,
) -> None:
    patient_id = sandbox.enroll_and_consent("hx-update")
    first = sandbox.wait_delivered("healthex", "hx-update")
    n_facilities = len(first["patient"]["facilities"])
    url = (
        f"/v1/projects/{sandbox.config.project_id}/recruitment/identified-patients/"
        f"{patient_id}/$updateData"
    )
    answer = sandbox.client.post(url, headers=sandbox.auth())
    assert answer.status_code == 201
    assert answer.json() == {"message": "IN_PROGRESS_NO_ACTION_NEEDED"}
    again = sandbox.wait_delivered("healthex", "hx-update", deliveries=2 * n_facilities)
    ids = [d["delivery_id"] for d in again["deliveries"]]
    assert len(set(ids)) == 2 * n_facilities
    pushed = [p for p in sandbox.landing.rglob("*.json") if "hx-update" in p.parts]
    assert len(pushed) == 2 * n_facilities


def test_update_data_answers_patient_action_needed_when_configured(sandbox: Sandbox) -> None:
    patient_id = sandbox.enroll_and_consent("hx-action")
    sandbox.set_faults({"patient_action_needed": ["hx-action"]})
    url = (
        f"/v1/projects/{sandbox.config.project_id}/recruitment/identified-patients/"
        f"{patient_id}/$updateData"
    )
    answer = sandbox.client.post(url, headers=sandbox.auth())
    assert answer.status_code == 201
    assert answer.json() == {"message": "PATIENT_ACTION_NEEDED"}
