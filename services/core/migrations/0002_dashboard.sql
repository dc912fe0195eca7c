-- 0002: what the dashboard needs beyond 0001.
-- provider_keys.base_url: the upstream base URL sent with a claude/gemini/codex key (codex
-- keys without one are dropped by newer proxies). provider_keys.target: for an
-- openai-compatibility key, the name of the openai-compatibility entry it is added to.
ALTER TABLE provider_keys ADD COLUMN base_url text;
ALTER TABLE provider_keys ADD COLUMN target text;

-- Audit viewer filters by actor name and time; the username snapshot is what survives deletes.
CREATE INDEX audit_log_actor_username_idx ON audit_log (actor_username, created_at DESC);
