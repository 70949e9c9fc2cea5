"""The one error the forms package raises: a form that cannot be built, with pyxform's text."""

from __future__ import annotations


class FormError(Exception):
    """A form does not compile or does not pass ODK Validate; the message says why."""

    def __init__(self, form: str, message: str) -> None:
        super().__init__(f"{form}: {message}")
        self.form = form
        self.message = message
