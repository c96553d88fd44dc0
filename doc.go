// Package kiln runs background jobs for Go programs: fire-and-forget, delayed
// and recurring (cron or interval) jobs, kept in durable storage (an embedded
// SQLite file by default, or PostgreSQL for many processes), retried with backoff, leased so that no job is lost when a
// process dies, and cancellable through context.Context.
//
// A job is a JSON-serializable args struct with a Kind method, and a worker
// for that kind:
//
//	type EmailArgs struct{ To string }
//
//	func (EmailArgs) Kind() string { return "email" }
//
//	type EmailWorker struct {
//		kiln.WorkerDefaults[EmailArgs]
//		Mailer *Mailer // workers hold their own dependencies
//	}
//
//	func (w *EmailWorker) Work(ctx context.Context, job *kiln.Job[EmailArgs]) error {
//		return w.Mailer.Send(ctx, job.Args.To)
//	}
//
// Register workers in a [Workers] bundle, create a [Client] on a store, Start
// it, and Enqueue jobs from anywhere:
//
//	workers := kiln.NewWorkers()
//	kiln.AddWorker(workers, &EmailWorker{Mailer: m})
//	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers})
//	...
//	err = client.Start(ctx)
//	_, err = client.Enqueue(ctx, EmailArgs{To: "a@example.com"}, nil)
//
// # Guarantees
//
// Delivery is at least once. A job runs under a lease that its process renews
// by heartbeat; if the process dies mid-job the lease expires and a rescuer
// (every process sharing the store runs one) makes the job retryable within
// LeaseDuration + RescueInterval of the last renewal, so it runs again. A job can therefore run more than once,
// and workers should be idempotent. A job is never dropped: an outcome that
// cannot be written is retried, and failing that the lease expires.
//
// Failed attempts are retried with backoff ([DefaultRetryPolicy], Sidekiq's
// formula) up to MaxAttempts (25 by default), after which the job is
// discarded with every attempt's error kept. A worker stops retries with
// [JobCancel] and postpones itself without using an attempt with [JobSnooze].
//
// [Client.Stop] stops fetching, waits for running jobs until its context is
// done, then cancels their contexts and puts unfinished jobs back to
// available. [Client.StopAndCancel] cancels at once.
//
// # Types shared with the stores
//
// The stored forms of jobs and other records ([JobRow], [JobAttempt],
// [JobState], [RecurringRow], [ServerRow], [AuditEntry], …), their
// constants and the sentinel errors are aliases of package kilntype, the
// leaf package that the stores, the dashboard, the HTTP API and the CLI
// import too (as River's rivertype): kiln.JobRow and kilntype.JobRow are
// one type, so a program imports only this package. go doc shows an
// alias's fields and methods under kilntype (go doc kilntype.JobRow).
// Nothing of the store interface (package store) appears in this
// package's API but [Config].Store, the store a program opens with
// store/sqlite or store/postgres.
//
// See docs/ARCHITECTURE.md for how the parts fit together.
package kiln
