"""A refused key stops delivery to its integration until the key changes or the merchant
resumes it: sending on with a key the provider refused would only fail every row."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.provider_http import ProviderError
from services.core.tables import IntegrationStatus, OutboxMessage
from services.dispatch.keys import key_fingerprint
from services.dispatch.outbox import PENDING, SENDING


def record_auth_failure(
    session: Session, integration: str, api_key: str, error: ProviderError
) -> None:
    """Stop the integration: which key was refused (its fingerprint) and the provider's words."""
    status = session.get(IntegrationStatus, integration) or IntegrationStatus(name=integration)
    status.key_fingerprint = key_fingerprint(api_key)
    status.auth_failed_at = utcnow()
    status.last_error = str(error)[:2000]
    status.updated_at = utcnow()
    session.add(status)
    session.commit()


def refused_error(session: Session, integration: str, api_key: str) -> str | None:
    """The provider's words for the refusal while the refused key is still the one set; None
    when delivery is not stopped. Reads only (the dashboard, a dry run)."""
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None:
        return None
    if status.key_fingerprint != key_fingerprint(api_key):
        return None  # a new key: the next delivery pass resumes
    return status.last_error


def stopped(session: Session, integration: str, api_key: str) -> str:
    """Why delivery to `integration` is stopped ('' when it is not); a new key clears it."""
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None:
        return ""
    if status.key_fingerprint != key_fingerprint(api_key):
        status.auth_failed_at = None
        status.last_error = ""
        status.key_fingerprint = key_fingerprint(api_key)
        status.updated_at = utcnow()
        session.add(status)
        session.commit()
        return ""
    return f"key refused: {status.last_error}"


def waiting(session: Session, integration: str) -> int:
    """Rows left pending (or mid-send) for an integration: what a stop holds back."""
    return int(
        session.exec(
            select(func.count()).where(
                col(OutboxMessage.status).in_((PENDING, SENDING)),
                OutboxMessage.integration == integration,
            )
        ).one()
    )


def resume_integration(session: Session, integration: str) -> bool:
    """Clear a refused-key stop without changing the key (the merchant fixed its permissions
    at the provider). True when it was stopped."""
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None:
        return False
    status.auth_failed_at = None
    status.updated_at = utcnow()
    session.add(status)
    session.flush()
    return True
