-- failure_reasons: why first attempts fail, and how their retries end. Per spec, stage, model, retry mode, first_reason
-- and retry_reason (NULL when no retry was made): number of failed first attempts and of successful retries.
CREATE OR REPLACE VIEW failure_reasons AS
SELECT
    spec,
    stage,
    model_id,
    coalesce(retry_mode, 'reflection') AS retry_mode,
    first_reason,
    retry_reason,
    count(*) AS failures,
    count(*) FILTER (WHERE retry_correct) AS retry_successes
FROM episodes
WHERE NOT first_correct
GROUP BY spec, stage, model_id, coalesce(retry_mode, 'reflection'), first_reason, retry_reason;
