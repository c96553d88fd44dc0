DROP INDEX kiln_job_claim_partition;
CREATE INDEX kiln_job_key ON kiln_job (queue, kind, partition_key, priority, scheduled_at) WHERE partition_key <> '';
CREATE TABLE kiln_job_head (queue TEXT NOT NULL, kind TEXT NOT NULL, partition_key TEXT NOT NULL,
    priority INTEGER, scheduled_at INTEGER, id INTEGER,
    PRIMARY KEY (queue, kind, partition_key)) WITHOUT ROWID;
INSERT INTO kiln_job_head SELECT k.queue, k.kind, k.partition_key, j.priority, j.scheduled_at, j.id
FROM (SELECT DISTINCT queue, kind, partition_key FROM kiln_job WHERE state = 'available' AND partition_key <> '') AS k
JOIN kiln_job AS j ON j.id = (SELECT id FROM kiln_job INDEXED BY kiln_job_key WHERE state = 'available' AND queue = k.queue
        AND kind = k.kind AND partition_key = k.partition_key AND partition_key <> '' ORDER BY priority, scheduled_at LIMIT 1);
