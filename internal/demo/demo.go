// Package demo holds the example job kinds that `kiln demo` runs, and the
// small HTTP server that one of them calls. Each kind does real work on
// files or over HTTP, so that the demo shows what jobs look like: they
// complete, fail and retry, wait for their time, and honour cancellation.
//
// The kinds take everything they act on in their args (a directory, a URL),
// so the workers hold no state and `kiln enqueue` can enqueue them too.
package demo

import (
	"net/http"

	"github.com/kilnjobs/kiln"
)

// Register adds a worker for every demo kind to workers, using client
// (nil: http.DefaultClient) for HTTP calls. It panics if a demo kind
// already has a worker, as kiln.AddWorker does.
func Register(workers *kiln.Workers, client *http.Client) {
	kiln.AddWorker(workers, &WriteFileWorker{})
	kiln.AddWorker(workers, &ChecksumWorker{})
	kiln.AddWorker(workers, &HTTPCallWorker{Client: client})
	kiln.AddWorker(workers, &FlakyWorker{})
	kiln.AddWorker(workers, &SleepWorker{})
}

// Kinds lists the demo kinds, sorted.
func Kinds() []string {
	return []string{
		ChecksumArgs{}.Kind(), FlakyArgs{}.Kind(), HTTPCallArgs{}.Kind(),
		SleepArgs{}.Kind(), WriteFileArgs{}.Kind(),
	}
}
