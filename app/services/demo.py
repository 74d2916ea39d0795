"""Demo data for trying Hilo: a small team, two dozen contacts, believable conversations.

`flask demo load` calls `load(admin_password)` and commits. Everything goes through the
same services the pages use (accounts, messaging), so the demo shows real behaviour:
followers, mentions in the inbox, mails in the outbox, tracked changes.
"""
import io
import struct
import zlib
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import (ChatbotScript, ChatbotStep, Contact, FaqArticle, FormField, LivechatChannel, LivechatRule,
                        MailAlias, Message, Notification, Thread)
from app.models.base import utcnow
from app.services import accounts, activities, helpdesk, messaging

ADMIN_EMAIL = "admin@example.com"

TEAM = [
    # name, email, role
    ("Alex Morgan", ADMIN_EMAIL, "admin"),
    ("Maya Fischer", "maya.fischer@example.com", "agent"),
    ("Tomás Ortega", "tomas.ortega@example.com", "agent"),
    ("Priya Raman", "priya.raman@example.com", "agent"),
    ("Jonas Berg", "jonas.berg@example.com", "agent"),
]

CONTACTS = [
    # name, email, phone, company, job title
    ("Elena Petrova", "elena.petrova@northwind-logistics.example", "+44 20 7946 0321", "Northwind Logistics", "Operations Manager"),
    ("Marcus Chen", "marcus@brightlinedental.example", "+1 415 555 0134", "Brightline Dental", "Practice Owner"),
    ("Sofia Lindqvist", "sofia.lindqvist@fjordanalytics.example", "+46 8 555 012 47", "Fjord Analytics", "CTO"),
    ("Daniel Okafor", "d.okafor@greenleafgrocers.example", "+44 161 496 0734", "Greenleaf Grocers", "Store Manager"),
    ("Hannah Weber", "h.weber@atlas-architekten.example", "+49 30 5557 2210", "Atlas Architekten", "Partner"),
    ("Lucas Moreau", "lucas.moreau@maisonverte.example", "+33 1 55 55 23 87", "Maison Verte", "Head of Purchasing"),
    ("Aisha Rahman", "aisha@rahmanlegal.example", "+1 212 555 0178", "Rahman & Cole LLP", "Office Manager"),
    ("Kenji Watanabe", "k.watanabe@sakura-print.example", "+81 3 5550 1294", "Sakura Print", "Production Lead"),
    ("Olivia Bennett", "olivia.bennett@harbourcafe.example", "+61 2 5550 4471", "Harbour Café Group", "Owner"),
    ("Mateo García", "mateo.garcia@solaria-energia.example", "+34 91 555 3012", "Solaria Energía", "Project Engineer"),
    ("Chloé Dubois", "chloe@atelierdubois.example", "+33 4 55 55 67 10", "Atelier Dubois", "Founder"),
    ("Samuel Adeyemi", "samuel.adeyemi@lagostech.example", "+234 1 555 0192", "LagosTech Hub", "Community Lead"),
    ("Ingrid Johansen", "ingrid.johansen@nordkapp-fisk.example", "+47 21 55 50 38", "Nordkapp Fisk", "Finance Director"),
    ("Raj Patel", "raj.patel@patelpharmacy.example", "+44 116 496 0881", "Patel Pharmacy", "Pharmacist"),
    ("Emily Carter", "emily.carter@carterandsons.example", "+1 617 555 0143", "Carter & Sons Hardware", "Buyer"),
    ("Giulia Romano", "giulia.romano@romanotessuti.example", "+39 02 5550 1836", "Romano Tessuti", "Export Manager"),
    ("Noah Schmidt", "noah@bergwerk-cycles.example", "+49 89 5557 0412", "Bergwerk Cycles", "Service Manager"),
    ("Fatima Zahra El Idrissi", "f.elidrissi@atlasvoyages.example", "+212 522 555 019", "Atlas Voyages", "Customer Care Lead"),
    ("Liam O'Brien", "liam.obrien@clovermedia.example", "+353 1 555 0827", "Clover Media", "Account Director"),
    ("Ana Souza", "ana.souza@verdebrasil.example", "+55 11 5555 0194", "Verde Brasil Orgânicos", "Logistics Coordinator"),
    ("William Foster", "w.foster@fosterfarms.example", "+64 9 555 0366", "Foster Farms", "General Manager"),
    ("Mei Lin", "mei.lin@jadegardenrestaurants.example", "+65 6555 0148", "Jade Garden Restaurants", "Operations Director"),
    ("Peter Novak", "peter.novak@vltava-software.example", "+420 2 5555 0923", "Vltava Software", "IT Administrator"),
    ("Grace Kim", "grace.kim@seoulbeauty.example", None, "Seoul Beauty Co.", "E-commerce Manager"),
    ("Ahmed Hassan", None, "+20 2 5555 0471", "Nile Textiles", "Procurement"),
]


def _png(width: int, height: int) -> bytes:
    """A small PNG (a soft indigo-to-teal gradient) so the demo shows an image thumbnail."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            t = x / max(width - 1, 1)
            band = 18 if (y // 12) % 4 == 0 and x % 40 < 30 else 0
            rows += bytes((int(99 - 86 * t) + band, int(102 + 46 * t) + band, int(241 - 105 * t)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def _file(name: str, data: bytes) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


class _Clock:
    """Back-dates what the demo posts, so threads read like weeks of work."""

    def __init__(self):
        self.now = utcnow()

    def at(self, days: float, hour: int = 10, minute: int = 0) -> datetime:
        day = (self.now - timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        return min(day, self.now - timedelta(minutes=5))

    def stamp(self, message, when: datetime) -> None:
        message.created_at = when
        for attachment in message.attachments:
            attachment.created_at = when
        for notification in db.session.scalars(
            db.select(Notification).where(Notification.message_id == message.id)
        ):
            notification.created_at = when
        # Each thread is written in order, so its last message is the latest stamped.
        db.session.get(Thread, message.thread_id).last_message_at = when


def load(admin_password: str) -> None:
    """Create the demo team (admin@example.com with `admin_password`), contacts and threads.

    The agents share the admin's password, so the demo can be tried from two browsers
    (mentions, live updates). Not committed: the caller commits.
    """
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        team = {}
        for name, email, role in TEAM:
            team[name.split()[0].lower()] = accounts.create_user(email, name, role=role, password=admin_password)
        team["maya"].signature = "Maya Fischer\nCustomer Success · Hilo Demo Co."
        # A helpdesk team; support@MAIL_DOMAIN opens its tickets (`flask mail ingest` shows it at once).
        support = helpdesk.create_team("Customer Support", members=[team["maya"], team["tomás"], team["priya"]],
                                       leads=[team["maya"]], assignment="balanced")
        db.session.add(MailAlias(local_part="support", target="ticket", team_id=support.id))
        contacts = {}
        for name, email, phone, company, title in CONTACTS:
            contact = Contact(name=name, email=email, phone=phone, company=company, job_title=title)
            db.session.add(contact)
            contacts[name.split()[0].lower()] = contact
        db.session.flush()
        clock = _Clock()
        for index, contact in enumerate(contacts.values()):
            thread = contact.ensure_thread()
            if contact.email:
                messaging.follow(thread, contact=contact)
            creator = (team["maya"], team["tomás"], team["priya"], team["jonas"])[index % 4]
            created = messaging.post_message(thread, creator, "Contact created", kind="notification", notify=False)
            when = clock.at(40 - index, 9, 15)
            clock.stamp(created, when)
            contact.created_at = when
        _conversations(team, contacts, clock)
        _activities(team, contacts)
        _team_chat(team, clock)
        _demo_sla(support)
        _ticket_history(support, team, contacts, clock)
        _tickets(support, team, contacts)
        _canned_responses(support, team["alex"])
        _help_center(support)
        _livechat(support, team)
        db.session.flush()
        # Notify now rather than by the queued jobs, so the first page opened shows a full inbox
        # (the jobs then find nothing left to do).
        for message_id in list(db.session.scalars(select(Message.id).where(Message.notify_pending.is_(True)))):
            messaging.deliver(message_id)
        db.session.flush()


def _post(clock, thread, author, body, when, **kwargs):
    message = messaging.post_message(thread, author, body, **kwargs)
    clock.stamp(message, when)
    return message


def _team_chat(team: dict, clock: _Clock) -> None:
    """Discuss: a public channel for everyone, a private one, and a direct message to the admin."""
    from app.services import discuss

    maya, tomas, priya, jonas, alex = (team["maya"], team["tomás"], team["priya"], team["jonas"], team["alex"])
    general = discuss.create_channel(alex, "general", description="Company-wide news and questions",
                                     members=[maya, tomas, priya, jonas])
    leads = discuss.create_channel(alex, "support-leads", description="Escalations and staffing",
                                   private=True, members=[maya])
    dm = discuss.direct_message(maya, alex)
    for channel, author, body, day, hour in (
        (general, alex, "Welcome to Hilo! Use #general for anything the whole team should see.", 6, 9),
        (general, priya, "The new returns policy goes live on Monday; the FAQ article is updated.", 2, 11),
        (general, jonas, "Thanks Priya. @Tomás Ortega can you check the Spanish translation?", 1, 10),
        (leads, maya, "Two agents are out on Friday: I will cover the morning queue.", 1, 16),
        (dm, maya, "Hi Alex, could you look at the Nordic Outdoors contract before the call?", 0, 9),
    ):
        message = discuss.post(channel, author, body)
        clock.stamp(message, clock.at(day, hour, 5))


def _conversations(team: dict, contacts: dict, clock: _Clock) -> None:
    maya, tomas, priya, jonas, alex = (team["maya"], team["tomás"], team["priya"], team["jonas"], team["alex"])

    # Elena: onboarding, a question for a colleague, a changed phone number.
    elena = contacts["elena"]
    thread = elena.ensure_thread()
    _post(clock, thread, maya,
          "Hi Elena,\n\nThanks for the call this morning. As promised, here is the onboarding checklist "
          "for your warehouse team. Tick off each step as you go and tell me if anything is unclear.\n\n"
          "Best,\nMaya", clock.at(13, 10, 12),
          files=[_file("onboarding-checklist.csv",
                       b"step,owner,status\nCreate user accounts,Elena,done\nImport SKU list,Warehouse,todo\n"
                       b"Connect label printer,IT,todo\nTraining session,Maya,planned\n")])
    _post(clock, thread, None,
          "Thanks Maya! We'll go through it with the team on Thursday.\n\nOne question: can we import our "
          "existing SKU list from a CSV? We have about 12,000 SKUs, most of them with size variants.",
          clock.at(12, 8, 41), author_contact=elena, subject="Re: Elena Petrova")
    _post(clock, thread, maya,
          "@Jonas Berg can you confirm the CSV import copes with their SKU format? ~12k rows, variants "
          "as separate columns today. They want to start Thursday.", clock.at(12, 9, 5), kind="note")
    _post(clock, thread, jonas,
          "Yes, as long as each variant is its own row. I'll prepare a sample file and send it to Elena. "
          "@Maya Fischer I'll copy you.", clock.at(11, 14, 30), kind="note")
    before = messaging.snapshot(elena)
    elena.phone = "+44 20 7946 0958"
    clock.stamp(messaging.track_changes(elena, before, tomas), clock.at(10, 11, 2))
    _post(clock, thread, jonas,
          "Hello Elena,\n\nHere is how the import expects variants: one row per SKU and size, with the parent "
          "reference in its own column. Send us a first batch of 100 rows and we'll check it before the full run.\n\n"
          "Kind regards,\nJonas", clock.at(9, 16, 20),
          files=[_file("sku-import-sample.csv",
                       b"sku,parent,name,size,stock\nNW-1001-S,NW-1001,Pallet wrap,S,120\n"
                       b"NW-1001-M,NW-1001,Pallet wrap,M,85\nNW-1001-L,NW-1001,Pallet wrap,L,40\n")])

    # Marcus: an invoice question, a colleague asked for help, an email address that changed.
    marcus = contacts["marcus"]
    thread = marcus.ensure_thread()
    messaging.follow(thread, user=priya)
    _post(clock, thread, None,
          "Hi, our March invoice shows 14 seats but we only have 11 people using Hilo. Could you check?",
          clock.at(6, 15, 3), author_contact=marcus, subject="Invoice question")
    _post(clock, thread, tomas,
          "@Priya Raman the March invoice for Brightline lists 14 seats; their admin page shows 11 active. "
          "Were three deactivated mid-month? If so we owe them a pro-rata credit.", clock.at(6, 15, 30), kind="note")
    _post(clock, thread, priya,
          "Right: three seats were deactivated on 9 March. Credit note for 3 seats × 22 days is ready; "
          "I've attached the calculation.", clock.at(5, 10, 45), kind="note",
          files=[_file("credit-calculation.csv",
                       b"seat,deactivated,days_unused,credit_eur\nseat-12,2025-03-09,22,16.13\n"
                       b"seat-13,2025-03-09,22,16.13\nseat-14,2025-03-09,22,16.13\n")])
    _post(clock, thread, tomas,
          "Hi Marcus,\n\nYou were right: three seats were deactivated on 9 March and still billed for the whole "
          "month. We've issued a credit of €48.39, which will appear on your April invoice.\n\n"
          "Sorry for the trouble!\nTomás", clock.at(5, 11, 10))
    before = messaging.snapshot(marcus)
    marcus.email = "marcus.chen@brightlinedental.example"
    clock.stamp(messaging.track_changes(marcus, before, tomas), clock.at(4, 9, 30))

    # Sofia: a screenshot from the customer and an internal heads-up to the admin.
    sofia = contacts["sofia"]
    thread = sofia.ensure_thread()
    _post(clock, thread, None,
          "Hello! Attached is a mock-up of the dashboard we'd like to build on top of your API. "
          "Is there a rate limit we should plan for?", clock.at(3, 13, 5), author_contact=sofia,
          subject="API dashboard", files=[_file("dashboard-mockup.png", _png(240, 150))])
    _post(clock, thread, priya,
          "@Alex Morgan Fjord Analytics wants to poll the API every 10 seconds for ~40 dashboards. "
          "Can we raise their limit, or should I suggest webhooks?", clock.at(3, 14, 0), kind="note")
    _post(clock, thread, alex,
          "Suggest webhooks first; if they still need polling we can give them 600 requests/minute.",
          clock.at(2, 9, 20), kind="note")
    _post(clock, thread, priya,
          "Hi Sofia,\n\nLovely mock-up! For live dashboards we recommend webhooks: you get an event the moment "
          "something changes instead of polling. If you need polling as well, the limit is 600 requests per "
          "minute for your plan.\n\nBest regards,\nPriya", clock.at(2, 10, 5))

    # Daniel: a short exchange, all public.
    daniel = contacts["daniel"]
    thread = daniel.ensure_thread()
    _post(clock, thread, maya,
          "Hi Daniel,\n\nJust checking in: how did the first week with the new shelf labels go?",
          clock.at(1, 9, 0))
    _post(clock, thread, None,
          "Really well, thanks. The staff love that prices update overnight. "
          "Could we get a second printer for the back office?", clock.at(1, 12, 40),
          author_contact=daniel, subject="Re: Daniel Okafor")
    _post(clock, thread, maya,
          "@Tomás Ortega Greenleaf would like a second label printer for the back office. "
          "Can you send them a quote?", clock.at(0.2, 8, 55), kind="note")

    # Hannah: an internal note only.
    hannah = contacts["hannah"]
    _post(clock, hannah.ensure_thread(), jonas,
          "Met Hannah at the Berlin trade fair. Interested in the project-tracking add-on for 12 architects; "
          "follow up after their summer break.", clock.at(8, 17, 45), kind="note")


def _tickets(support, team: dict, contacts: dict) -> None:
    """A few open tickets in the support team's stages (SPEC §4)."""
    stages = {stage.name: stage for stage in support.stages}
    for contact, title, priority, stage, description in (
        ("marcus", "Invoice charged twice in October", 2, "In progress",
         "Our card was charged twice for invoice INV-2041. Please refund one of them."),
        ("sofia", "API rate limit errors on the dashboards", 3, "New",
         "Since this morning every dashboard shows 429 errors."),
        ("lucas", "How do I add a second administrator?", 0, "Waiting on customer", ""),
        ("elena", "Export of last year's tickets", 1, "Solved", "We need a CSV export for our audit."),
    ):
        ticket = helpdesk.create_ticket(support, title, customer=contacts[contact], priority=priority,
                                        description=description, author=team["maya"])
        if stage != "New":
            helpdesk.move(ticket, stages[stage], team["maya"])


HISTORY_SUBJECTS = ("Cannot sign in after the update", "Wrong VAT number on invoice", "Parcel shows delivered, not here",
                    "Add two seats to our plan", "Password reset mail never arrives", "CSV export is empty",
                    "Change our billing address", "Two-factor code rejected", "Label printer prints blank pages",
                    "Refund for a cancelled order")


def _ticket_history(support, team: dict, contacts: dict, clock: _Clock) -> None:
    """Four weeks of solved tickets, so the dashboard and the reports have a history to show:
    made through the services, then back-dated (creation, the agent's reply, solving, SLA)."""
    import random

    rng = random.Random(42)
    agents = [team["maya"], team["tomás"], team["priya"]]
    customers = list(contacts.values())
    solved = next(stage for stage in support.stages if stage.name == "Solved")
    for n in range(34):
        created = clock.at(28 - n * 0.8, rng.choice((8, 9, 10, 11, 14, 15, 16)), rng.choice((5, 20, 40)))
        reply_after = timedelta(minutes=rng.choice((12, 25, 35, 50, 90, 180, 400, 620)))
        solved_after = reply_after + timedelta(hours=rng.choice((1, 2, 3, 4, 5, 8, 20, 30, 52)))
        if created + solved_after > clock.now - timedelta(minutes=10):
            continue
        agent = agents[n % 3]
        customer = customers[n % len(customers)]
        ticket = helpdesk.create_ticket(support, HISTORY_SUBJECTS[n % len(HISTORY_SUBJECTS)], customer=customer,
                                        priority=rng.choice((0, 0, 1, 1, 2, 3)), author=agent, assignee=agent)
        thread = ticket.ensure_thread()
        replied, closed = created + reply_after, created + solved_after
        for message in db.session.scalars(select(Message).where(Message.thread_id == thread.id)):
            clock.stamp(message, created)
        answer = messaging.post_message(thread, agent, f"Hi {customer.name.split()[0]}, thanks for the details: "
                                        "this is fixed on our side now.", notify=False)
        clock.stamp(answer, replied)
        helpdesk.move(ticket, solved, agent)
        for message in db.session.scalars(select(Message).where(Message.thread_id == thread.id,
                                                                Message.id > answer.id)):
            clock.stamp(message, closed)
        ticket.created_at, ticket.first_reply_at = created, replied
        ticket.closed_at = ticket.stage_changed_at = ticket.updated_at = closed
        for row in ticket.slas:
            hours = row.policy.first_reply_hours if row.target == "first_reply" else row.policy.resolution_hours
            row.started_at, row.deadline = created, created + timedelta(hours=hours)
            row.reached_at = replied if row.target == "first_reply" else closed
            row.status = "reached" if row.reached_at <= row.deadline else "failed"
            row.failure_notified_at = row.deadline if row.status == "failed" else None
        ticket.sla_failed = any(row.status == "failed" for row in ticket.slas)
        ticket.sla_deadline = None
    db.session.flush()


def _activities(team: dict, contacts: dict) -> None:
    """Planned activities on the demo contacts (SPEC §1.7): overdue, today and planned, for the admin too."""
    today = date.today()
    plan = [
        ("marcus", "tomás", "alex", "call", -2, "Confirm the credit note reached Marcus", ""),
        ("sofia", "priya", "alex", "todo", 0, "Decide on Fjord Analytics' API limit",
         "They poll every 10 s for ~40 dashboards; webhooks suggested first."),
        ("daniel", "maya", "tomás", "email", 1, "Send the label printer quote", ""),
        ("hannah", "jonas", "jonas", "meeting", 9, "Project-tracking add-on demo", "12 architects; after their summer break."),
        ("elena", "alex", "maya", "call", 3, "Quarterly check-in", ""),
        ("lucas", "maya", "priya", "upload", -1, "Signed purchase order", ""),
    ]
    for contact, author, assignee, kind, days, summary, note in plan:
        activities.schedule(contacts[contact].ensure_thread(), team[author], activity_type=kind,
                            due_date=today + timedelta(days=days), assignee=team[assignee],
                            summary=summary, note=note)


def _demo_sla(support) -> None:
    """SLA policies for the support team (SPEC §5): everyone gets answers within the working
    day; urgent tickets within the hour, and the leads hear of them before they are late."""
    from app.models import SlaPolicy

    support.use_sla = True
    db.session.add_all([
        SlaPolicy(team=support, name="Standard", first_reply_hours=8, next_reply_hours=16, resolution_hours=40,
                  escalate_hours=2, escalate_action="notify"),
        SlaPolicy(team=support, name="Urgent", min_priority=3, first_reply_hours=1, resolution_hours=8,
                  escalate_hours=0.5, escalate_action="notify"),
    ])
    db.session.flush()


def _canned_responses(support, admin) -> None:
    """Canned responses agents insert with ::shortcut (SPEC §4.1), with the counts of a few weeks'
    use, so that the most used come first in the menu."""
    from app.services import canned

    for shortcut, title, team, used, body in (
        ("greeting", "Warm greeting", None, 14,
         "Hello {{customer.first_name}},\n\nThanks for getting in touch. I'm looking into {{ticket.ref}} now "
         "and will get back to you today.\n\nBest,\n{{agent.first_name}}"),
        ("more-info", "Ask for details", None, 9,
         "Hi {{customer.first_name}},\n\nCould you send us a screenshot of what you see, and the steps that "
         "lead to it? That will help us reproduce the problem quickly."),
        ("refund", "Refund on its way", support, 6,
         "Hello {{customer.first_name}},\n\nWe have refunded the duplicate charge. It can take 3 to 5 business "
         "days to show on your statement.\n\n{{agent.name}}\n{{team.name}}"),
        ("solved", "Closing the ticket", support, 3,
         "Hi {{customer.first_name}},\n\nI'm marking {{ticket.ref}} as solved. If anything is still not right, "
         "just reply to this email and it reopens."),
    ):
        canned.create_response(shortcut=shortcut, title=title, body=body, team=team, by=admin).used_count = used


FAQ = (
    ("How do I reset my password?",
     "Open the sign-in page and choose **Forgot your password?**. We email you a link that works "
     "for a few hours.\n\nNo mail after five minutes? Check your spam folder, then write to us."),
    ("Which plans include phone support?",
     "Phone support comes with the **Business** and **Enterprise** plans:\n\n"
     "- Business: weekdays, 9:00–18:00 CET\n- Enterprise: around the clock\n\n"
     "Every plan includes email and chat support."),
    ("How do I export my data?",
     "Go to *Settings › Data* and choose **Export**. You get a ZIP of CSV files by email.\n\n"
     "Large accounts may take up to an hour."),
    ("Can I change the billing contact?",
     "Yes: an account owner can change it under *Settings › Billing*. Invoices already sent keep "
     "the old address."),
)


def _help_center(support) -> None:
    """The support team's website form (published, two extra fields) and a few FAQ answers."""
    support.use_website_form = True
    support.use_ratings = True
    support.customers_may_close = True
    support.description = "Questions about your account, billing or the product."
    support.form_side_text = ("**We answer within one working day**, Monday to Friday, 9:00–18:00 CET.\n\n"
                              "Urgent outage? Choose *Urgent* as the impact and we'll call you back.\n\n"
                              "Looking for an answer now? [Search the help center](/support).")
    support.form_fields = [
        FormField(key="impact", label="Impact", kind="select", choices="Low\nMedium\nHigh\nUrgent",
                  default="Medium", target="priority", sequence=10,
                  help_text="How much does this stop your work?"),
        FormField(key="order", label="Order number", kind="text", placeholder="e.g. HD-10293", sequence=20),
        FormField(key="phone", label="Phone", kind="phone", target="customer_phone", sequence=30,
                  help_text="Only if you'd like a call back."),
    ]
    for sequence, (title, body) in enumerate(FAQ):
        db.session.add(FaqArticle(team=support, title=title, body=body, sequence=sequence * 10))


DEMO_CHAT_KEY = "demo-website"  # the demo site of `make run` embeds /livechat/demo-website/loader.js


def _livechat(support, team: dict) -> None:
    """The website chat (SPEC §7): Maya and Tomás answer; when nobody is available a bot asks what
    it is about and opens a ticket for billing questions."""
    import secrets

    script = ChatbotScript(name="After hours")
    db.session.add(script)
    db.session.flush()
    topic = ChatbotStep(script_id=script.id, sequence=1, kind="question", message="What can we help you with?",
                        answers="My order\nBilling\nSomething else")
    db.session.add(topic)
    db.session.flush()
    db.session.add_all([
        ChatbotStep(script_id=script.id, sequence=2, kind="email", message="What is your email address? We will "
                    "answer you there.", only_if_step_id=topic.id, only_if_answer="Billing\nSomething else"),
        ChatbotStep(script_id=script.id, sequence=3, kind="free_text", message="Tell us more, and we will open a "
                    "ticket for you.", only_if_step_id=topic.id, only_if_answer="Billing\nSomething else"),
        ChatbotStep(script_id=script.id, sequence=4, kind="ticket", only_if_step_id=topic.id,
                    only_if_answer="Billing\nSomething else"),
        ChatbotStep(script_id=script.id, sequence=5, kind="text", message="You can follow any order from "
                    "“My orders” on our site. An operator will join as soon as one is free.",
                    only_if_step_id=topic.id, only_if_answer="My order"),
        ChatbotStep(script_id=script.id, sequence=6, kind="forward"),
    ])
    channel = LivechatChannel(name="Website chat", key=DEMO_CHAT_KEY, identity_secret=secrets.token_hex(32),
                              team=support, header_text="Hilo Demo Co. support", button_text="Chat with us",
                              welcome_message="Hi! 👋 Ask us anything about your order or your account.",
                              bot_name="Hilo bot", button_color="#4f46e5", header_color="#312e81")
    channel.operators = [team["maya"], team["tomás"]]
    channel.rules = [LivechatRule(sequence=10, url_pattern="", action="show", script_id=script.id,
                                  bot_only_when_offline=True)]
    support.use_livechat = True
    db.session.add(channel)
