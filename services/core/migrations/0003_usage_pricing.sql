-- 0003: usage cost and model pricing (issue 7).
-- 1. usage_event_cost follows the proxy's token convention (services/proxy/translate/usage.py):
--    input_tokens counts every prompt token, cache reads and cache writes included, for every
--    provider; output_tokens includes reasoning. 0001 charged Claude's cache reads and writes
--    on top of a full-price input that already contained them (double counting).
-- 2. usage_price_for also matches a model whose name ends in a snapshot date
--    (claude-sonnet-4-5-20250929, gpt-4o-2024-08-06) to the price of its base name.
-- 3. A seed list of list prices (source 'seed'); admins verify and edit them.

-- Cost in USD of one event, prices per 1M tokens (the seed dashboard's formula, adapted):
--   input        x (input - cached - cache_creation)
-- + cached_input x cached          (missing price: input)
-- + cache_write  x cache_creation  (missing price: input)
-- + output       x output          (reasoning included) when there is no reasoning price, else
--   output x (output - reasoning) + reasoning x reasoning
-- `cached` is the larger of cached_tokens and cache_read_tokens (producers fill one or both).
-- No price row: NULL (the collector stores 0). `provider` is kept for the signature only.
CREATE OR REPLACE FUNCTION usage_event_cost(
    provider text, input_tokens bigint, output_tokens bigint, reasoning_tokens bigint,
    cached_tokens bigint, cache_read_tokens bigint, cache_creation_tokens bigint,
    input_per_mtok numeric, output_per_mtok numeric, cached_input_per_mtok numeric,
    cache_write_per_mtok numeric, reasoning_per_mtok numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (
        greatest(input_tokens - greatest(cached_tokens, cache_read_tokens)
                 - cache_creation_tokens, 0) * input_per_mtok
        + greatest(cached_tokens, cache_read_tokens) * coalesce(cached_input_per_mtok, input_per_mtok)
        + cache_creation_tokens * coalesce(cache_write_per_mtok, input_per_mtok)
        + CASE WHEN reasoning_per_mtok IS NULL THEN output_tokens * output_per_mtok
               ELSE greatest(output_tokens - reasoning_tokens, 0) * output_per_mtok
                    + reasoning_tokens * reasoning_per_mtok
          END
    ) / 1000000;

-- The base name of a model: without a trailing snapshot date (-20250929 or -2024-08-06).
CREATE FUNCTION usage_model_base(model text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_replace(lower(model), '-(\d{8}|\d{4}-\d{2}-\d{2})$', '');

-- The price of (provider, model) in force at `at`. Candidates: active rows for the model's
-- exact name or its base name. Preference: the same provider, then the exact name, then the
-- latest effective_from. Another provider's row only counts when exactly one provider prices
-- that model (the seed's rule), so "codex" traffic finds OpenAI's gpt-5 price.
CREATE OR REPLACE FUNCTION usage_price_for(provider text, model text, at timestamptz)
    RETURNS TABLE (input_per_mtok numeric, output_per_mtok numeric,
                   cached_input_per_mtok numeric, cache_write_per_mtok numeric,
                   reasoning_per_mtok numeric)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok,
           p.cache_write_per_mtok, p.reasoning_per_mtok
    FROM model_pricing p
    WHERE lower(p.model) IN (lower(usage_price_for.model), usage_model_base(usage_price_for.model))
      AND p.is_active
      AND p.effective_from <= usage_price_for.at
      AND (lower(p.provider) = lower(usage_price_for.provider)
           OR (SELECT count(DISTINCT lower(q.provider)) FROM model_pricing q
               WHERE lower(q.model) IN (lower(usage_price_for.model),
                                        usage_model_base(usage_price_for.model))
                 AND q.is_active) = 1)
    ORDER BY lower(p.provider) = lower(usage_price_for.provider) DESC,
             lower(p.model) = lower(usage_price_for.model) DESC,
             p.effective_from DESC
    LIMIT 1
$$;

-- The seed list: public list prices (USD per 1M tokens, standard tier, the base prompt-length
-- band) of current Anthropic, Google and OpenAI models as published in November 2026, with the
-- dated price changes of 2026 as separate rows (effective_from). A starting point only: the
-- admin verifies them on the Model pricing page. Not modelled: long-prompt surcharges, batch
-- and priority tiers, 1-hour cache writes (5-minute prices are used), cache storage fees.
-- Gemini cache reads are entered at 10% of input (the published ratio of the 2.5 and 3.1
-- models); OpenAI and Gemini bill reasoning as output, so no reasoning price is set.
INSERT INTO model_pricing (provider, model, display_name, input_per_mtok, output_per_mtok,
                           cached_input_per_mtok, cache_write_per_mtok, effective_from, source)
VALUES
    -- Anthropic (cache write = 5-minute write)
    ('claude', 'claude-fable-5-1',  'Claude Fable 5.1',  10.00, 50.00, 0.25, 12.50, '1970-01-01Z', 'seed'),
    ('claude', 'claude-fable-5',    'Claude Fable 5',    10.00, 50.00, 1.00, 12.50, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-5-5',   'Claude Opus 5.5',    4.00, 20.00, 0.20,  5.00, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-5',     'Claude Opus 5',      5.00, 25.00, 0.50,  6.25, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-4-8',   'Claude Opus 4.8',    5.00, 25.00, 0.50,  6.25, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-4-7',   'Claude Opus 4.7',    5.00, 25.00, 0.50,  6.25, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-4-6',   'Claude Opus 4.6',    5.00, 25.00, 0.50,  6.25, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-4-5',   'Claude Opus 4.5',    5.00, 25.00, 0.50,  6.25, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-4-1',   'Claude Opus 4.1',   15.00, 75.00, 1.50, 18.75, '1970-01-01Z', 'seed'),
    ('claude', 'claude-opus-4',     'Claude Opus 4',     15.00, 75.00, 1.50, 18.75, '1970-01-01Z', 'seed'),
    ('claude', 'claude-sonnet-5-5', 'Claude Sonnet 5.5',  2.00, 10.00, 0.20,  2.50, '1970-01-01Z', 'seed'),
    ('claude', 'claude-sonnet-5-5', 'Claude Sonnet 5.5',  2.00, 10.00, 0.10,  2.50, '2026-10-07Z', 'seed'),
    ('claude', 'claude-sonnet-5',   'Claude Sonnet 5',    2.00, 10.00, 0.20,  2.50, '1970-01-01Z', 'seed'),
    ('claude', 'claude-sonnet-4-6', 'Claude Sonnet 4.6',  3.00, 15.00, 0.30,  3.75, '1970-01-01Z', 'seed'),
    ('claude', 'claude-sonnet-4-5', 'Claude Sonnet 4.5',  3.00, 15.00, 0.30,  3.75, '1970-01-01Z', 'seed'),
    ('claude', 'claude-sonnet-4',   'Claude Sonnet 4',    3.00, 15.00, 0.30,  3.75, '1970-01-01Z', 'seed'),
    ('claude', 'claude-haiku-5-5',  'Claude Haiku 5.5',   0.10,  0.50, 0.01, 0.125, '1970-01-01Z', 'seed'),
    ('claude', 'claude-haiku-4-5',  'Claude Haiku 4.5',   1.00,  5.00, 0.10,  1.25, '1970-01-01Z', 'seed'),
    -- Google Gemini API, paid tier
    ('gemini', 'gemini-3.8-flash',       'Gemini 3.8 Flash',       0.75, 3.75, 0.075, NULL, '1970-01-01Z', 'seed'),
    ('gemini', 'gemini-3.8-flash',       'Gemini 3.8 Flash',       1.50, 7.50, 0.15,  NULL, '2027-01-01Z', 'seed'),
    ('gemini', 'gemini-3.5-flash',       'Gemini 3.5 Flash',       1.50, 9.00, 0.15,  NULL, '1970-01-01Z', 'seed'),
    ('gemini', 'gemini-3.5-flash-lite',  'Gemini 3.5 Flash-Lite',  0.30, 2.50, 0.03,  NULL, '1970-01-01Z', 'seed'),
    ('gemini', 'gemini-3.1-pro-preview', 'Gemini 3.1 Pro Preview', 2.00, 12.00, 0.20, NULL, '1970-01-01Z', 'seed'),
    ('gemini', 'gemini-2.5-pro',         'Gemini 2.5 Pro',         1.25, 10.00, 0.125, NULL, '1970-01-01Z', 'seed'),
    ('gemini', 'gemini-2.5-flash',       'Gemini 2.5 Flash',       0.30, 2.50, 0.03,  NULL, '1970-01-01Z', 'seed'),
    ('gemini', 'gemini-2.5-flash-lite',  'Gemini 2.5 Flash-Lite',  0.10, 0.40, 0.01,  NULL, '1970-01-01Z', 'seed'),
    -- OpenAI
    ('openai', 'gpt-6-sol',     'GPT-6 Sol',      2.00,  10.00, 0.20,  2.50,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-6-luna',    'GPT-6 Luna',     0.10,   0.50, 0.01,  0.125, '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.6-sol',   'GPT-5.6 Sol',    5.00,  30.00, 0.50,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.6-terra', 'GPT-5.6 Terra',  2.50,  15.00, 0.25,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.6-terra', 'GPT-5.6 Terra',  2.00,  12.00, 0.20,  NULL,  '2026-07-30Z', 'seed'),
    ('openai', 'gpt-5.6-luna',  'GPT-5.6 Luna',   1.00,   6.00, 0.10,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.6-luna',  'GPT-5.6 Luna',   0.20,   1.20, 0.02,  NULL,  '2026-07-30Z', 'seed'),
    ('openai', 'gpt-5.5',       'GPT-5.5',        5.00,  30.00, 0.50,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.5-pro',   'GPT-5.5 Pro',   30.00, 180.00, NULL,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.4',       'GPT-5.4',        2.50,  15.00, 0.25,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.4-mini',  'GPT-5.4 mini',   0.75,   4.50, 0.075, NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.4-nano',  'GPT-5.4 nano',   0.20,   1.25, 0.02,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5.4-pro',   'GPT-5.4 Pro',   30.00, 180.00, NULL,  NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5',         'GPT-5',          1.25,  10.00, 0.125, NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5-mini',    'GPT-5 mini',     0.25,   2.00, 0.025, NULL,  '1970-01-01Z', 'seed'),
    ('openai', 'gpt-5-codex',   'GPT-5 Codex',    1.25,  10.00, 0.125, NULL,  '1970-01-01Z', 'seed')
ON CONFLICT DO NOTHING;
