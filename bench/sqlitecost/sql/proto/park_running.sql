-- park: the running jobs of kind ?1 per key, once per claim (the store's
-- sqlPartitionRunning): as many index entries as jobs of the kind run.
SELECT partition_key, count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
WHERE state = 'running' AND kind = ?1 AND partition_key <> '' GROUP BY partition_key
