CREATE TABLE kiln_job_keyset (queue TEXT NOT NULL, kind TEXT NOT NULL, partition_key TEXT NOT NULL,
    PRIMARY KEY (queue, kind, partition_key)) WITHOUT ROWID;
INSERT INTO kiln_job_keyset SELECT DISTINCT queue, kind, partition_key FROM kiln_job WHERE state = 'available' AND partition_key <> '';
