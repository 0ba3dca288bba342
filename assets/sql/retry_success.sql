-- retry_success: does reflecting and retrying fix first-attempt failures? Per spec, stage, model and retry mode
-- ("reflection", or "bare" for the bare "try again" control):
-- first-attempt accuracy, how many failures got a reflection, how many retries succeeded, and the accuracy
-- after the second attempt (first_correct OR retry_correct).
CREATE OR REPLACE VIEW retry_success AS
SELECT
    spec,
    stage,
    model_id,
    coalesce(retry_mode, 'reflection') AS retry_mode,
    count(*) AS episodes,
    avg(first_correct::INTEGER) AS first_accuracy,
    count(*) FILTER (WHERE NOT first_correct) AS failures,
    count(reflection) AS reflections,
    count(*) FILTER (WHERE NOT first_correct AND retry_correct) AS retry_successes,
    -- NULL when a group has no failures (the rate is undefined, not 0).
    count(*) FILTER (WHERE NOT first_correct AND retry_correct)
        / nullif(count(*) FILTER (WHERE NOT first_correct), 0) AS retry_success_rate,
    avg((first_correct OR coalesce(retry_correct, false))::INTEGER) AS second_accuracy
FROM episodes
GROUP BY spec, stage, model_id, coalesce(retry_mode, 'reflection');
