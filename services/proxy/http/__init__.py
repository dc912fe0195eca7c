"""The proxy as clients see it: the aiohttp app and its middleware, the routes of each client
format, client keys, CORS, and the objects handlers share."""
