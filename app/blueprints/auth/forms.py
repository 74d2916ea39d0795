"""Forms of the sign-in, password and profile pages."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.services import accounts


def add_error(form, err: Exception) -> None:
    """Show a service's refusal on the form field it names (`err.field`), else above the form."""
    field = getattr(form, getattr(err, "field", None) or "", None)
    (field.errors if field is not None else form.form_errors).append(str(err))


def strong_password(form, field) -> None:
    """WTForms validator: the password rules of `accounts.check_password_strength`."""
    email = getattr(form, "account_email", None)
    try:
        accounts.check_password_strength(field.data or "", email=email)
    except ValueError as err:
        raise ValidationError(str(err)) from None


def valid_email(form, field) -> None:
    """WTForms validator: an address `accounts.normalize_email` accepts."""
    try:
        accounts.normalize_email(field.data or "")
    except ValueError:
        raise ValidationError("Enter a valid email address, like name@example.com.") from None


class LoginForm(FlaskForm):
    # No format check on the address: every failure gets the same message.
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=accounts.MAX_PASSWORD_LENGTH)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField("Keep me signed in on this device")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254),
                                            valid_email],
                       render_kw={"autocomplete": "username", "autofocus": True})


class SetPasswordForm(FlaskForm):
    """A new password, typed twice. Set `account_email` to refuse the address as password."""

    account_email: str | None = None
    password = PasswordField("New password", validators=[DataRequired("Choose a password."), strong_password],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired("Type the password again."),
                                        EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class AcceptInviteForm(SetPasswordForm):
    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=120)],
                       render_kw={"autocomplete": "name"})


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)],
                       render_kw={"autocomplete": "name"})
    signature = TextAreaField(
        "Email signature",
        validators=[Length(max=accounts.MAX_SIGNATURE_CHARS,
                           message=f"Keep it under {accounts.MAX_SIGNATURE_CHARS} characters.")],
        render_kw={"rows": 4},
    )
    timezone = SelectField("Time zone", validate_choice=True)
    notify_by = RadioField("Notify me", choices=[
        SelectChoice("inbox", "In Hilo only (the bell)"),
        SelectChoice("email", "In Hilo and by email"),
    ], validators=[DataRequired("Choose how to be notified.")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(tz, tz.replace("_", " ")) for tz in accounts.timezone_choices()]


class AvatarForm(FlaskForm):
    avatar = FileField("New picture", validators=[FileRequired("Choose a picture to upload.")],
                       render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"})


class ChangePasswordForm(FlaskForm):
    """The current password, then a new one typed twice."""

    account_email: str | None = None
    current_password = PasswordField("Current password",
                                     validators=[DataRequired("Enter your current password.")],
                                     render_kw={"autocomplete": "current-password"})
    password = PasswordField("New password", validators=[DataRequired("Choose a password."), strong_password],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired("Type the password again."),
                                        EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})
