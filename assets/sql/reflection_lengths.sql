-- reflection_stats: how long reflections are and whether length relates to retry success. Per spec, stage
-- model and retry mode, over episodes with a reflection: average and median reflection_tokens overall, for successful
-- and for failed retries, and the retry success rate.
CREATE OR REPLACE VIEW reflection_stats AS
SELECT
    spec,
    stage,
    model_id,
    coalesce(retry_mode, 'reflection') AS retry_mode,
    count(*) AS reflections,
    avg(reflection_tokens) AS avg_reflection_tokens,
    median(reflection_tokens) AS median_reflection_tokens,
    avg(reflection_tokens) FILTER (WHERE retry_correct) AS avg_reflection_tokens_success,
    avg(reflection_tokens) FILTER (WHERE NOT retry_correct) AS avg_reflection_tokens_failure,
    count(*) FILTER (WHERE retry_correct) AS retry_successes,
    avg(coalesce(retry_correct, false)::INTEGER) AS retry_success_rate
FROM episodes
WHERE reflection IS NOT NULL
GROUP BY spec, stage, model_id, coalesce(retry_mode, 'reflection');
