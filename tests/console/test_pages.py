"""The console's pages on both backends, through HTTP: what each shows, who may act, what is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from hub.store.tables import AuditEntry, DeadLetter, Delivery
from tests.console.conftest import csrf, sign_in
from tests.console.story import HANNAH, dead_letter, held, re_referral, step_up
from tests.integration.helpers import eventually


def audit_actions(hub, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with hub.hub.database.read() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_the_step_up_shows_on_the_dashboard_and_its_trace_explains_every_step(console_hub, operator):
    tracking_id = step_up(console_hub)

    board = operator.get("/console/").text
    assert "caf-national" in board and "referral-to-social-care" in board
    assert "lcs" in board and "circuit breakers open" in board
    assert "circuit breaker for lcs (this process)" in board and ">closed" in board
    trace = operator.get(f"/console/messages/{tracking_id}")

    assert trace.status_code == 200
    page = trace.text
    assert "Received" in page and "Validated" in page and "Identity" in page
    assert page.count('class="tag permit"') >= 5, "a permit per destination, with its basis"
    assert "referral-to-social-care" in page and "consent" in page
    assert "came from" in page and "caf-national:" in page, "each rendered field names its source"
    assert re.search(r"<td>201 ", page), "each attempt shows the destination's response"
    assert "Hannah" not in page and "H•••••" in page, "personal data is masked by default"


def test_revealing_personal_data_is_audited_with_the_child_and_refused_to_read_only(console_hub, operator,
                                                                                      reader):
    tracking_id = step_up(console_hub)
    trace = operator.get(f"/console/messages/{tracking_id}").text

    revealed = operator.post(f"/console/messages/{tracking_id}/reveal", data={"csrf_token": csrf(trace)})

    assert revealed.status_code == 200 and "Hannah" in revealed.text
    [entry] = audit_actions(console_hub, "console.revealed")
    assert entry.actor == "console:olive" and entry.message_id == tracking_id and entry.detail["subjects"]
    page = reader.get(f"/console/messages/{tracking_id}").text
    assert "Reveal personal data" not in page
    refused = reader.post(f"/console/messages/{tracking_id}/reveal", data={"csrf_token": csrf(page)})
    assert refused.status_code == 403 and "read-only may not reveal personal data" in refused.text
    assert "Hannah" not in refused.text
    assert len(audit_actions(console_hub, "console.revealed")) == 1


def test_a_form_without_its_csrf_token_changes_nothing(console_hub, operator):
    dead_letter_id = dead_letter(console_hub)

    forged = operator.post(f"/console/dead-letters/{dead_letter_id}/replay", data={"csrf_token": "forged"})

    assert forged.status_code == 403 and "console.csrf" in forged.text
    with console_hub.hub.database.read() as session:
        assert session.get(DeadLetter, dead_letter_id) is not None


def test_a_dead_letter_is_replayed_with_the_decision_re_run_and_another_discarded(console_hub, operator,
                                                                                 reader):
    dead_letter_id = dead_letter(console_hub)
    listed = operator.get("/console/dead-letters").text
    assert dead_letter_id in listed and "gave up after 3 attempts; last: HTTP 503" in listed
    inspected = reader.get(f"/console/dead-letters/{dead_letter_id}").text
    assert "Replay" not in inspected, "a read-only user sees no replay"
    assert reader.post(f"/console/dead-letters/{dead_letter_id}/replay",
                       data={"csrf_token": csrf(inspected)}).status_code == 403

    page = operator.get(f"/console/dead-letters/{dead_letter_id}").text
    replayed = operator.post(f"/console/dead-letters/{dead_letter_id}/replay",
                             data={"csrf_token": csrf(page)})

    assert replayed.status_code == 200 and "Queued again" in replayed.text
    eventually(lambda: console_hub.directory.updates(), what="the replayed delivery")
    [entry] = audit_actions(console_hub, "delivery.replayed")
    assert entry.actor == "console:olive"

    second = dead_letter_again(console_hub)
    page = operator.get(f"/console/dead-letters/{second}").text
    no_reason = operator.post(f"/console/dead-letters/{second}/discard",
                              data={"csrf_token": csrf(page), "reason": " "})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    discarded = operator.post(f"/console/dead-letters/{second}/discard",
                              data={"csrf_token": csrf(page), "reason": "the directory holds it already"})
    assert discarded.status_code == 200 and "the directory holds it already" in discarded.text
    [entry] = audit_actions(console_hub, "delivery.discarded")
    assert entry.actor == "console:olive" and "the directory holds it already" not in str(entry.detail)
    with console_hub.hub.database.read() as session:
        assert session.get(DeadLetter, second) is None
        delivery = session.get(Delivery, entry.detail["delivery_id"])
        assert delivery.status == "dead"


def dead_letter_again(hub) -> str:  # type: ignore[no-untyped-def]
    from simulators.hannah import melanie_agreed
    from tests.integration.helpers import settled

    hub.directory.state.failures_left, hub.directory.state.failure_status = 1000, 503
    reply = hub.caf.send(hub.url, "caf-national", hub.caf_token, melanie_agreed("caf-msg-dead-2", version=4))
    settled(hub.url, hub.caf_token, reply.json()["tracking_id"])
    hub.directory.state.failures_left = 0
    with hub.hub.database.read() as session:
        [dead] = session.execute(select(DeadLetter)).scalars().all()
    return dead.dead_letter_id


def test_hannahs_child_view_joins_identifiers_referral_consents_and_disclosures(console_hub, operator):
    tracking_id = step_up(console_hub)

    page = operator.get("/console/children", params={"child": HANNAH}).text

    assert "Identifiers across systems" in page and "nhs_number" in page and "caf_child_id" in page
    assert ">9434765919</td>" not in page and ">9•••••••••</td>" in page, "identifiers are masked too"
    assert f"messages/{tracking_id}" in page and "referral from caf-national opened" in page
    assert "consent for referral-to-social-care given by" in page
    assert "disclosed to lcs" in page and "disclosed to directory" in page
    revealed = operator.post("/console/children/reveal", data={"csrf_token": csrf(page), "child": HANNAH})
    assert ">9434765919</td>" in revealed.text
    assert audit_actions(console_hub, "console.revealed")[0].detail["what"] == "child"


def test_a_withdrawn_consent_refuses_the_next_referral(console_hub, operator):
    step_up(console_hub)
    page = operator.get("/console/consent", params={"child": HANNAH}).text
    consent_id = re.search(r'data-consent="([^"]+)"><td>referral-to-social-care', page).group(1)

    withdrawn = operator.post(f"/console/consent/{consent_id}/withdraw", data={
        "csrf_token": csrf(page), "child": HANNAH, "withdrawn_by": "child",
        "reason": "Hannah asked that social care not be contacted again"})

    assert withdrawn.status_code == 200 and 'class="tag deny"' in withdrawn.text
    [entry] = audit_actions(console_hub, "consent.withdrawn")
    assert entry.actor == "console:olive"
    later = held(console_hub, re_referral(console_hub))
    assert "no consent or legal gateway covers referral-to-social-care" in later["hold_reason"]
    again = operator.post(f"/console/consent/{consent_id}/withdraw", data={
        "csrf_token": csrf(page), "child": HANNAH, "withdrawn_by": "child", "reason": "twice"})
    assert again.status_code == 409 and "already withdrawn" in again.text


def test_only_a_dpo_records_a_gateway_decision_and_bad_input_names_the_field(console_hub, operator):
    page = operator.get("/console/consent", params={"child": HANNAH}).text
    assert "Record a gateway decision" not in page
    form = {"csrf_token": csrf(page), "child": HANNAH, "gateway": "s47-significant-harm",
            "purposes": "referral-to-social-care", "scope": "kind:case_system", "decided_by": "Ann Duty",
            "decided_by_role": "Team manager", "reason": "strategy discussion held"}
    assert operator.post("/console/gateways", data=form).status_code == 403

    from contextlib import closing

    with closing(sign_in(console_hub.url, "dana")) as dpo:
        page = dpo.get("/console/consent", params={"child": HANNAH}).text
        assert "Record a gateway decision" in page
        form["csrf_token"] = csrf(page)
        recorded = dpo.post("/console/gateways", data=form)
        assert recorded.status_code == 200 and "s47-significant-harm" in recorded.text
        bad = dpo.post("/console/consent", data={**form, "purpose": "referral-to-social-care",
                                                 "given_by": "child", "method": "verbal"})
        assert bad.status_code == 422 and "given_by.competence" in bad.text
    [entry] = audit_actions(console_hub, "gateway.recorded")
    assert entry.actor == "console:dana"


def test_try_a_message_shows_the_output_and_what_is_refused_without_sending(console_hub, operator):
    from simulators.hannah import melanie_agreed

    page = operator.get("/console/mappings", params={"spec": "directory/standard/lead-professional-changed"})
    assert "layers" in page.text and "rules" in page.text

    tried = operator.post("/console/mappings/try", data={
        "csrf_token": csrf(page.text), "spec": "directory/standard/lead-professional-changed",
        "message": melanie_agreed().decode(), "source": "caf_system/standard"})

    assert tried.status_code == 200 and "leadProfessional" in tried.text and "came from" in tried.text
    assert console_hub.directory.updates() == []
    broken = operator.post("/console/mappings/try", data={
        "csrf_token": csrf(page.text), "spec": "directory/standard/lead-professional-changed",
        "message": "<notCaf/>"})
    assert broken.status_code == 422 and "no connected system" in broken.text


def test_the_audit_page_verifies_the_chain_and_lists_the_latest_entries(console_hub, operator):
    step_up(console_hub)

    page = operator.get("/console/audit", params={"verify": 1}).text

    assert "Audit chain intact" in page and "disclosure" in page and "console.signed-in" in page


def test_messages_are_found_by_tracking_id_correlation_id_system_and_child(console_hub, operator):
    tracking_id = step_up(console_hub)

    by_id = operator.get("/console/messages", params={"q": tracking_id}, follow_redirects=False)
    assert by_id.status_code == 303 and by_id.headers["location"].endswith(tracking_id)
    by_system = operator.get("/console/messages", params={"system": "caf-national"}).text
    assert tracking_id in by_system
    with console_hub.hub.database.read() as session:
        from hub.store.tables import InboxMessage

        correlation = session.get(InboxMessage, tracking_id).correlation_id
    assert tracking_id in operator.get("/console/messages", params={"q": correlation}).text
    by_child = operator.get("/console/messages", params={"q": HANNAH}, follow_redirects=False)
    assert by_child.headers["location"].startswith("/console/children?child=")
