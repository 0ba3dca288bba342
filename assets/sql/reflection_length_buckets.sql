-- reflection_length_buckets: does reflection length relate to retry success? Per spec, stage, model and retry
-- mode, reflections grouped by length in buckets of 8 tokens (min_tokens is the bucket's lower bound).
CREATE OR REPLACE VIEW reflection_length_buckets AS
SELECT
    spec,
    stage,
    model_id,
    coalesce(retry_mode, 'reflection') AS retry_mode,
    (reflection_tokens // 8) * 8 AS min_tokens,
    count(*) AS reflections,
    avg(coalesce(retry_correct, false)::INTEGER) AS retry_success_rate
FROM episodes
WHERE reflection IS NOT NULL
GROUP BY spec, stage, model_id, coalesce(retry_mode, 'reflection'), (reflection_tokens // 8) * 8;
