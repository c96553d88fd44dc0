CREATE TABLE kiln_job_head (queue TEXT NOT NULL, kind TEXT NOT NULL, partition_key TEXT NOT NULL, id INTEGER,
    PRIMARY KEY (queue, kind, partition_key)) WITHOUT ROWID;
INSERT INTO kiln_job_head SELECT k.queue, k.kind, k.partition_key,
    (SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition WHERE state = 'available' AND queue = k.queue
        AND kind = k.kind AND partition_key = k.partition_key AND partition_key <> '' ORDER BY priority, scheduled_at LIMIT 1)
FROM (SELECT DISTINCT queue, kind, partition_key FROM kiln_job WHERE state = 'available' AND partition_key <> '') AS k;
