"""Alerts: events announced to operators through the log and signed webhooks."""

from lockgate.alerts.delivery import WebhookTarget, signature
from lockgate.alerts.dispatcher import AlertDispatcher
from lockgate.alerts.events import EVENTS

__all__ = ["EVENTS", "AlertDispatcher", "WebhookTarget", "signature"]
