-- 0010: rollups for usage history filtered by model, provider, key or credential (issue 19).
--
-- A filtered usage page read every matching row of the full-detail hourly rollup
-- (usage_hourly): 30 days of one model at 10 million events were about 36,000 rows, 0.3 s.
-- Two rollups, kept by the collector in the statement that inserts the events (from exactly
-- the rows that statement inserted, like the others), cut that to a few thousand:
--
-- usage_daily: usage_hourly per UTC day (every dimension). The breakdowns and totals of a
--   filtered window read whole UTC days from it and only the edge hours from usage_hourly.
-- usage_hourly_dim_totals: usage_hourly_dims for everyone together (no user_id), one row per
--   hour and value. The series of a window filtered by one dimension (a model, a provider, a
--   key or a credential) reads one or two rows per hour from it; a user's series reads
--   usage_hourly_dims through the index added below.
--
-- The backfill holds SHARE locks on the source rollups, so a collector cannot commit events
-- between the copy and the end of this migration.

LOCK TABLE usage_hourly, usage_hourly_dims IN SHARE MODE;

-- fillfactor: rows of the current day are updated by every page of events; free room in their
-- page lets Postgres keep the new version there without touching the indexes (HOT update).
CREATE TABLE usage_daily (LIKE usage_hourly INCLUDING DEFAULTS) WITH (fillfactor = 70);
ALTER TABLE usage_daily
    ADD CONSTRAINT usage_daily_key UNIQUE NULLS NOT DISTINCT
        (bucket_start, user_id, api_key_id, provider, model, credential),
    ADD CONSTRAINT usage_daily_latency_hist_buckets CHECK (cardinality(latency_hist) = 27);
COMMENT ON COLUMN usage_daily.bucket_start IS 'UTC midnight';
CREATE INDEX usage_daily_user_idx ON usage_daily (user_id, bucket_start);
CREATE INDEX usage_daily_key_idx ON usage_daily (api_key_id, bucket_start);
CREATE INDEX usage_daily_model_idx ON usage_daily (model, bucket_start);
CREATE INDEX usage_daily_provider_idx ON usage_daily (provider, bucket_start);
CREATE INDEX usage_daily_credential_idx ON usage_daily (credential, bucket_start);

CREATE TABLE usage_hourly_dim_totals (
    bucket_start          timestamptz NOT NULL,         -- UTC hour
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
    latency_hist          bigint[] NOT NULL
        DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    latency_ms_min        integer,
    -- (dimension, provider, ...) first: a provider filter reads one range of this index.
    CONSTRAINT usage_hourly_dim_totals_key UNIQUE (dimension, provider, value, bucket_start),
    CONSTRAINT usage_hourly_dim_totals_dimension
        CHECK (dimension IN ('model', 'api_key', 'credential')),
    CONSTRAINT usage_hourly_dim_totals_latency_hist_buckets CHECK (cardinality(latency_hist) = 27)
) WITH (fillfactor = 70);
CREATE INDEX usage_hourly_dim_totals_value_idx
    ON usage_hourly_dim_totals (dimension, value, bucket_start);

-- One user's series filtered by one dimension.
CREATE INDEX usage_hourly_dims_user_value_idx
    ON usage_hourly_dims (user_id, dimension, value, bucket_start);

INSERT INTO usage_daily (bucket_start, user_id, api_key_id, provider, model, credential,
    requests, failures, input_tokens, output_tokens, reasoning_tokens, cached_tokens,
    cache_read_tokens, cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum,
    latency_count, latency_ms_max, latency_ms_min, ttft_ms_sum, ttft_count, latency_hist)
SELECT date_trunc('day', bucket_start, 'UTC'), user_id, api_key_id, provider, model, credential,
    sum(requests), sum(failures), sum(input_tokens), sum(output_tokens), sum(reasoning_tokens),
    sum(cached_tokens), sum(cache_read_tokens), sum(cache_creation_tokens), sum(total_tokens),
    sum(cost_usd), sum(latency_ms_sum), sum(latency_count), max(latency_ms_max),
    min(latency_ms_min), sum(ttft_ms_sum), sum(ttft_count), usage_hist_sum(latency_hist)
FROM usage_hourly GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO usage_hourly_dim_totals (bucket_start, dimension, provider, value,
    requests, failures, input_tokens, output_tokens, reasoning_tokens, cached_tokens,
    cache_read_tokens, cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum,
    latency_count, latency_ms_max, latency_ms_min, ttft_ms_sum, ttft_count, latency_hist)
SELECT bucket_start, dimension, provider, value,
    sum(requests), sum(failures), sum(input_tokens), sum(output_tokens), sum(reasoning_tokens),
    sum(cached_tokens), sum(cache_read_tokens), sum(cache_creation_tokens), sum(total_tokens),
    sum(cost_usd), sum(latency_ms_sum), sum(latency_count), max(latency_ms_max),
    min(latency_ms_min), sum(ttft_ms_sum), sum(ttft_count), usage_hist_sum(latency_hist)
FROM usage_hourly_dims GROUP BY 1, 2, 3, 4;
