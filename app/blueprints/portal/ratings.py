"""Rating a closed ticket: the page a rating mail links to.

A face in the mail opens the page with that face picked (GET records nothing: mail scanners
open links); the customer confirms it, with a comment if they like, and may change it later.
"""
from flask import abort, render_template, request

from app.blueprints.portal import bp
from app.extensions import db
from app.models.customers import RATINGS
from app.services import customer_links, ratings
from app.services.customer_links import LinkError


@bp.route("/rate/<token>", methods=["GET", "POST"])
def rate(token: str):
    try:
        ticket = customer_links.ticket_from_token(token, customer_links.RATING)
    except LinkError as err:
        if err.expired:
            return render_template("customer/error.html", code=410, title="This link has expired",
                                   detail="Ratings can be given for 30 days after a ticket closes."), 410
        abort(404)
    current = ticket.rating
    value = request.values.get("value") or (current.value if current else "")
    comment = request.form.get("comment", current.comment if current else "")
    error = None
    if request.method == "POST":
        try:
            ratings.rate(ticket, request.form.get("value", ""), comment)
        except ratings.RatingError as err:
            db.session.rollback()
            error = str(err)
        else:
            db.session.commit()
            return render_template("customer/rated.html", ticket=ticket, rating=ticket.rating,
                                   faces=ratings.FACES, token=token)
    return render_template("customer/rate.html", ticket=ticket, token=token, faces=ratings.FACES,
                           choices=RATINGS, value=value if value in RATINGS else "", comment=comment,
                           error=error), 422 if error else 200
