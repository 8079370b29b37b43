import pytest

from tests.support.smtp import SMTPServer

SITE = "https://accrual.example"


def render(subscription):
    """A test issue: the same content for everyone."""
    return ("Accrual briefing", "<html><body><h1>Briefing</h1><p>Revenue moved.</p></body></html>", "Revenue moved.")


def renderer(issue_key):
    """NEWSLETTER_RENDERERS' factory for the "test" kind."""
    return render


@pytest.fixture(autouse=True)
def newsletter_settings(settings):
    settings.SITE_URL = SITE
    settings.NEWSLETTER_RENDERERS = {"test": "tests.newsletter.conftest.renderer"}
    settings.NEWSLETTER_SIGNUP_RATE_LIMITS = "3/h/key,20/h/ip"
    return settings


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1 that Django's SMTP backend sends to."""
    with SMTPServer() as server:
        server.settings(settings)
        yield server
