"""Images and documents: data URLs, and guessing a media type from a URL."""

from __future__ import annotations

import os

from services.proxy.translate.ir import Media

_BY_EXTENSION = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}


def from_url(url: str) -> Media:
    """A data URL becomes inline data; anything else stays a URL with a guessed media type."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";", 1)[0] or "application/octet-stream"
        return Media(media_type, data=data)
    return Media(guess_type(url), url=url)


def to_url(media: Media) -> str:
    """A URL for formats that carry media as URLs (data URL for inline data)."""
    if media.data is not None:
        return f"data:{media.media_type};base64,{media.data}"
    return media.url or ""


def guess_type(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    return _BY_EXTENSION.get(os.path.splitext(path)[1].lower(), "image/jpeg")


def is_image(media: Media) -> bool:
    return media.media_type.startswith("image/")
