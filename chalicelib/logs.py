"""Structured JSON logging (Powertools Logger) with personal data masked in every line.

Every record is serialised, then passed through :func:`chalicelib.domain.people.mask_text`, so
an ID number or mobile number that slips into a message, an ``extra`` or a traceback never
reaches CloudWatch in clear.
"""
from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from .domain.people import mask_text


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools JSON formatter that masks ID and phone numbers in the final line."""

    def serialize(self, log: dict) -> str:
        return mask_text(super().serialize(log))


logger = Logger(service="bianmin", logger_formatter=MaskingFormatter())
