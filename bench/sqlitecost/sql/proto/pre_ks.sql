CREATE TABLE kiln_job_keyset (queue TEXT NOT NULL, kind TEXT NOT NULL, partition_key TEXT NOT NULL,
    PRIMARY KEY (queue, kind, partition_key)) WITHOUT ROWID;
CREATE TRIGGER kiln_job_keyset_insert AFTER INSERT ON kiln_job
WHEN NEW.state = 'available' AND NEW.partition_key <> ''
BEGIN
    INSERT OR IGNORE INTO kiln_job_keyset (queue, kind, partition_key) VALUES (NEW.queue, NEW.kind, NEW.partition_key);
END;
CREATE TRIGGER kiln_job_keyset_update AFTER UPDATE OF state, queue, kind, partition_key ON kiln_job
WHEN NEW.state = 'available' AND NEW.partition_key <> ''
BEGIN
    INSERT OR IGNORE INTO kiln_job_keyset (queue, kind, partition_key) VALUES (NEW.queue, NEW.kind, NEW.partition_key);
END;
