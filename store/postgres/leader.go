package postgres

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// sqlLeaderElect makes $2 the leader of $1 from now until now + $4 if there
// is no leader, the term expired (expires_at <= now) or $2 already leads,
// in one statement; it returns a row only then. now is $3, or, when $3 is
// NULL, now(), the database's clock. A re-elected leader keeps its
// elected_at. Two candidates racing on a new name are serialized by the
// primary key: the second one's insert becomes the conditional update.
const sqlLeaderElect = `INSERT INTO {s}.kiln_leader AS l (name, leader_id, elected_at, expires_at)
VALUES ($1, $2, coalesce($3::timestamptz, now()), coalesce($3::timestamptz, now()) + $4::interval)
ON CONFLICT (name) DO UPDATE SET
	elected_at = CASE WHEN l.leader_id = excluded.leader_id THEN l.elected_at ELSE excluded.elected_at END,
	leader_id = excluded.leader_id,
	expires_at = excluded.expires_at
WHERE l.leader_id = excluded.leader_id OR l.expires_at <= excluded.elected_at
RETURNING leader_id`

// sqlLeaderResign ends $2's term on $1.
const sqlLeaderResign = `DELETE FROM {s}.kiln_leader WHERE name = $1 AND leader_id = $2`

// LeaderAttemptElect makes params.LeaderID the leader of params.Name for
// params.TTL from the database's now() (from params.Now with
// Options.CallerClock) if there is no leader, the leader's term ended (its
// expiry is at or before that now), or LeaderID already leads (its term is
// then extended). It reports whether LeaderID leads after the call.
// Hosted services' singleton leases are such terms too.
func (s *Store) LeaderAttemptElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	var leader string
	ttl := truncate(params.Now.Add(params.TTL)).Sub(truncate(params.Now))
	err := s.pool.QueryRow(ctx, s.sql(sqlLeaderElect), params.Name, params.LeaderID,
		s.callerTime(params.Now), ttl).Scan(&leader)
	switch {
	case isNoRows(err):
		return false, nil
	case err != nil:
		return false, fail(fmt.Sprintf("elect leader of %q", params.Name), err)
	}
	return leader == params.LeaderID, nil
}

// LeaderResign ends params.LeaderID's term on params.Name if it leads, so
// that another process can be elected at once; otherwise it does nothing.
func (s *Store) LeaderResign(ctx context.Context, params *store.LeaderResignParams) error {
	if _, err := s.pool.Exec(ctx, s.sql(sqlLeaderResign), params.Name, params.LeaderID); err != nil {
		return fail(fmt.Sprintf("resign leadership of %q", params.Name), err)
	}
	return nil
}
