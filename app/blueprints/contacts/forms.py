"""The contact form (create and edit)."""
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.services import contacts


def valid_email(form, field) -> None:
    """A valid address, stored normalised as a Cc or a mail would store it (domain lower-case)."""
    if not field.data:
        return
    try:
        field.data = contacts.normalize_address(field.data)
    except contacts.AddressError:
        raise ValidationError("Enter a valid email address, like name@example.com.") from None


def strip(value):
    return value.strip() if isinstance(value, str) else value


class ContactForm(FlaskForm):
    name = StringField("Name", filters=[strip],
                       validators=[DataRequired("Enter the contact's name."), Length(max=160)],
                       render_kw={"autocomplete": "off", "autofocus": True})
    email = EmailField("Email", filters=[strip], validators=[Optional(), Length(max=254), valid_email],
                       render_kw={"autocomplete": "off", "placeholder": "name@company.com"})
    phone = TelField("Phone", filters=[strip], validators=[
        Optional(), Length(max=40),
        Regexp(r"^\+?[0-9 ()./\-]{3,}(?:\s*(?:x|ext\.?)\s*\d+)?$",
               message="Use digits, spaces and + ( ) - . only, e.g. +1 415 555 0134."),
    ], render_kw={"autocomplete": "off", "placeholder": "+1 415 555 0134"})
    company = StringField("Company", filters=[strip], validators=[Optional(), Length(max=160)],
                          render_kw={"autocomplete": "off"})
    job_title = StringField("Job title", filters=[strip], validators=[Optional(), Length(max=120)],
                            render_kw={"autocomplete": "off"})
    notes = TextAreaField("Notes", filters=[strip], validators=[Optional(), Length(max=5000)],
                          render_kw={"rows": 4, "placeholder": "Anything the team should know"})
