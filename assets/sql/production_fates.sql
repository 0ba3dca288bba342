-- production_fates: every row dropped in a spec's failure inbox (r3_pipeline/inbox.py) and what became of it, one
-- row per input row and file. fate: 'rejected' (reason says why), 'recorded' (not mined: already trained on, or its
-- round has not mined yet), 'mined: solved' (the model it was mined with got it right), 'mined: failed' (a failure
-- no training has used yet), 'trained' (trained on, not checked yet), 'failed again' (trained on, and the retrained
-- model still fails it), 'fixed by vN' (a retrained model, registered as version N, gets it right; 'fixed' before
-- its registration).
CREATE OR REPLACE VIEW production_fates AS
WITH mined AS (
    SELECT spec, task_id, bool_or(NOT first_correct) AS failed
    FROM episodes WHERE stage = 'mining' AND task_id LIKE 'prod-%' GROUP BY spec, task_id
), trained AS (
    SELECT DISTINCT spec, task_id FROM episodes WHERE stage = 'training' AND task_id LIKE 'prod-%'
), checked AS (
    SELECT e.spec, e.task_id, bool_or(e.first_correct OR coalesce(e.retry_correct, false)) AS fixed,
           max(CAST(v.version AS INTEGER)) FILTER (WHERE e.first_correct OR coalesce(e.retry_correct, false)) AS version
    FROM episodes e LEFT JOIN registered_versions v ON v.spec = e.spec AND v.model_id = e.model_id
    WHERE e.stage = 'production' GROUP BY e.spec, e.task_id
)
SELECT
    p.spec, p.file, p.line, p.label, p.task_id, p.status, p.reason, p.response_correct,
    CASE
        WHEN p.status <> 'accepted' THEN 'rejected'
        WHEN c.fixed THEN coalesce('fixed by v' || c.version, 'fixed')
        WHEN c.task_id IS NOT NULL AND t.task_id IS NOT NULL THEN 'failed again'
        WHEN t.task_id IS NOT NULL THEN 'trained'
        WHEN m.failed THEN 'mined: failed'
        WHEN m.task_id IS NOT NULL THEN 'mined: solved'
        ELSE 'recorded'
    END AS fate,
    c.version AS fixed_by_version,
    p.dagster_run_id,
    p.recorded_at
FROM production_rows p
LEFT JOIN mined m ON m.spec = p.spec AND m.task_id = p.task_id
LEFT JOIN trained t ON t.spec = p.spec AND t.task_id = p.task_id
LEFT JOIN checked c ON c.spec = p.spec AND c.task_id = p.task_id;
