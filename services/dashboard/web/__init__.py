"""What every feature's routes share: middleware, CSRF, errors, JSON responses, request bodies,
flash messages, rate limits, the page shell (templating, formatting filters, wording) and typed
access to the app's state."""
