// Package cluster holds Kiln's cluster integration tests, and nothing else:
// it has no code of its own outside its _test.go files.
//
// The tests build the kiln command once per test run, start several real
// `kiln serve` processes on one PostgreSQL database (each test in a schema
// of its own, dropped after), enqueue thousands of jobs of the built-in
// http kind that call an HTTP server of the test, and then break things
// while the jobs run:
//
//   - TestKillOneProcess SIGKILLs one of three processes (the maintenance
//     leader) while it has jobs in flight, and checks that every job
//     completes, that none is lost, and that only the jobs the dead
//     process held ran twice.
//   - TestKillLeaderRescueTime SIGKILLs the leader, whose term (30 s) far
//     outlasts the lease (5 s), and checks that its jobs are claimable
//     again within LeaseDuration + 5 s of the kill: a rescue that waits for
//     a new leader cannot.
//   - TestPostgresOutage puts a TCP proxy between the processes and
//     PostgreSQL and drops every connection, refusing new ones, for two
//     seconds: a server restart as the clients see it, which other tests
//     sharing the server do not notice.
//   - TestPostgresRestart restarts the real server (the local cluster that
//     listens on the URL's port, with pg_ctlcluster). It disturbs every
//     other user of the server, so it runs only when KILN_TEST_PG_RESTART=1,
//     which CI sets in a step of its own after the main test run.
//   - TestServeStartErrors checks what `kiln serve` says at start when the
//     database URL is wrong, the server never answers, or the schema is
//     missing.
//
// The test server records each request with the number of the job that
// sent it, so the tests see real executions from outside the processes,
// and compare them with the attempts the database recorded
// (kiln_job_attempt): a job that ran twice must have an interrupted
// attempt (a lease that expired with its process).
//
// They need $KILN_TEST_POSTGRES_URL (see store/postgres/pgtest): without it
// they skip with a message saying so, or fail in CI (CI=true). The output
// of the processes is printed when a test fails, or always with
// KILN_TEST_CLUSTER_LOGS=1.
package cluster
