"""The web forms (Flask-WTF): each carries its CSRF token; labels are translated lazily."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None

from server.services.review import REVIEW_STATES
from server.services.textsearch import MIN_WORD, search_words


def choices(pairs: list[tuple[object, object]]) -> list[Any]:
    """Choices for a select field from (value, label) pairs."""
    if SelectChoice is None:
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]  # type: ignore[arg-type]


def role_choices() -> list[Any]:
    """The roles an admin may give, with their translated names."""
    return choices(
        [
            ("supervisor", _l("Supervisor")),
            ("viewer", _l("Viewer (aggregate figures only)")),
            ("admin", _l("Administrator")),
        ]
    )


def review_state_choices() -> list[Any]:
    """Review states with their translated names."""
    from server.web.labels import review_state_label

    return choices([(state, review_state_label(state)) for state in REVIEW_STATES])


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    """Sign in."""

    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password (at least 12 characters)"),
        description=_l(
            "Not your user name, not one character or a short pattern repeated, not a common "
            "password such as matkhau123."
        ),
        validators=[DataRequired(), Length(max=1000)],
    )
    confirmation = PasswordField(_l("New password again"), validators=[DataRequired()])


class CsrfOnlyForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class ReviewForm(FlaskForm):
    """Set a submission's review state, with a comment."""

    review_state = SelectField(_l("Review state"), choices=[], validators=[DataRequired()])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


class RevealForm(FlaskForm):
    """Reveal identifying fields, giving a reason."""

    reason = TextAreaField(
        _l("Why do you need to see the identifying information?"),
        validators=[DataRequired(), Length(min=10, max=500)],
    )


def whole_words(_form: FlaskForm, field: StringField) -> None:
    """A search is whole words of at least MIN_WORD letters (parts of a name find nothing)."""
    if any(len(word) < MIN_WORD for word in search_words(field.data or "")):
        raise ValidationError(
            _l("Search with whole words of at least 2 letters: a full name or a full case code.")
        )


class CaseSearchForm(FlaskForm):
    """Search cases; sent by POST so the words never appear in a URL or an access log."""

    q = StringField(_l("Name or case code"), validators=[Optional(), Length(max=200), whole_words])
    status = SelectField(_l("Status"), choices=[], validators=[Optional()])
    unit = StringField(_l("Unit code"), validators=[Optional(), Length(max=5)])
    sort = SelectField(_l("Order"), choices=[], validators=[Optional()])
    after = HiddenField()


class UserCreateForm(FlaskForm):
    """Create a web view account."""

    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), choices=role_choices)
    units = StringField(
        _l("Units (province 2 digits or commune 5 digits, separated by spaces)"),
        validators=[Optional(), Length(max=500)],
    )


class UserUpdateForm(FlaskForm):
    """Change an account's role and units."""

    role = SelectField(_l("Role"), choices=role_choices)
    units = StringField(_l("Units"), validators=[Optional(), Length(max=500)])


class CollectorCreateForm(FlaskForm):
    """Create a collector (a phone account)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    unit = StringField(_l("Unit code"), validators=[Optional(), Length(max=5)])
    assign_all = BooleanField(_l("Assign every published form"), default=True)
    basic = BooleanField(
        _l(
            "Sign in with a user name and password (HTTP Basic) instead of a secret server URL; "
            "the name is the user name"
        ),
        default=False,
    )


class CollectorFormsForm(FlaskForm):
    """The forms assigned to a collector."""

    forms = MultiCheckboxField(_l("Forms"), choices=[], coerce=int, validate_choice=True)


class FormUploadForm(FlaskForm):
    """Upload a new XLSForm version."""

    xlsx = FileField(_l("XLSForm (.xlsx)"))


class KeyRotateForm(FlaskForm):
    """Confirm the rotation of the server key."""

    confirm = BooleanField(
        _l("I understand that forms must be published again to use the new key."),
        validators=[DataRequired()],
    )


class ConsentChangeForm(FlaskForm):
    """A supervisor records a consent decision made on paper, with a reason."""

    person_index = SelectField(_l("Person"), coerce=int)
    purpose = SelectField(_l("Purpose"), validators=[DataRequired()])
    recipient_type = SelectField(_l("Referral recipient type"), validators=[Optional()])
    decision = SelectField(_l("Decision"), validators=[DataRequired()])
    given_by = SelectField(_l("Decided by"), validators=[DataRequired()])
    decided_on = StringField(_l("Date of the decision (YYYY-MM-DD)"), validators=[Optional()])
    reason = TextAreaField(
        _l("Reason, and where the signed paper is kept"),
        validators=[DataRequired(), Length(min=10, max=500)],
    )
