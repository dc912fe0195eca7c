-- 0004: usage_hourly_totals, one row per UTC hour for everyone together (issue 7).
-- An admin's usage page over 30 days read 20x more rows from usage_hourly_users (one per user
-- and hour) than it needs. This rollup is kept by a trigger on usage_hourly_users, so it
-- changes in the collector's own transaction, exactly when and as that table does, and the
-- collector needs no change. Rows only ever grow: the trigger adds each row's increase.

CREATE TABLE usage_hourly_totals (
    bucket_start          timestamptz PRIMARY KEY,      -- UTC hour
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
    latency_hist          bigint[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}'
);

-- Element-wise difference of two histograms (written out, like usage_hist_add).
CREATE FUNCTION usage_hist_sub(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY[a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4], a[5] - b[5], a[6] - b[6], a[7] - b[7], a[8] - b[8], a[9] - b[9], a[10] - b[10], a[11] - b[11], a[12] - b[12], a[13] - b[13], a[14] - b[14], a[15] - b[15], a[16] - b[16]];

-- Adds what a usage_hourly_users row gained: all of it on INSERT, NEW - OLD on UPDATE (OLD is
-- NULL for an INSERT, hence the coalesce).
CREATE FUNCTION usage_hourly_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly_totals AS t (bucket_start, requests, failures, input_tokens,
        output_tokens, reasoning_tokens, cached_tokens, cache_read_tokens,
        cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum, latency_count,
        latency_ms_max, ttft_ms_sum, ttft_count, latency_hist)
    VALUES (NEW.bucket_start,
        NEW.requests - coalesce(OLD.requests, 0),
        NEW.failures - coalesce(OLD.failures, 0),
        NEW.input_tokens - coalesce(OLD.input_tokens, 0),
        NEW.output_tokens - coalesce(OLD.output_tokens, 0),
        NEW.reasoning_tokens - coalesce(OLD.reasoning_tokens, 0),
        NEW.cached_tokens - coalesce(OLD.cached_tokens, 0),
        NEW.cache_read_tokens - coalesce(OLD.cache_read_tokens, 0),
        NEW.cache_creation_tokens - coalesce(OLD.cache_creation_tokens, 0),
        NEW.total_tokens - coalesce(OLD.total_tokens, 0),
        NEW.cost_usd - coalesce(OLD.cost_usd, 0),
        NEW.latency_ms_sum - coalesce(OLD.latency_ms_sum, 0),
        NEW.latency_count - coalesce(OLD.latency_count, 0),
        NEW.latency_ms_max, NEW.ttft_ms_sum - coalesce(OLD.ttft_ms_sum, 0),
        NEW.ttft_count - coalesce(OLD.ttft_count, 0),
        usage_hist_sub(NEW.latency_hist,
                       coalesce(OLD.latency_hist, '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}')))
    ON CONFLICT (bucket_start) DO UPDATE SET
        requests = t.requests + EXCLUDED.requests,
        failures = t.failures + EXCLUDED.failures,
        input_tokens = t.input_tokens + EXCLUDED.input_tokens,
        output_tokens = t.output_tokens + EXCLUDED.output_tokens,
        reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
        cached_tokens = t.cached_tokens + EXCLUDED.cached_tokens,
        cache_read_tokens = t.cache_read_tokens + EXCLUDED.cache_read_tokens,
        cache_creation_tokens = t.cache_creation_tokens + EXCLUDED.cache_creation_tokens,
        total_tokens = t.total_tokens + EXCLUDED.total_tokens,
        cost_usd = t.cost_usd + EXCLUDED.cost_usd,
        latency_ms_sum = t.latency_ms_sum + EXCLUDED.latency_ms_sum,
        latency_count = t.latency_count + EXCLUDED.latency_count,
        latency_ms_max = greatest(t.latency_ms_max, EXCLUDED.latency_ms_max),
        ttft_ms_sum = t.ttft_ms_sum + EXCLUDED.ttft_ms_sum,
        ttft_count = t.ttft_count + EXCLUDED.ttft_count,
        latency_hist = usage_hist_add(t.latency_hist, EXCLUDED.latency_hist);
    RETURN NULL;
END $$;

CREATE TRIGGER usage_hourly_totals_follow
    AFTER INSERT OR UPDATE ON usage_hourly_users
    FOR EACH ROW EXECUTE FUNCTION usage_hourly_totals_follow();

INSERT INTO usage_hourly_totals (bucket_start, requests, failures, input_tokens, output_tokens,
    reasoning_tokens, cached_tokens, cache_read_tokens, cache_creation_tokens, total_tokens,
    cost_usd, latency_ms_sum, latency_count, latency_ms_max, ttft_ms_sum, ttft_count,
    latency_hist)
SELECT bucket_start, sum(requests), sum(failures), sum(input_tokens), sum(output_tokens),
    sum(reasoning_tokens), sum(cached_tokens), sum(cache_read_tokens),
    sum(cache_creation_tokens), sum(total_tokens), sum(cost_usd), sum(latency_ms_sum),
    sum(latency_count), max(latency_ms_max), sum(ttft_ms_sum), sum(ttft_count),
    usage_hist_sum(latency_hist)
FROM usage_hourly_users GROUP BY bucket_start;
