"""Machine endpoints. `POST /api/mail/inbound`: a raw RFC 822 mail in the body, for mail services
that deliver by webhook (and for MTAs that prefer HTTP to a pipe).

Authenticated with `Authorization: Bearer <MAIL_INBOUND_TOKEN>`; without that setting the endpoint
does not exist (404). `?recipient=` (repeatable) passes the envelope recipients. Answers JSON:
200 stored (routed, caught, a duplicate, or unparseable and kept for an admin), 422 refused
(nothing of ours was addressed: bounce it), 413 too large, 401 bad token, 503 try again later.
"""
import hmac

from flask import abort, current_app, jsonify, request
from sqlalchemy.exc import OperationalError

from app.blueprints.api import bp
from app.extensions import csrf, db
from app.services import mailgate

csrf.exempt(bp)


def _authorised() -> bool:
    token = current_app.config.get("MAIL_INBOUND_TOKEN")
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())


@bp.post("/mail/inbound")
def mail_inbound():
    if not _authorised():
        return jsonify(error="a valid bearer token is required"), 401, {"WWW-Authenticate": "Bearer"}
    limit = current_app.config["MAIL_MAX_BYTES"]
    if (request.content_length or 0) > limit:
        return jsonify(error=f"the mail is larger than {limit // (1024 * 1024)} MB"), 413
    raw = request.get_data(cache=False)
    if not raw.strip():
        return jsonify(error="the body must be the raw mail (RFC 822)"), 400
    try:
        outcome = mailgate.ingest(raw, request.args.getlist("recipient"))
    except OperationalError:
        db.session.rollback()
        return jsonify(error="cannot store the mail now; try again later"), 503, {"Retry-After": "60"}
    body = {"status": outcome.status, "reason": outcome.reason, "id": outcome.inbound_id}
    return jsonify(body), 422 if outcome.status == "bounced" else 200
