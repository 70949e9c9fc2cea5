"""Names of the codes the pages show (states, roles, report categories) in the page language.

Report categories (channel, purpose, destination...) are the intake form's own choice labels
when that form is published, so the dashboard reads like the form; otherwise the code.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from forms.labels import FormLabels, labels_for
from server.i18n_text import country_display
from server.services import forms as form_service

REVIEW_STATE_LABELS = {
    "received": _l("Received"),
    "has_issues": _l("Has issues"),
    "edited": _l("Edited"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
}
CASE_STATUS_LABELS = {
    "awaiting_verification": _l("Awaiting verification"),
    "confirmed": _l("Confirmed victim"),
    "not_victim": _l("Not a victim"),
    "transferred": _l("Transferred"),
    "follow_up": _l("Follow-up"),
    "closed": _l("Closed"),
}
DECRYPT_STATE_LABELS = {
    "decrypted": _l("Decrypted"),
    "pending": _l("Waiting"),
    "failed": _l("Failed"),
}
SIGNATURE_LABELS = {
    "valid": _l("Signature valid"),
    "invalid": _l("Signature does not match"),
    "unverifiable": _l("Signature cannot be checked"),
}
# What the unit rule made of a submission (server/services/units.py): a short name, and what
# it means for the people who read it.
UNIT_CHECK_LABELS = {
    "accepted": _l("Inside the phone's unit"),
    "awaiting_intake": _l("Waiting for the intake"),
    "no_unit": _l("Phone without a unit"),
    "unit_unknown": _l("Phone's commune not in the list"),
    "unit_mismatch": _l("Answers name another unit"),
    "foreign_case": _l("Case of another unit"),
    "foreign_edit": _l("Edit of another unit's submission"),
}
UNIT_CHECK_EXPLANATIONS = {
    "awaiting_intake": _l(
        "No intake of this case code has arrived yet. The submission takes effect when the "
        "intake arrives from a phone of the same unit."
    ),
    "no_unit": _l(
        "The phone that sent it has no unit, so it cannot act on any case or unit. The "
        "submission is kept as received and changed nothing."
    ),
    "unit_unknown": _l(
        "The phone belongs to a commune that is not in the list of administrative units, so "
        "its province cannot be checked. The submission is kept as received and changed "
        "nothing."
    ),
    "unit_mismatch": _l(
        "The province or commune answered in the form, or the province of the case code, is "
        "not the unit of the phone that sent it. The submission is kept as received and "
        "changed nothing."
    ),
    "foreign_case": _l(
        "The case code belongs to a case held by another unit. The submission is kept as "
        "received and changed nothing in that case."
    ),
    "foreign_edit": _l(
        "This edit names a submission received from a phone of another unit. It is kept as "
        "received; the original stays current."
    ),
}
ROLE_LABELS = {
    "admin": _l("Administrator"),
    "supervisor": _l("Supervisor"),
    "viewer": _l("Viewer"),
}
EVENT_KIND_LABELS = {
    "intake": _l("Intake"),
    "verification": _l("Verification"),
    "plan": _l("Needs and plan"),
    "support": _l("Support"),
    "followup": _l("Follow-up visit"),
    "other": _l("Other"),
}
PERSON_TYPE_LABELS = {
    "victim": _l("Victim"),
    "awaiting_id": _l("Awaiting identification"),
    "minor_accompanying": _l("Accompanying minor"),
    "relative": _l("Relative"),
}
SEX_LABELS = {"female": _l("Female"), "male": _l("Male"), "unknown": _l("Unknown")}
AGE_GROUP_LABELS = {
    "u16": _l("Under 16"),
    "16_17": _l("16 to 17"),
    "18_29": "18–29",
    "30_44": "30–44",
    "45_59": "45–59",
    "60p": _l("60 and over"),
    "unk": _l("Unknown"),
}
INTAKE_FORM = "vt01_intake"
SUPPORT_FORM = "vt04_support"
# Dashboard breakdown -> the question whose choices name its codes.
CATEGORY_QUESTIONS = {
    "channel": (INTAKE_FORM, "reception_channel"),
    "purpose": (INTAKE_FORM, "purpose"),
    "destination": (INTAKE_FORM, "destination_country"),
    "support": (SUPPORT_FORM, "support_type"),
    "recipient": (INTAKE_FORM, "referred_to"),
}
CONSENT_PURPOSE_LABELS = {
    "intake": _l("Case management"),
    "referral": _l("Sharing with referral recipients"),
    "police": _l("Police or prosecution beyond verification"),
    "followup_contact": _l("Follow-up contact"),
    "data_use": _l("Non-identifying data use (research, anonymised extract)"),
}
CONSENT_STATE_LABELS = {
    "given": _l("Given"),
    "refused": _l("Refused"),
    "withdrawn": _l("Withdrawn"),
    "not_asked": _l("Not asked"),
    "invalid": _l("Not valid (age rule)"),
    "suspended": _l("Stopped: no consent to case management"),
}
CONSENT_GIVER_LABELS = {
    "self": _l("The person"),
    "legal_rep": _l("Legal representative"),
    "both": _l("Child and legal representative"),
}
CONTACT_METHOD_LABELS = {
    "phone_call": _l("Phone call to the person"),
    "text_message": _l("Text message"),
    "home_visit": _l("Home visit"),
    "trusted_person": _l("Through a trusted relative"),
    "at_office": _l("Only when the person comes to the office"),
}
CONTACT_TIME_LABELS = {
    "morning": _l("Morning"),
    "midday": _l("Midday"),
    "afternoon": _l("Afternoon"),
    "evening": _l("Evening"),
    "weekend": _l("Weekend"),
}
CONSENT_FLAG_LABELS = {
    "no_legal_rep": _l("Under 18: the legal representative must consent."),
    "child_not_asked": _l(
        "Aged 7 to 17: the child must agree as well as the legal representative."
    ),
    "adult_not_asked": _l("Aged 18 or over: the person must consent personally."),
    "age_unknown": _l("Age unknown: only the child and the legal representative together count."),
    "no_giver": _l("Nobody is recorded as giving this consent."),
    "not_specific": _l("A referral consent must name the recipient type."),
}


def review_state_label(state: str) -> str:
    """The name of a review state."""
    return str(REVIEW_STATE_LABELS.get(state, state))


def case_status_label(status: str) -> str:
    """The name of a case status."""
    return str(CASE_STATUS_LABELS.get(status, status))


def code_label(table: dict[str, object], code: str | None) -> str:
    """The name of a code from one of the tables above."""
    if code is None:
        return ""
    return str(table.get(code, code))


class CategoryNamer:
    """Names report categories with the published forms' choice labels."""

    def __init__(self, session: Session, language: str) -> None:
        self.language = language
        self._labels: dict[str, FormLabels | None] = {}
        self._session = session

    def _form(self, form_id: str) -> FormLabels | None:
        if form_id not in self._labels:
            xform = form_service.current_xform(self._session, form_id)
            self._labels[form_id] = labels_for(xform) if xform is not None else None
        return self._labels[form_id]

    def name(self, category: str, code: str) -> str:
        """The label of `code` in a dashboard breakdown."""
        if category == "sex":
            return code_label(SEX_LABELS, code)  # type: ignore[arg-type]
        if category == "age_group":
            return code_label(AGE_GROUP_LABELS, code)  # type: ignore[arg-type]
        if code in ("unknown", "UNKNOWN"):
            return _("Unknown")
        form_id, question = CATEGORY_QUESTIONS.get(category, ("", ""))
        labels = self._form(form_id) if form_id else None
        named = code
        if labels is not None:
            for path, found in labels.questions.items():
                if path.rsplit("/", 1)[-1] == question and found.choices:
                    named = labels.choice(path, code, self.language) or code
                    break
        return country_display(question, code, named, self.language)


TRANSFER_STATE_LABELS = {
    "pending": _l("Waiting for an answer"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
}

SERVICE_TYPE_LABELS = {
    "swc": _l("Social Work Centre"),
    "social_assistance_facility": _l("Social assistance facility"),
    "victim_support_facility": _l("Victim support facility"),
    "province_health": _l("Provincial health department"),
    "health_facility": _l("Health facility"),
    "mental_health": _l("Mental-health service"),
    "police": _l("Police"),
    "border_guard": _l("Border guard"),
    "legal_aid_centre": _l("Legal aid centre"),
    "child_protection_111": _l("National hotline 111"),
    "commune_pc": _l("Commune People's Committee"),
    "women_union": _l("Women's Union"),
    "youth_union": _l("Youth Union"),
    "vocational_school": _l("Vocational school"),
    "employment_service_centre": _l("Employment service centre"),
    "vbsp": _l("Social Policy Bank"),
    "ngo": _l("Social organisation"),
    "intl_ngo": _l("International or non-governmental organisation"),
}

REFERRAL_OUTCOME_LABELS = {
    "accepted": _l("Accepted by the service"),
    "service_received": _l("Service received"),
    "not_accepted": _l("Not accepted by the service"),
    "declined": _l("Declined by the person"),
    "no_answer": _l("No answer"),
}
