-- 0007: requests a client key's limits refused (issue 18) are usage events too.
--
-- The proxy records a refused request (over a rate limit, a spent budget, a model the key may
-- not use) as an event with nothing sent upstream: no provider, no credential, no tokens, the
-- status it answered (429 or 403) and `refused` naming the limit (`requests_per_minute`,
-- `tokens_per_minute`, `concurrent_requests`, `daily_budget`, `monthly_budget`,
-- `model_not_allowed`). NULL for every request that went upstream. The rollups count refused
-- requests as failed requests of the key and model, with no tokens and no cost.

ALTER TABLE usage_events ADD COLUMN refused text;
