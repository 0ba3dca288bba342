-- reflection_behaviours: which reflection behaviours a model shows, and how often the retry after each succeeds.
-- Per spec, stage, model and behaviour (the task's classification of the reflection's form, e.g. Countdown
-- search / guess / restate): reflections, their share of the model's reflections in that stage, and retry success.
-- Compare the base and trained models' evaluation rows to see what R3 amplified.
CREATE OR REPLACE VIEW reflection_behaviours AS
SELECT
    spec,
    stage,
    model_id,
    coalesce(reflection_behaviour, 'unknown') AS behaviour,
    count(*) AS reflections,
    count(*) / sum(count(*)) OVER (PARTITION BY spec, stage, model_id) AS share,
    avg(coalesce(retry_correct, false)::INTEGER) AS retry_success_rate
FROM episodes
WHERE reflection IS NOT NULL AND coalesce(retry_mode, 'reflection') = 'reflection'
GROUP BY spec, stage, model_id, coalesce(reflection_behaviour, 'unknown');
