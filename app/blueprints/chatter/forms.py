"""Forms of the chatter: the composer, the note editor, adding a follower."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, MultipleFileField, StringField, TextAreaField
from wtforms.validators import Optional


class ComposerForm(FlaskForm):
    """POST /chatter/<thread_id>/messages: `body`, `kind` (comment|note), `files` and `cc`.

    The body may be empty when files are attached (messaging.check_body decides); the
    kind is read by the view, which asks access.can_post about it.
    """

    body = TextAreaField("Message")
    cc = StringField("Cc")
    files = MultipleFileField("Attach files")


class NoteEditForm(FlaskForm):
    body = TextAreaField("Note")


class FollowerForm(FlaskForm):
    """Exactly one of user_id / contact_id."""

    user_id = IntegerField(validators=[Optional()])
    contact_id = IntegerField(validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if bool(self.user_id.data) == bool(self.contact_id.data):
            self.user_id.errors = ["Pick one person or contact to add."]
            return False
        return True
