"""What callers send, read safely: request bodies capped on their decoded bytes, with their
Content-Encoding (shared by the client, management and usage routes)."""
