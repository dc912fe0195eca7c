-- 0001: the whole product's schema. Later migrations only add to it (forward-only).
-- Conventions: bigint identity ids; timestamptz everywhere (sessions run in UTC); secrets are
-- stored as sha256 hex digests or as versioned ciphertext from services/core/crypto.py, never
-- in plaintext; `*_per_mtok` prices are USD per 1,000,000 tokens.

-- ---------------------------------------------------------------------------------------------
-- Accounts and sessions
-- ---------------------------------------------------------------------------------------------

CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text NOT NULL,
    password_hash       text NOT NULL,          -- Argon2id string from nacl.pwhash
    role                text NOT NULL DEFAULT 'user',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9_-]{3,50}$'),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'user'))
);
-- "Admin" and "admin" are the same person: uniqueness ignores case.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE sessions (
    id           text PRIMARY KEY,              -- sha256 hex of the random token in the cookie
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    ip_address   text,
    user_agent   text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Fixed-window counters shared by every dashboard replica (bucket e.g. 'login:ip:203.0.113.9').
CREATE TABLE rate_limit_counters (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_counters_expires_at_idx ON rate_limit_counters (expires_at);

-- ---------------------------------------------------------------------------------------------
-- Client API keys (DESIGN.md section 4)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE user_api_keys (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           text NOT NULL,
    key_sha256     text NOT NULL,               -- sha256 hex of the full `sk-...` key
    -- The `api_key_id` that usage events carry: first 16 hex of the sha256.
    key_id         text GENERATED ALWAYS AS (left(key_sha256, 16)) STORED,
    display_prefix text NOT NULL,               -- e.g. 'sk-AbC1' for lists; never the key
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    CONSTRAINT user_api_keys_key_sha256_key UNIQUE (key_sha256),
    CONSTRAINT user_api_keys_key_sha256_hex CHECK (key_sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX user_api_keys_user_id_idx ON user_api_keys (user_id);
CREATE INDEX user_api_keys_key_id_idx ON user_api_keys (key_id);

-- ---------------------------------------------------------------------------------------------
-- Providers: direct keys, custom OpenAI-compatible providers, groups, OAuth accounts
-- ---------------------------------------------------------------------------------------------

CREATE TABLE provider_keys (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider         text NOT NULL,             -- claude | gemini | codex | openai-compatibility ...
    name             text,
    key_sha256       text NOT NULL,
    masked_label     text NOT NULL,             -- e.g. 'sk-ant-…wxyz'
    secret_encrypted text,                      -- versioned SecretBox ciphertext
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provider_keys_key_sha256_key UNIQUE (key_sha256)
);
CREATE INDEX provider_keys_user_id_idx ON provider_keys (user_id);
CREATE INDEX provider_keys_provider_idx ON provider_keys (provider);

CREATE TABLE provider_groups (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    color      text,
    sort_order integer NOT NULL DEFAULT 0,
    is_active  boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provider_groups_user_name_key UNIQUE (user_id, name)
);

CREATE TABLE custom_providers (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id          bigint REFERENCES provider_groups (id) ON DELETE SET NULL,
    provider_id       text NOT NULL,            -- slug; the entry's name at the proxy
    name              text NOT NULL,
    base_url          text NOT NULL,
    prefix            text,
    proxy_url         text,
    headers           jsonb NOT NULL DEFAULT '{}'::jsonb,
    api_key_sha256    text,
    api_key_encrypted text,                     -- versioned SecretBox ciphertext
    api_key_masked    text,
    sort_order        integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT custom_providers_provider_id_key UNIQUE (provider_id)
);
CREATE INDEX custom_providers_user_id_idx ON custom_providers (user_id);
CREATE INDEX custom_providers_group_id_idx ON custom_providers (group_id);

CREATE TABLE custom_provider_models (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    custom_provider_id bigint NOT NULL REFERENCES custom_providers (id) ON DELETE CASCADE,
    upstream_name      text NOT NULL,
    alias              text,
    sort_order         integer NOT NULL DEFAULT 0,
    CONSTRAINT custom_provider_models_key UNIQUE NULLS NOT DISTINCT
        (custom_provider_id, upstream_name, alias)
);

CREATE TABLE custom_provider_excluded_models (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    custom_provider_id bigint NOT NULL REFERENCES custom_providers (id) ON DELETE CASCADE,
    pattern            text NOT NULL,
    CONSTRAINT custom_provider_excluded_models_key UNIQUE (custom_provider_id, pattern)
);

-- Which user owns which OAuth account (an auth file at the proxy).
CREATE TABLE oauth_accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL,
    account_name  text NOT NULL,                -- the auth file's name at the proxy
    account_email text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_accounts_account_name_key UNIQUE (account_name)
);
CREATE INDEX oauth_accounts_user_id_idx ON oauth_accounts (user_id);

CREATE TABLE model_preferences (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    excluded_models text[] NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE system_settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by bigint REFERENCES users (id) ON DELETE SET NULL
);

-- ---------------------------------------------------------------------------------------------
-- Audit log: survives the deletion of its actor (the username is a snapshot)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT now(),
    actor_user_id  bigint REFERENCES users (id) ON DELETE SET NULL,
    actor_username text,                        -- kept when the user row is gone
    action         text NOT NULL,               -- e.g. USER_LOGIN, API_KEY_REVOKED
    target_type    text,
    target         text,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip_address     text,
    user_agent     text
);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, created_at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target);

-- ---------------------------------------------------------------------------------------------
-- Model pricing (USD per 1M tokens). Lookups are case-insensitive on provider and model.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE model_pricing (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider              text NOT NULL,
    model                 text NOT NULL,
    display_name          text,
    input_per_mtok        numeric(14, 6) NOT NULL,
    output_per_mtok       numeric(14, 6) NOT NULL,
    cached_input_per_mtok numeric(14, 6),      -- NULL: priced as input
    cache_write_per_mtok  numeric(14, 6),      -- NULL: priced as input
    reasoning_per_mtok    numeric(14, 6),      -- NULL: 0 (usually billed inside output)
    currency              text NOT NULL DEFAULT 'USD',
    source                text NOT NULL DEFAULT 'manual',  -- manual | seed
    effective_from        timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    is_active             boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    updated_by            bigint REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT model_pricing_prices_check CHECK (
        input_per_mtok >= 0 AND output_per_mtok >= 0 AND cached_input_per_mtok >= 0
        AND cache_write_per_mtok >= 0 AND reasoning_per_mtok >= 0)
);
CREATE UNIQUE INDEX model_pricing_key
    ON model_pricing (lower(provider), lower(model), effective_from);
CREATE INDEX model_pricing_model_idx ON model_pricing (lower(model), effective_from DESC);

-- ---------------------------------------------------------------------------------------------
-- Usage: raw events (partitioned by month), hourly and daily rollups, collector bookkeeping
-- ---------------------------------------------------------------------------------------------

-- Latency histogram bucket lower bounds in ms; bucket i (1-based) covers
-- [bounds[i], bounds[i+1]). Rollups store one count per bucket in `latency_hist`.
CREATE FUNCTION usage_latency_bounds() RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN '{0,100,250,500,750,1000,1500,2000,3000,5000,7500,10000,15000,20000,30000,60000}'::integer[];

-- Approximate quantile (0..1) of a summed histogram, interpolated inside its bucket; the last
-- bucket interpolates up to `max_ms`. NULL when the histogram is empty.
CREATE FUNCTION usage_hist_quantile(hist bigint[], q double precision, max_ms integer)
    RETURNS double precision LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    bounds integer[] := usage_latency_bounds();
    total  numeric := 0;
    seen   numeric := 0;
    lo     double precision;
    hi     double precision;
    i      integer;
BEGIN
    SELECT coalesce(sum(x), 0) INTO total FROM unnest(hist) AS x;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. array_length(hist, 1) LOOP
        IF hist[i] > 0 AND seen + hist[i] >= q * total THEN
            lo := bounds[i];
            hi := CASE WHEN i < array_length(bounds, 1) THEN bounds[i + 1]
                       ELSE greatest(coalesce(max_ms, lo), lo) END;
            RETURN lo + (hi - lo) * greatest(q * total - seen, 0) / hist[i];
        END IF;
        seen := seen + hist[i];
    END LOOP;
    RETURN max_ms;
END $$;

-- Element-wise sum of two histograms. Written out (not a loop) so the planner inlines it.
CREATE FUNCTION usage_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY[a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6], a[7] + b[7], a[8] + b[8], a[9] + b[9], a[10] + b[10], a[11] + b[11], a[12] + b[12], a[13] + b[13], a[14] + b[14], a[15] + b[15], a[16] + b[16]];

-- usage_hist_sum(latency_hist): histogram of a whole group of rollup rows.
CREATE AGGREGATE usage_hist_sum(bigint[]) (
    SFUNC = usage_hist_add,
    STYPE = bigint[],
    INITCOND = '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    COMBINEFUNC = usage_hist_add,
    PARALLEL = SAFE
);

-- The price of (provider, model) in force at `at`: an exact provider match first, else a
-- model-only match when exactly one provider prices that model (the seed's lookup rules).
CREATE FUNCTION usage_price_for(provider text, model text, at timestamptz)
    RETURNS TABLE (input_per_mtok numeric, output_per_mtok numeric,
                   cached_input_per_mtok numeric, cache_write_per_mtok numeric,
                   reasoning_per_mtok numeric)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok,
           p.cache_write_per_mtok, p.reasoning_per_mtok
    FROM model_pricing p
    WHERE lower(p.model) = lower(usage_price_for.model) AND p.is_active
      AND p.effective_from <= usage_price_for.at
      AND (lower(p.provider) = lower(usage_price_for.provider)
           OR (SELECT count(DISTINCT lower(q.provider)) FROM model_pricing q
               WHERE lower(q.model) = lower(usage_price_for.model) AND q.is_active) = 1)
    ORDER BY lower(p.provider) = lower(usage_price_for.provider) DESC, p.effective_from DESC
    LIMIT 1
$$;

-- Cost in USD of one event, the seed's formula (prices per 1M tokens):
--   input x (input - cached) + cached_input x cached + output x output + reasoning x reasoning
-- Claude reports input without cache reads and writes, so there input is charged in full,
-- cache reads at the cached price and cache writes at the cache-write price. A missing cache
-- price falls back to the input price; a missing reasoning price is 0. No price: NULL.
CREATE FUNCTION usage_event_cost(
    provider text, input_tokens bigint, output_tokens bigint, reasoning_tokens bigint,
    cached_tokens bigint, cache_read_tokens bigint, cache_creation_tokens bigint,
    input_per_mtok numeric, output_per_mtok numeric, cached_input_per_mtok numeric,
    cache_write_per_mtok numeric, reasoning_per_mtok numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (CASE WHEN lower(provider) IN ('claude', 'anthropic') THEN
            input_tokens * input_per_mtok
            + cache_read_tokens * coalesce(cached_input_per_mtok, input_per_mtok)
            + cache_creation_tokens * coalesce(cache_write_per_mtok, input_per_mtok)
        ELSE
            greatest(input_tokens - cached_tokens, 0) * input_per_mtok
            + cached_tokens * coalesce(cached_input_per_mtok, input_per_mtok)
        END
        + output_tokens * output_per_mtok
        + reasoning_tokens * coalesce(reasoning_per_mtok, 0)
    ) / 1000000;

-- One row per upstream attempt (PROTOCOLS.md section 5). Unique key (event_id, ts): a unique
-- index on a partitioned table must contain the partition key, and a replayed event carries
-- the same timestamp as its first copy, so this key makes every replay a no-op.
CREATE TABLE usage_events (
    event_id              uuid NOT NULL,
    ts                    timestamptz NOT NULL,
    instance_id           text NOT NULL,
    seq                   bigint NOT NULL,
    request_id            text,
    api_key_id            text NOT NULL DEFAULT '',     -- 16 hex of sha256 of the client key
    user_key_id           bigint,     -- user_api_keys.id when known (no FK: history outlives keys)
    user_id               bigint,     -- owner at collection time (no FK, same reason)
    provider              text NOT NULL DEFAULT '',
    executor_type         text,
    auth_type             text,
    auth_index            text NOT NULL DEFAULT '',     -- the credential
    source                text,
    endpoint              text,
    model                 text NOT NULL DEFAULT '',
    alias                 text,
    latency_ms            integer,
    ttft_ms               integer,
    stream                boolean NOT NULL DEFAULT false,
    failed                boolean NOT NULL DEFAULT false,
    status_code           integer,
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    reasoning_tokens      bigint NOT NULL DEFAULT 0,
    cached_tokens         bigint NOT NULL DEFAULT 0,
    cache_read_tokens     bigint NOT NULL DEFAULT 0,
    cache_creation_tokens bigint NOT NULL DEFAULT 0,
    total_tokens          bigint NOT NULL DEFAULT 0,
    reasoning_effort      text,
    service_tier          text,
    client_ip             text,
    user_agent            text,
    cost_usd              numeric(20, 10) NOT NULL DEFAULT 0,
    collected_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_events_pkey PRIMARY KEY (event_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX usage_events_ts_idx ON usage_events (ts);
CREATE INDEX usage_events_user_ts_idx ON usage_events (user_id, ts);
CREATE INDEX usage_events_key_ts_idx ON usage_events (api_key_id, ts);
CREATE INDEX usage_events_model_ts_idx ON usage_events (model, ts);

-- Creates the month partition holding `at` unless it exists; returns its name. The collector
-- calls it ahead of time (this month and next) and on demand for late or early events.
CREATE FUNCTION usage_ensure_partition(at timestamptz) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', at, 'UTC');
    hi   timestamptz := lo + interval '1 month';
    name text := 'usage_events_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        -- Serialize creators so two sessions never race on the same name.
        PERFORM pg_advisory_xact_lock(7402212);
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                           name, lo, hi);
        END IF;
    END IF;
    RETURN name;
END $$;

-- Rollups hold sums, never averages, so rows merge by addition; all four tables share the
-- metric columns and are updated in the collector's transaction from the rows it inserted.
-- Dimensions: user_id NULL = no known owner; api_key_id '' = no client key.
-- usage_hourly: every dimension per UTC hour (the source of truth for rollup queries).
CREATE TABLE usage_hourly (
    bucket_start          timestamptz NOT NULL,         -- UTC hour
    user_id               bigint,
    api_key_id            text NOT NULL,
    provider              text NOT NULL,
    model                 text NOT NULL,
    credential            text NOT NULL,                -- auth_index
    requests              bigint NOT NULL DEFAULT 0,
    failures              bigint NOT NULL DEFAULT 0,
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    reasoning_tokens      bigint NOT NULL DEFAULT 0,
    cached_tokens         bigint NOT NULL DEFAULT 0,
    cache_read_tokens     bigint NOT NULL DEFAULT 0,
    cache_creation_tokens bigint NOT NULL DEFAULT 0,
    total_tokens          bigint NOT NULL DEFAULT 0,
    cost_usd              numeric(24, 10) NOT NULL DEFAULT 0,
    latency_ms_sum        bigint NOT NULL DEFAULT 0,
    latency_count         bigint NOT NULL DEFAULT 0,
    latency_ms_max        integer,
    ttft_ms_sum           bigint NOT NULL DEFAULT 0,
    ttft_count            bigint NOT NULL DEFAULT 0,
    latency_hist          bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    CONSTRAINT usage_hourly_key UNIQUE NULLS NOT DISTINCT
        (bucket_start, user_id, api_key_id, provider, model, credential)
);
CREATE INDEX usage_hourly_user_idx ON usage_hourly (user_id, bucket_start);
CREATE INDEX usage_hourly_key_idx ON usage_hourly (api_key_id, bucket_start);
CREATE INDEX usage_hourly_model_idx ON usage_hourly (model, bucket_start);

-- usage_hourly_users: per UTC hour and owner only; time series over long windows.
CREATE TABLE usage_hourly_users (
    bucket_start          timestamptz NOT NULL,         -- UTC hour
    user_id               bigint,
    requests              bigint NOT NULL DEFAULT 0,
    failures              bigint NOT NULL DEFAULT 0,
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    reasoning_tokens      bigint NOT NULL DEFAULT 0,
    cached_tokens         bigint NOT NULL DEFAULT 0,
    cache_read_tokens     bigint NOT NULL DEFAULT 0,
    cache_creation_tokens bigint NOT NULL DEFAULT 0,
    total_tokens          bigint NOT NULL DEFAULT 0,
    cost_usd              numeric(24, 10) NOT NULL DEFAULT 0,
    latency_ms_sum        bigint NOT NULL DEFAULT 0,
    latency_count         bigint NOT NULL DEFAULT 0,
    latency_ms_max        integer,
    ttft_ms_sum           bigint NOT NULL DEFAULT 0,
    ttft_count            bigint NOT NULL DEFAULT 0,
    latency_hist          bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    CONSTRAINT usage_hourly_users_key UNIQUE NULLS NOT DISTINCT (bucket_start, user_id)
);
CREATE INDEX usage_hourly_users_user_idx ON usage_hourly_users (user_id, bucket_start);

-- usage_hourly_dims / usage_daily_dims: one breakdown dimension at a time, per owner, so a
-- breakdown reads a few rows per bucket instead of every key x model x credential combination:
--   dimension 'model':      provider = the provider, value = the upstream model
--   dimension 'api_key':    provider = '',           value = the 16-hex api_key_id ('' = none)
--   dimension 'credential': provider = the provider, value = the auth_index
-- Long windows read whole UTC days from usage_daily_dims and the edge hours from
-- usage_hourly_dims.
CREATE TABLE usage_hourly_dims (
    bucket_start          timestamptz NOT NULL,         -- UTC hour
    user_id               bigint,
    dimension             text NOT NULL,
    provider              text NOT NULL,
    value                 text NOT NULL,
    requests              bigint NOT NULL DEFAULT 0,
    failures              bigint NOT NULL DEFAULT 0,
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    reasoning_tokens      bigint NOT NULL DEFAULT 0,
    cached_tokens         bigint NOT NULL DEFAULT 0,
    cache_read_tokens     bigint NOT NULL DEFAULT 0,
    cache_creation_tokens bigint NOT NULL DEFAULT 0,
    total_tokens          bigint NOT NULL DEFAULT 0,
    cost_usd              numeric(24, 10) NOT NULL DEFAULT 0,
    latency_ms_sum        bigint NOT NULL DEFAULT 0,
    latency_count         bigint NOT NULL DEFAULT 0,
    latency_ms_max        integer,
    ttft_ms_sum           bigint NOT NULL DEFAULT 0,
    ttft_count            bigint NOT NULL DEFAULT 0,
    latency_hist          bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    CONSTRAINT usage_hourly_dims_key UNIQUE NULLS NOT DISTINCT
        (bucket_start, user_id, dimension, provider, value),
    CONSTRAINT usage_hourly_dims_dimension CHECK (dimension IN ('model', 'api_key', 'credential'))
);
CREATE INDEX usage_hourly_dims_user_idx ON usage_hourly_dims (user_id, bucket_start);

CREATE TABLE usage_daily_dims (
    bucket_start          timestamptz NOT NULL,         -- UTC midnight
    user_id               bigint,
    dimension             text NOT NULL,
    provider              text NOT NULL,
    value                 text NOT NULL,
    requests              bigint NOT NULL DEFAULT 0,
    failures              bigint NOT NULL DEFAULT 0,
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    reasoning_tokens      bigint NOT NULL DEFAULT 0,
    cached_tokens         bigint NOT NULL DEFAULT 0,
    cache_read_tokens     bigint NOT NULL DEFAULT 0,
    cache_creation_tokens bigint NOT NULL DEFAULT 0,
    total_tokens          bigint NOT NULL DEFAULT 0,
    cost_usd              numeric(24, 10) NOT NULL DEFAULT 0,
    latency_ms_sum        bigint NOT NULL DEFAULT 0,
    latency_count         bigint NOT NULL DEFAULT 0,
    latency_ms_max        integer,
    ttft_ms_sum           bigint NOT NULL DEFAULT 0,
    ttft_count            bigint NOT NULL DEFAULT 0,
    latency_hist          bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    CONSTRAINT usage_daily_dims_key UNIQUE NULLS NOT DISTINCT
        (bucket_start, user_id, dimension, provider, value),
    CONSTRAINT usage_daily_dims_dimension CHECK (dimension IN ('model', 'api_key', 'credential'))
);
CREATE INDEX usage_daily_dims_user_idx ON usage_daily_dims (user_id, bucket_start);

-- Events the collector could not store (bad JSON shape, impossible values), kept for humans.
CREATE TABLE usage_events_rejected (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id  text NOT NULL,
    seq          bigint,
    event_id     text,
    reason       text NOT NULL,
    raw          jsonb NOT NULL,
    raw_sha256   text NOT NULL,                 -- replays of the same event are stored once
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_events_rejected_raw_key UNIQUE (instance_id, raw_sha256)
);
CREATE INDEX usage_events_rejected_at_idx ON usage_events_rejected (rejected_at);

-- Where the collector stands in each proxy instance's outbox.
CREATE TABLE collector_cursors (
    instance_id     text PRIMARY KEY,
    proxy_url       text NOT NULL,
    last_seq        bigint NOT NULL DEFAULT 0,
    events_stored   bigint NOT NULL DEFAULT 0,
    last_event_at   timestamptz,                -- timestamp of the newest stored event
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collector_cursors_proxy_url_idx ON collector_cursors (proxy_url, updated_at DESC);

-- One row: what the leader is doing, for /api/usage/collect and the freshness indicator.
CREATE TABLE collector_state (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    leader_id          text,
    leader_since       timestamptz,
    heartbeat_at       timestamptz,
    status             text NOT NULL DEFAULT 'idle',   -- idle | collecting | error | standby
    last_run_started_at timestamptz,
    last_success_at    timestamptz,
    last_error         text,
    last_error_at      timestamptz,
    events_stored      bigint NOT NULL DEFAULT 0,
    events_rejected    bigint NOT NULL DEFAULT 0,
    wake_requested_at  timestamptz,
    wake_reason        text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO collector_state (id) VALUES (true);
