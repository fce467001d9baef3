"""Structured JSON logging (Powertools Logger) with personal data masked in every line.

Two layers:

- every record of every logger in the process (ours, botocore's, Chalice's, the Lambda
  runtime's) is created with its message already rendered and passed through
  :func:`chalicelib.domain.people.mask_text` (a log record factory), so an ID number or mobile
  number in a message or its arguments never reaches a handler in clear;
- our Powertools logger's final JSON line (extras, tracebacks included) is masked again by
  :class:`MaskingFormatter`.
"""
from __future__ import annotations

import logging

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from .domain.people import mask_text


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools JSON formatter that masks ID and phone numbers in the final line."""

    def serialize(self, log: dict) -> str:
        return mask_text(super().serialize(log))


def _install_masking_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "bianmin_masking", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return record
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        return record
    factory.bianmin_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_masking_record_factory()
logger = Logger(service="bianmin", logger_formatter=MaskingFormatter())
