// Package kilntest helps test code that uses Kiln, as River's rivertest and
// Oban.Testing do:
//
//   - [NewStore] and [NewClient] give each test a fresh embedded SQLite
//     store (and a client on it) in one call, removed when the test ends;
//   - [RequireEnqueued], [RequireNotEnqueued], [RequireManyEnqueued] and
//     their Tx twins assert that code under test enqueued a job of a kind
//     with given args and options (inside a transaction too, on
//     PostgreSQL), and fail the test with a readable diff when it did not;
//   - [Work] runs one job's worker inline, with a real [kiln.Job] (its
//     attempt, metadata, progress and log lines captured), without a
//     store or a client loop, and says what a client would do next;
//   - [Drain] runs a queue's jobs synchronously on a client that is not
//     started, optionally moving a [Clock] through scheduled jobs,
//     retries and snoozes.
//
// The package is meant for tests only: it imports package testing and the
// SQLite store. Kiln's own packages do not import it.
package kilntest
