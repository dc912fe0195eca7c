"""Local fakes of the OAuth subscription providers' real services (see README.md)."""

from tests.fakes.oauth.harness import OAuthFakes
from tests.fakes.oauth.recording import Recorded, RequestLog
from tests.fakes.oauth.state import Account, DevicePolicy, TokenSet
from tests.fakes.wire_base import Reply

__all__ = ["Account", "DevicePolicy", "OAuthFakes", "Recorded", "Reply", "RequestLog", "TokenSet"]
