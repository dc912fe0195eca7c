"""The door: each client body is parsed, bounded and checked against its format's schema before
anything reads it, so a malformed body gets a 400 in the client's format naming the field,
instead of a 500 from deep inside a translator or a confusing error from the upstream.
"""

from .gate import Endpoint, admit

__all__ = ["Endpoint", "admit"]
