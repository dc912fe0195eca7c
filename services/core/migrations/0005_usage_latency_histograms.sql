-- 0005: finer latency histograms, the observed minimum, and quantiles kept inside [min, max]
-- (issue 11).
--
-- The 16 buckets of 0001 started at 0-100 ms, so a model answering in 0-5 ms showed a p95 of
-- 95 ms: the quantile was interpolated across the whole first bucket. Histograms now have 27
-- buckets, log-spaced from 1 ms (1.5x to 2.5x apart: 0, 1, 2, 3, 5, 10, 20, 30, 50, 100, 150,
-- 250, 500, then the old bounds up to 60 s, 120 s, 300 s and above), and every rollup keeps
-- the smallest latency (`latency_ms_min`) next to the largest, so usage_hist_quantile
-- interpolates only between what was observed and never answers outside [min, max]. More
-- buckets would cost every history query one more array read per rollup row (docs/usage.md).
--
-- Old rows are converted in place (one layout for every row keeps the history queries as they
-- are). The new bounds contain every old bound, so each old bucket maps to a run of new
-- buckets: its count is spread over them in proportion to their width (the uniform spread
-- the old interpolation assumed), the highest non-empty bucket only up to the row's maximum,
-- with cumulative rounding so every old bucket keeps exactly its count. Counts below each old
-- bound are therefore unchanged, and a quantile of old data still lies in the bucket it lay
-- in before, now also clamped by the row's maximum. An old row's minimum is unknown; it is set
-- to the lower bound of its first non-empty old bucket, which no recorded latency was below.
-- usage_hourly_totals is recomputed from usage_hourly_users (the trigger is off meanwhile).

ALTER TABLE usage_hourly_users DISABLE TRIGGER usage_hourly_totals_follow;
DROP AGGREGATE usage_hist_sum(bigint[]);
DROP FUNCTION usage_hist_add(bigint[], bigint[]);
DROP FUNCTION usage_hist_sub(bigint[], bigint[]);
DROP FUNCTION usage_hist_quantile(bigint[], double precision, integer);

-- The old histogram of a row in the new layout (see above); used by this migration only.
-- Written out, one expression per new bucket, so it runs inline on every row without a loop.
-- The highest non-empty old bucket is the one holding the row's maximum: it ends there.
CREATE FUNCTION usage_hist_refine(c bigint[], max_ms integer) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY[
        CASE WHEN c[1] = 0 OR 0 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(1, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (0 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 1 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(2, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (1 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 2 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(3, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (2 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 3 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(5, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (3 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 5 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(10, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (5 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 10 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(20, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (10 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 20 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(30, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (20 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 30 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(50, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (30 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[1] = 0 OR 50 >= least(100, greatest(coalesce(max_ms, 0) + 1, 1)) THEN 0 ELSE (round(c[1] * (least(100, least(100, greatest(coalesce(max_ms, 0) + 1, 1))) - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)) - round(c[1] * (50 - 0)::float8 / (least(100, greatest(coalesce(max_ms, 0) + 1, 1)) - 0)))::bigint END,
        CASE WHEN c[2] = 0 OR 100 >= least(250, greatest(coalesce(max_ms, 100) + 1, 101)) THEN 0 ELSE (round(c[2] * (least(150, least(250, greatest(coalesce(max_ms, 100) + 1, 101))) - 100)::float8 / (least(250, greatest(coalesce(max_ms, 100) + 1, 101)) - 100)) - round(c[2] * (100 - 100)::float8 / (least(250, greatest(coalesce(max_ms, 100) + 1, 101)) - 100)))::bigint END,
        CASE WHEN c[2] = 0 OR 150 >= least(250, greatest(coalesce(max_ms, 100) + 1, 101)) THEN 0 ELSE (round(c[2] * (least(250, least(250, greatest(coalesce(max_ms, 100) + 1, 101))) - 100)::float8 / (least(250, greatest(coalesce(max_ms, 100) + 1, 101)) - 100)) - round(c[2] * (150 - 100)::float8 / (least(250, greatest(coalesce(max_ms, 100) + 1, 101)) - 100)))::bigint END,
        CASE WHEN c[3] = 0 OR 250 >= least(500, greatest(coalesce(max_ms, 250) + 1, 251)) THEN 0 ELSE (round(c[3] * (least(500, least(500, greatest(coalesce(max_ms, 250) + 1, 251))) - 250)::float8 / (least(500, greatest(coalesce(max_ms, 250) + 1, 251)) - 250)) - round(c[3] * (250 - 250)::float8 / (least(500, greatest(coalesce(max_ms, 250) + 1, 251)) - 250)))::bigint END,
        CASE WHEN c[4] = 0 OR 500 >= least(750, greatest(coalesce(max_ms, 500) + 1, 501)) THEN 0 ELSE (round(c[4] * (least(750, least(750, greatest(coalesce(max_ms, 500) + 1, 501))) - 500)::float8 / (least(750, greatest(coalesce(max_ms, 500) + 1, 501)) - 500)) - round(c[4] * (500 - 500)::float8 / (least(750, greatest(coalesce(max_ms, 500) + 1, 501)) - 500)))::bigint END,
        CASE WHEN c[5] = 0 OR 750 >= least(1000, greatest(coalesce(max_ms, 750) + 1, 751)) THEN 0 ELSE (round(c[5] * (least(1000, least(1000, greatest(coalesce(max_ms, 750) + 1, 751))) - 750)::float8 / (least(1000, greatest(coalesce(max_ms, 750) + 1, 751)) - 750)) - round(c[5] * (750 - 750)::float8 / (least(1000, greatest(coalesce(max_ms, 750) + 1, 751)) - 750)))::bigint END,
        CASE WHEN c[6] = 0 OR 1000 >= least(1500, greatest(coalesce(max_ms, 1000) + 1, 1001)) THEN 0 ELSE (round(c[6] * (least(1500, least(1500, greatest(coalesce(max_ms, 1000) + 1, 1001))) - 1000)::float8 / (least(1500, greatest(coalesce(max_ms, 1000) + 1, 1001)) - 1000)) - round(c[6] * (1000 - 1000)::float8 / (least(1500, greatest(coalesce(max_ms, 1000) + 1, 1001)) - 1000)))::bigint END,
        CASE WHEN c[7] = 0 OR 1500 >= least(2000, greatest(coalesce(max_ms, 1500) + 1, 1501)) THEN 0 ELSE (round(c[7] * (least(2000, least(2000, greatest(coalesce(max_ms, 1500) + 1, 1501))) - 1500)::float8 / (least(2000, greatest(coalesce(max_ms, 1500) + 1, 1501)) - 1500)) - round(c[7] * (1500 - 1500)::float8 / (least(2000, greatest(coalesce(max_ms, 1500) + 1, 1501)) - 1500)))::bigint END,
        CASE WHEN c[8] = 0 OR 2000 >= least(3000, greatest(coalesce(max_ms, 2000) + 1, 2001)) THEN 0 ELSE (round(c[8] * (least(3000, least(3000, greatest(coalesce(max_ms, 2000) + 1, 2001))) - 2000)::float8 / (least(3000, greatest(coalesce(max_ms, 2000) + 1, 2001)) - 2000)) - round(c[8] * (2000 - 2000)::float8 / (least(3000, greatest(coalesce(max_ms, 2000) + 1, 2001)) - 2000)))::bigint END,
        CASE WHEN c[9] = 0 OR 3000 >= least(5000, greatest(coalesce(max_ms, 3000) + 1, 3001)) THEN 0 ELSE (round(c[9] * (least(5000, least(5000, greatest(coalesce(max_ms, 3000) + 1, 3001))) - 3000)::float8 / (least(5000, greatest(coalesce(max_ms, 3000) + 1, 3001)) - 3000)) - round(c[9] * (3000 - 3000)::float8 / (least(5000, greatest(coalesce(max_ms, 3000) + 1, 3001)) - 3000)))::bigint END,
        CASE WHEN c[10] = 0 OR 5000 >= least(7500, greatest(coalesce(max_ms, 5000) + 1, 5001)) THEN 0 ELSE (round(c[10] * (least(7500, least(7500, greatest(coalesce(max_ms, 5000) + 1, 5001))) - 5000)::float8 / (least(7500, greatest(coalesce(max_ms, 5000) + 1, 5001)) - 5000)) - round(c[10] * (5000 - 5000)::float8 / (least(7500, greatest(coalesce(max_ms, 5000) + 1, 5001)) - 5000)))::bigint END,
        CASE WHEN c[11] = 0 OR 7500 >= least(10000, greatest(coalesce(max_ms, 7500) + 1, 7501)) THEN 0 ELSE (round(c[11] * (least(10000, least(10000, greatest(coalesce(max_ms, 7500) + 1, 7501))) - 7500)::float8 / (least(10000, greatest(coalesce(max_ms, 7500) + 1, 7501)) - 7500)) - round(c[11] * (7500 - 7500)::float8 / (least(10000, greatest(coalesce(max_ms, 7500) + 1, 7501)) - 7500)))::bigint END,
        CASE WHEN c[12] = 0 OR 10000 >= least(15000, greatest(coalesce(max_ms, 10000) + 1, 10001)) THEN 0 ELSE (round(c[12] * (least(15000, least(15000, greatest(coalesce(max_ms, 10000) + 1, 10001))) - 10000)::float8 / (least(15000, greatest(coalesce(max_ms, 10000) + 1, 10001)) - 10000)) - round(c[12] * (10000 - 10000)::float8 / (least(15000, greatest(coalesce(max_ms, 10000) + 1, 10001)) - 10000)))::bigint END,
        CASE WHEN c[13] = 0 OR 15000 >= least(20000, greatest(coalesce(max_ms, 15000) + 1, 15001)) THEN 0 ELSE (round(c[13] * (least(20000, least(20000, greatest(coalesce(max_ms, 15000) + 1, 15001))) - 15000)::float8 / (least(20000, greatest(coalesce(max_ms, 15000) + 1, 15001)) - 15000)) - round(c[13] * (15000 - 15000)::float8 / (least(20000, greatest(coalesce(max_ms, 15000) + 1, 15001)) - 15000)))::bigint END,
        CASE WHEN c[14] = 0 OR 20000 >= least(30000, greatest(coalesce(max_ms, 20000) + 1, 20001)) THEN 0 ELSE (round(c[14] * (least(30000, least(30000, greatest(coalesce(max_ms, 20000) + 1, 20001))) - 20000)::float8 / (least(30000, greatest(coalesce(max_ms, 20000) + 1, 20001)) - 20000)) - round(c[14] * (20000 - 20000)::float8 / (least(30000, greatest(coalesce(max_ms, 20000) + 1, 20001)) - 20000)))::bigint END,
        CASE WHEN c[15] = 0 OR 30000 >= least(60000, greatest(coalesce(max_ms, 30000) + 1, 30001)) THEN 0 ELSE (round(c[15] * (least(60000, least(60000, greatest(coalesce(max_ms, 30000) + 1, 30001))) - 30000)::float8 / (least(60000, greatest(coalesce(max_ms, 30000) + 1, 30001)) - 30000)) - round(c[15] * (30000 - 30000)::float8 / (least(60000, greatest(coalesce(max_ms, 30000) + 1, 30001)) - 30000)))::bigint END,
        CASE WHEN c[16] = 0 OR 60000 >= greatest(coalesce(max_ms, 60000) + 1, 60001) THEN 0 ELSE (round(c[16] * (least(120000, greatest(coalesce(max_ms, 60000) + 1, 60001)) - 60000)::float8 / (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)) - round(c[16] * (60000 - 60000)::float8 / (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)))::bigint END,
        CASE WHEN c[16] = 0 OR 120000 >= greatest(coalesce(max_ms, 60000) + 1, 60001) THEN 0 ELSE (round(c[16] * (least(300000, greatest(coalesce(max_ms, 60000) + 1, 60001)) - 60000)::float8 / (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)) - round(c[16] * (120000 - 60000)::float8 / (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)))::bigint END,
        CASE WHEN c[16] = 0 OR 300000 >= greatest(coalesce(max_ms, 60000) + 1, 60001) THEN 0 ELSE (round(c[16] * (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)::float8 / (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)) - round(c[16] * (300000 - 60000)::float8 / (greatest(coalesce(max_ms, 60000) + 1, 60001) - 60000)))::bigint END];

-- The lower bound of the first non-empty old bucket: no latency of the row was below it.
CREATE FUNCTION usage_hist_floor(c bigint[]) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN c[1] > 0 THEN 0 WHEN c[2] > 0 THEN 100 WHEN c[3] > 0 THEN 250 WHEN c[4] > 0 THEN 500 WHEN c[5] > 0 THEN 750 WHEN c[6] > 0 THEN 1000 WHEN c[7] > 0 THEN 1500 WHEN c[8] > 0 THEN 2000 WHEN c[9] > 0 THEN 3000 WHEN c[10] > 0 THEN 5000 WHEN c[11] > 0 THEN 7500 WHEN c[12] > 0 THEN 10000 WHEN c[13] > 0 THEN 15000 WHEN c[14] > 0 THEN 20000 WHEN c[15] > 0 THEN 30000 WHEN c[16] > 0 THEN 60000 END;

ALTER TABLE usage_hourly ADD COLUMN latency_ms_min integer, ALTER COLUMN latency_hist DROP DEFAULT;
ALTER TABLE usage_hourly_users ADD COLUMN latency_ms_min integer, ALTER COLUMN latency_hist DROP DEFAULT;
ALTER TABLE usage_hourly_dims ADD COLUMN latency_ms_min integer, ALTER COLUMN latency_hist DROP DEFAULT;
ALTER TABLE usage_daily_dims ADD COLUMN latency_ms_min integer, ALTER COLUMN latency_hist DROP DEFAULT;
ALTER TABLE usage_hourly_totals ADD COLUMN latency_ms_min integer, ALTER COLUMN latency_hist DROP DEFAULT;

UPDATE usage_hourly SET latency_ms_min = usage_hist_floor(latency_hist),
    latency_hist = usage_hist_refine(latency_hist, latency_ms_max);
UPDATE usage_hourly_users SET latency_ms_min = usage_hist_floor(latency_hist),
    latency_hist = usage_hist_refine(latency_hist, latency_ms_max);
UPDATE usage_hourly_dims SET latency_ms_min = usage_hist_floor(latency_hist),
    latency_hist = usage_hist_refine(latency_hist, latency_ms_max);
UPDATE usage_daily_dims SET latency_ms_min = usage_hist_floor(latency_hist),
    latency_hist = usage_hist_refine(latency_hist, latency_ms_max);

DROP FUNCTION usage_hist_refine(bigint[], integer);
DROP FUNCTION usage_hist_floor(bigint[]);

-- Histogram bucket lower bounds in ms; bucket i (1-based) covers [bounds[i], bounds[i+1]),
-- the last one everything from 600 s up. Log-spaced so fast answers read right.
CREATE OR REPLACE FUNCTION usage_latency_bounds() RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN '{0,1,2,3,5,10,20,30,50,100,150,250,500,750,1000,1500,2000,3000,5000,7500,10000,15000,20000,30000,60000,120000,300000}'::integer[];

-- Element-wise sum and difference of two histograms, written out (not a loop) so the planner
-- inlines them.
CREATE FUNCTION usage_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY[a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6],
        a[7] + b[7], a[8] + b[8], a[9] + b[9], a[10] + b[10], a[11] + b[11], a[12] + b[12],
        a[13] + b[13], a[14] + b[14], a[15] + b[15], a[16] + b[16], a[17] + b[17],
        a[18] + b[18], a[19] + b[19], a[20] + b[20], a[21] + b[21], a[22] + b[22],
        a[23] + b[23], a[24] + b[24], a[25] + b[25], a[26] + b[26], a[27] + b[27]];

CREATE FUNCTION usage_hist_sub(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY[a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4], a[5] - b[5], a[6] - b[6],
        a[7] - b[7], a[8] - b[8], a[9] - b[9], a[10] - b[10], a[11] - b[11], a[12] - b[12],
        a[13] - b[13], a[14] - b[14], a[15] - b[15], a[16] - b[16], a[17] - b[17],
        a[18] - b[18], a[19] - b[19], a[20] - b[20], a[21] - b[21], a[22] - b[22],
        a[23] - b[23], a[24] - b[24], a[25] - b[25], a[26] - b[26], a[27] - b[27]];

CREATE AGGREGATE usage_hist_sum(bigint[]) (
    SFUNC = usage_hist_add,
    STYPE = bigint[],
    INITCOND = '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    COMBINEFUNC = usage_hist_add,
    PARALLEL = SAFE
);

-- Approximate quantile (0..1) of a summed histogram: the bucket holding it, interpolated
-- between the bucket's bounds narrowed to the observed [min_ms, max_ms], and never outside
-- them. NULL when the histogram is empty.
CREATE FUNCTION usage_hist_quantile(hist bigint[], q double precision, min_ms integer,
                                    max_ms integer)
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
            lo := greatest(bounds[i], coalesce(min_ms, bounds[i]));
            hi := CASE WHEN i < array_length(bounds, 1) THEN bounds[i + 1]
                       ELSE greatest(coalesce(max_ms, bounds[i]), bounds[i]) END;
            hi := greatest(least(hi, coalesce(max_ms, hi)), lo);
            RETURN least(greatest(lo + (hi - lo) * greatest(q * total - seen, 0) / hist[i],
                                  coalesce(min_ms, 0)),
                         coalesce(max_ms::double precision, 'Infinity'));
        END IF;
        seen := seen + hist[i];
    END LOOP;
    RETURN max_ms;
END $$;


-- usage_hourly_totals again, as 0004 built it, now with the minimum.
DELETE FROM usage_hourly_totals;
INSERT INTO usage_hourly_totals (bucket_start, requests, failures, input_tokens, output_tokens,
    reasoning_tokens, cached_tokens, cache_read_tokens, cache_creation_tokens, total_tokens,
    cost_usd, latency_ms_sum, latency_count, latency_ms_max, latency_ms_min, ttft_ms_sum,
    ttft_count, latency_hist)
SELECT bucket_start, sum(requests), sum(failures), sum(input_tokens), sum(output_tokens),
    sum(reasoning_tokens), sum(cached_tokens), sum(cache_read_tokens),
    sum(cache_creation_tokens), sum(total_tokens), sum(cost_usd), sum(latency_ms_sum),
    sum(latency_count), max(latency_ms_max), min(latency_ms_min), sum(ttft_ms_sum),
    sum(ttft_count), usage_hist_sum(latency_hist)
FROM usage_hourly_users GROUP BY bucket_start;


ALTER TABLE usage_hourly ALTER COLUMN latency_hist SET DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    ADD CONSTRAINT usage_hourly_latency_hist_buckets CHECK (cardinality(latency_hist) = 27);
ALTER TABLE usage_hourly_users ALTER COLUMN latency_hist SET DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    ADD CONSTRAINT usage_hourly_users_latency_hist_buckets CHECK (cardinality(latency_hist) = 27);
ALTER TABLE usage_hourly_dims ALTER COLUMN latency_hist SET DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    ADD CONSTRAINT usage_hourly_dims_latency_hist_buckets CHECK (cardinality(latency_hist) = 27);
ALTER TABLE usage_daily_dims ALTER COLUMN latency_hist SET DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    ADD CONSTRAINT usage_daily_dims_latency_hist_buckets CHECK (cardinality(latency_hist) = 27);
ALTER TABLE usage_hourly_totals ALTER COLUMN latency_hist SET DEFAULT '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}',
    ADD CONSTRAINT usage_hourly_totals_latency_hist_buckets CHECK (cardinality(latency_hist) = 27);

-- The trigger of 0004, with the minimum (kept by least(), like the maximum by greatest()).
CREATE OR REPLACE FUNCTION usage_hourly_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly_totals AS t (bucket_start, requests, failures, input_tokens,
        output_tokens, reasoning_tokens, cached_tokens, cache_read_tokens,
        cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum, latency_count,
        latency_ms_max, latency_ms_min, ttft_ms_sum, ttft_count, latency_hist)
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
        NEW.latency_ms_max, NEW.latency_ms_min,
        NEW.ttft_ms_sum - coalesce(OLD.ttft_ms_sum, 0),
        NEW.ttft_count - coalesce(OLD.ttft_count, 0),
        usage_hist_sub(NEW.latency_hist,
                       coalesce(OLD.latency_hist, array_fill(0::bigint, ARRAY[27]))))
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
        latency_ms_min = least(t.latency_ms_min, EXCLUDED.latency_ms_min),
        ttft_ms_sum = t.ttft_ms_sum + EXCLUDED.ttft_ms_sum,
        ttft_count = t.ttft_count + EXCLUDED.ttft_count,
        latency_hist = usage_hist_add(t.latency_hist, EXCLUDED.latency_hist);
    RETURN NULL;
END $$;

ALTER TABLE usage_hourly_users ENABLE TRIGGER usage_hourly_totals_follow;
