"""Bianmin (便民): the Chalice app. Registers blueprints and event handlers; no logic here."""
from chalice import Chalice, Rate

from chalicelib import settings
from chalicelib.api.admin import bp as admin_bp
from chalicelib.api.auth import bp as auth_bp
from chalicelib.api.calendar_admin import bp as calendar_admin_bp
from chalicelib.api.catalog_admin import bp as catalog_admin_bp
from chalicelib.api.cases import bp as cases_bp
from chalicelib.api.consents import bp as consents_bp
from chalicelib.api.documents import bp as documents_bp
from chalicelib.api.materials import bp as materials_bp
from chalicelib.api.open311 import bp as open311_bp
from chalicelib.api.operator import bp as operator_bp
from chalicelib.api.operators_admin import bp as operators_admin_bp
from chalicelib.api.public import bp as public_bp
from chalicelib.api.security import bp as security_bp
from chalicelib.api.webhooks import bp as webhooks_bp
from chalicelib.api.workbench import bp as workbench_bp
from chalicelib.handlers import consumers, webhooks

app = Chalice(app_name="bianmin")
app.api.binary_types.append("application/pdf")  # POST /v1/public/documents/verification takes a PDF
app.register_blueprint(security_bp)  # the token authorizer; every other blueprint uses it
app.register_blueprint(public_bp)
app.register_blueprint(open311_bp)
app.register_blueprint(auth_bp)
app.register_blueprint(cases_bp)
app.register_blueprint(consents_bp)
app.register_blueprint(documents_bp)
app.register_blueprint(materials_bp)
app.register_blueprint(admin_bp)
app.register_blueprint(calendar_admin_bp)
app.register_blueprint(catalog_admin_bp)
app.register_blueprint(operator_bp)
app.register_blueprint(operators_admin_bp)
app.register_blueprint(webhooks_bp)
app.register_blueprint(workbench_bp)


@app.on_sqs_message(queue=settings.CASE_INTAKE_QUEUE, batch_size=10)
def on_case_intake(event):
    """Classify submitted cases (immediate/promised/agency) and set the first due date."""
    return consumers.case_intake(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.OPERATOR_INTAKE_QUEUE, batch_size=10)
def on_operator_intake(event):
    """Third-party station operators' case intake over SQS."""
    return consumers.operator_intake(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.WEBHOOK_QUEUE, batch_size=10)
def on_webhook_delivery(event):
    """Signed callbacks to station operators, retried with backoff, then dead-lettered."""
    return webhooks.webhook_delivery(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.CASE_EVENTS_QUEUE, batch_size=10)
def on_case_event(event):
    """Applicant messages and operator webhooks for every committed case state change."""
    return consumers.case_events(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.DOCUMENTS_QUEUE, batch_size=5)
def on_document_request(event):
    """Generate, e-seal and store receipts, one-time notices and decisions."""
    return consumers.case_documents(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.PUBLICITY_QUEUE, batch_size=5)
def on_publicity_request(event):
    """Eight-publicity notices (HTML, A4 PDF, QR code) of one item in one township per message."""
    return consumers.publicity_requests(event.to_dict(), event.context)


@app.on_sqs_message(queue=settings.MATERIAL_UPLOADS_QUEUE, batch_size=10)
def on_material_upload(event):
    """Uploaded materials (S3 object-created events): check, fingerprint and attach, or refuse."""
    return consumers.material_uploads(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="republish_case_events")
def republish_case_events(event):
    """Publish case events whose publish after their commit was lost (transactional outbox)."""
    return consumers.republish_case_events()


@app.schedule(Rate(2, unit=Rate.MINUTES), name="requeue_stalled_intake")
def requeue_stalled_intake(event):
    """Re-publish intake events for cases still unclassified after a few minutes."""
    return consumers.requeue_stalled_intake()


@app.schedule(Rate(settings.DEADLINE_SWEEP_MINUTES, unit=Rate.MINUTES), name="sweep_deadlines")
def sweep_deadlines(event):
    """Yellow and red deadline warnings, each announced once to the staff who must act."""
    return consumers.sweep_deadlines(event.context)
