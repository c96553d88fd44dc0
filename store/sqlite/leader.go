package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// sqlLeaderElect makes ?2 the leader of ?1 from ?3 until ?4 if there is no
// leader, the term expired (expires_at <= now) or ?2 already leads; it
// returns a row only then. A re-elected leader keeps its elected_at.
const sqlLeaderElect = `INSERT INTO kiln_leader (name, leader_id, elected_at, expires_at)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (name) DO UPDATE SET
	elected_at = CASE WHEN leader_id = excluded.leader_id THEN elected_at ELSE excluded.elected_at END,
	leader_id = excluded.leader_id,
	expires_at = excluded.expires_at
WHERE leader_id = excluded.leader_id OR expires_at <= excluded.elected_at
RETURNING leader_id`

// sqlLeaderResign ends ?2's term on ?1.
const sqlLeaderResign = `DELETE FROM kiln_leader WHERE name = ?1 AND leader_id = ?2`

// LeaderAttemptElect makes params.LeaderID the leader of params.Name until
// params.Now+params.TTL if there is no leader, the leader's term ended
// (its expiry is at or before Now), or LeaderID already leads (its term is
// then extended). It reports whether LeaderID leads after the call.
func (s *Store) LeaderAttemptElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	var elected bool
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var leader string
		err := tx.StmtContext(ctx, st.leaderElect).QueryRowContext(ctx, params.Name, params.LeaderID,
			micros(params.Now), micros(params.Now.Add(params.TTL))).Scan(&leader)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		elected = leader == params.LeaderID
		return nil
	})
	if err != nil {
		return false, fail(fmt.Sprintf("elect leader of %q", params.Name), err)
	}
	return elected, nil
}

// LeaderResign ends params.LeaderID's term on params.Name if it leads, so
// that another process can be elected at once; otherwise it does nothing.
func (s *Store) LeaderResign(ctx context.Context, params *store.LeaderResignParams) error {
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		_, err := tx.StmtContext(ctx, st.leaderResign).ExecContext(ctx, params.Name, params.LeaderID)
		return err
	})
	if err != nil {
		return fail(fmt.Sprintf("resign leadership of %q", params.Name), err)
	}
	return nil
}
