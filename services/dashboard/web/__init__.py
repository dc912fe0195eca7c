"""What every feature's routes share, knowing no feature: middleware, CSRF, errors, JSON
responses, request bodies, flash messages, form handlers, rate limits, the page shell
(templating, formatting filters, wording, the shell's templates), hashing and masking secrets,
typed access to the app's state and the system_settings key-value SQL."""
