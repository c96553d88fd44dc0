package kilntype

// ConcurrencyLimitState is a kind's concurrency limits as a client, the
// HTTP API, the CLI and the dashboard show them: the limits its worker
// declares in code, in the process that answers, and how many of its jobs
// run now. Concurrency limits are set in code only; a limit of 0 means
// none of that sort.
type ConcurrencyLimitState struct {
	// Kind is the job kind.
	Kind string `json:"kind"`
	// MaxConcurrency caps the kind's running jobs in each process
	// (Worker.MaxConcurrency); 0: no cap.
	MaxConcurrency int `json:"max_concurrency"`
	// ClusterMaxConcurrency caps them across every process sharing the
	// store (Worker.ClusterMaxConcurrency); 0: no cap.
	ClusterMaxConcurrency int `json:"cluster_max_concurrency"`
	// PartitionMaxConcurrency caps them per partition key across every
	// process (WorkerWithPartitionLimit); 0: no cap.
	PartitionMaxConcurrency int `json:"partition_max_concurrency"`
	// Running is how many jobs of the kind run now in every process
	// sharing the store (read from the store).
	Running int `json:"running"`
	// RunningHere is how many of them run in the process that answers
	// (the use of MaxConcurrency there).
	RunningHere int `json:"running_here"`
	// Keys is how many partition keys have a running job of the kind;
	// counted for kinds with a PartitionMaxConcurrency only.
	Keys int `json:"keys"`
	// BusiestKeys are the keys with the most running jobs, most first
	// (ties in key byte order), at most 10 (so fewer than Keys when more
	// keys run); for kinds with a PartitionMaxConcurrency only, else
	// empty.
	BusiestKeys []KeyRunning `json:"busiest_keys"`
}

// KeyRunning is how many jobs of a kind with one partition key run now,
// in every process sharing the store.
type KeyRunning struct {
	// Key is the partition key (EnqueueOpts.Partition), never "".
	Key string `json:"key"`
	// Running is how many jobs of the kind with Key run.
	Running int `json:"running"`
}
