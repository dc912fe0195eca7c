-- 0008: per-client-key limits set in the dashboard (issue 18, docs/limits.md).
--
-- `limits` holds what an admin set for one key, in the proxy's field names
-- (`requests-per-minute`, `tokens-per-minute`, `concurrent-requests`, `allowed-models`,
-- `daily-budget-usd`, `monthly-budget-usd`); `{}` means the key follows its owner's role
-- default (system_settings `limits.role_defaults`). The dashboard pushes the effective limits
-- of every active key to the proxies' `api-key-limits`.

ALTER TABLE user_api_keys ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'::jsonb;
