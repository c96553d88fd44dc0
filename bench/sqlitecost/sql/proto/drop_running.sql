-- hyb2 without kiln_job_running_partition (POST): the running jobs per key
-- kept in memory by the Store (HYBMEM=1), as a bound of what the index costs.
DROP INDEX kiln_job_running_partition;
