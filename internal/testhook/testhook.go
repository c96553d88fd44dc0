// Package testhook lets package kilntest reach the parts of the root
// package it needs and that users should not: building a job's work unit
// from a Workers bundle, and running one claimed job as a client would.
// The root package fills the variables in its init; kilntest imports the
// root package, so they are set before kilntest uses them. Nothing here
// imports package testing, so users' builds do not link it.
package testhook

import (
	"context"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/jobreport"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var (
	// Unit returns the work unit of row for workers (a *kiln.Workers),
	// whose job reports progress and log lines through a Reporter made with
	// report (nil: none), or false if workers has no worker for row's kind.
	Unit func(workers any, row *kilntype.JobRow, report *jobreport.Config) (jobexec.WorkUnit, bool)

	// Exec returns the attempt settings of client (a *kiln.Client): its
	// ID, default timeout, retry policy and clock.
	Exec func(client any) *jobexec.Settings

	// Store returns the store of client (a *kiln.Client), for kilntest's
	// reads inside a user's transaction.
	Store func(client any) store.Store

	// DrainStep makes client's (a *kiln.Client, not started) due
	// scheduled and retryable jobs available, releases continuations whose
	// parents ended, then claims at most one due job of queue and runs it
	// as the client's producers would (progress, logs, events), writing
	// its outcome. It returns the claimed row and the outcome written, or
	// nil, nil when no job of queue was due.
	DrainStep func(ctx context.Context, client any, queue string) (*kilntype.JobRow, *store.JobFinishParams, error)
)
