package kiln_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// secretArgs hold what must not be readable in the database.
type secretArgs struct {
	Email string `json:"email"`
	Token string `json:"token"`
}

func (secretArgs) Kind() string { return "secret" }

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

var hashKey = key(0xaa)

func encryptor(t *testing.T, keys ...kiln.EncryptionKey) *kiln.Encryptor {
	t.Helper()
	e, err := kiln.NewEncryptor(kiln.EncryptorConfig{Keys: keys, HashKey: hashKey})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	k1 = kiln.EncryptionKey{ID: "k1", Key: key(1)}
	k2 = kiln.EncryptionKey{ID: "k2", Key: key(2)}
)

// rawRow reads a job's args and unique key as the database holds them,
// around the store.
type rawRow func(t *testing.T, id int64) (args, uniqueKey string)

// encryptionStores runs fn on a fresh SQLite store and, with
// KILN_TEST_POSTGRES_URL, a fresh PostgreSQL schema, each with a reader
// of raw rows.
func encryptionStores(t *testing.T, fn func(t *testing.T, st store.Store, raw rawRow)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "kiln.db")
		st := openStore(t, path)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, st, func(t *testing.T, id int64) (string, string) {
			t.Helper()
			var args, uniq string
			if err := db.QueryRow(`SELECT args, coalesce(unique_key, '') FROM kiln_job WHERE id = ?`, id).Scan(&args, &uniq); err != nil {
				t.Fatal(err)
			}
			return args, uniq
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		schema := pgtest.Schema(t)
		st := openPostgres(t, url, schema, true)
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		fn(t, st, func(t *testing.T, id int64) (string, string) {
			t.Helper()
			var args, uniq string
			q := `SELECT args::text, coalesce(unique_key, '') FROM ` + pgx.Identifier{schema, "kiln_job"}.Sanitize() + ` WHERE id = $1`
			if err := conn.QueryRow(context.Background(), q, id).Scan(&args, &uniq); err != nil {
				t.Fatal(err)
			}
			return args, uniq
		})
	})
}

// secretWorkers records the args each job ran with.
func secretWorkers() (*kiln.Workers, func() []secretArgs) {
	var mu sync.Mutex
	var ran []secretArgs
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[secretArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, job.Args)
		return nil
	}))
	return workers, func() []secretArgs {
		mu.Lock()
		defer mu.Unlock()
		return append([]secretArgs(nil), ran...)
	}
}

// TestEncryptedArgsAtRest: with an Encryptor, the args in the database
// hold no plain text (nor does the unique key give them away), the job runs
// with its plain args, and the client's reads decrypt them; unique jobs
// still match.
func TestEncryptedArgsAtRest(t *testing.T) {
	t.Parallel()
	encryptionStores(t, func(t *testing.T, st store.Store, raw rawRow) {
		ctx := t.Context()
		workers, ran := secretWorkers()
		clock := kilntest.NewClock(testBase)
		c := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock, Encryptor: encryptor(t, k1)})
		args := secretArgs{Email: "ada@example.com", Token: "s3cr3t-t0ken"}
		res, err := c.Enqueue(ctx, args, &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Job.ArgsEncrypted || !strings.Contains(string(res.Job.Args), "ada@example.com") {
			t.Errorf("enqueue result: encrypted %v, args %s; want the plain args, marked encrypted", res.Job.ArgsEncrypted, res.Job.Args)
		}
		stored, uniq := raw(t, res.Job.ID)
		// Quoted or with characters base64 never holds: a ciphertext may
		// hold any short run of letters by chance ("old" did).
		for _, plain := range []string{"ada@example.com", "s3cr3t-t0ken", `"email"`, `"token"`} {
			if strings.Contains(stored, plain) {
				t.Errorf("stored args %s hold %q", stored, plain)
			}
		}
		if !strings.Contains(stored, `"kiln_enc"`) || !strings.Contains(stored, `"k1"`) {
			t.Errorf("stored args %s are not an envelope of key k1", stored)
		}
		plainJSON := `{"email":"ada@example.com","token":"s3cr3t-t0ken"}`
		sum := sha256.Sum256([]byte("secret\x00" + plainJSON))
		if uniq == "" || uniq == hex.EncodeToString(sum[:]) {
			t.Errorf("unique key %q is empty or the plain SHA-256 of the args", uniq)
		}
		again, err := c.Enqueue(ctx, args, &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{}})
		if err != nil {
			t.Fatal(err)
		}
		if !again.UniqueSkipped || again.Job.ID != res.Job.ID {
			t.Errorf("the same args enqueued again: skipped %v, job %d; want the first job", again.UniqueSkipped, again.Job.ID)
		}

		got, err := c.JobGet(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Args) != plainJSON || !got.ArgsEncrypted {
			t.Errorf("JobGet args %s (encrypted %v); want %s", got.Args, got.ArgsEncrypted, plainJSON)
		}
		list, err := c.JobList(ctx, &kiln.JobListParams{ArgsPreview: kiln.JobListArgsPreview})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Jobs) != 1 || string(list.Jobs[0].Args) != plainJSON {
			t.Errorf("JobList args %s; want %s", list.Jobs[0].Args, plainJSON)
		}
		// A plain-text search cannot find encrypted args: nothing leaks
		// through the filter.
		if list, err = c.JobList(ctx, &kiln.JobListParams{ArgsContains: "ada@"}); err != nil || len(list.Jobs) != 0 {
			t.Errorf("ArgsContains found %d jobs (err %v); want none", len(list.Jobs), err)
		}

		d := kilntest.Drain(ctx, t, c, nil)
		if d.Count(kiln.JobStateCompleted) != 1 || len(ran()) != 1 || ran()[0] != args {
			t.Fatalf("drained %d completed, ran with %+v; want one run with %+v", d.Count(kiln.JobStateCompleted), ran(), args)
		}
	})
}

// TestEncryptedArgsWithoutKey: a process without the key fails the attempt
// with an error naming the key, without using an attempt, and keeps the
// job retryable (even at MaxAttempts 1); its reads redact the args; a
// process with the key then runs the job.
func TestEncryptedArgsWithoutKey(t *testing.T) {
	t.Parallel()
	encryptionStores(t, func(t *testing.T, st store.Store, raw rawRow) {
		ctx := t.Context()
		clock := kilntest.NewClock(testBase)
		workers, ran := secretWorkers()
		withKey := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock, Encryptor: encryptor(t, k1)})
		noKey := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock})
		otherKey := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock, Encryptor: encryptor(t, k2)})
		res, err := withKey.Enqueue(ctx, secretArgs{Email: "ada@example.com"}, &kiln.EnqueueOpts{MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*kiln.Client{noKey, otherKey, noKey} {
			clock.Advance(time.Hour) // past the backoff of the previous attempt
			d := kilntest.Drain(ctx, t, c, nil)
			if len(d.Attempts) != 1 {
				t.Fatalf("%d attempts", len(d.Attempts))
			}
			a := d.Attempts[0]
			if a.Job.State != kiln.JobStateRetryable || a.Job.Attempt != 0 || a.Attempt.Outcome != "failed" {
				t.Fatalf("after an attempt without the key: state %s, attempt %d, outcome %s; want retryable, 0, failed",
					a.Job.State, a.Job.Attempt, a.Attempt.Outcome)
			}
			if !strings.Contains(a.Job.LastError, kiln.ErrArgsKeyMissing.Error()) || !strings.Contains(a.Job.LastError, `key "k1"`) {
				t.Fatalf("last error %q does not say the key is missing", a.Job.LastError)
			}
		}
		if len(ran()) != 0 {
			t.Fatalf("the worker ran without the key: %+v", ran())
		}
		got, err := noKey.JobGet(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ArgsEncrypted || string(got.Args) != `{"kiln_enc":{"kid":"k1","redacted":true}}` {
			t.Errorf("JobGet without the key: args %s, encrypted %v; want the redacted stand-in", got.Args, got.ArgsEncrypted)
		}
		stored, _ := raw(t, res.Job.ID)
		if strings.Contains(stored, "ada@") || !strings.Contains(stored, `"ct"`) {
			t.Errorf("stored args %s after failed attempts", stored)
		}
		d := kilntest.Drain(ctx, t, withKey, &kilntest.DrainOpts{Clock: clock})
		if d.Count(kiln.JobStateCompleted) != 1 || len(ran()) != 1 || ran()[0].Email != "ada@example.com" {
			t.Fatalf("with the key: %d completed, ran %+v", d.Count(kiln.JobStateCompleted), ran())
		}
	})
}

// TestEncryptionKeyRotation: a process with keys [k2, k1] runs jobs of
// both keys and encrypts new ones with k2; unique keys match across the
// rotation; JobArgsReencrypt moves the k1 jobs to k2, after which a
// process with k2 alone runs them.
func TestEncryptionKeyRotation(t *testing.T) {
	t.Parallel()
	encryptionStores(t, func(t *testing.T, st store.Store, raw rawRow) {
		ctx := t.Context()
		clock := kilntest.NewClock(testBase)
		workers, ran := secretWorkers()
		before := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock, Encryptor: encryptor(t, k1)})
		rotating := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock, Encryptor: encryptor(t, k2, k1)})
		after := kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock, Encryptor: encryptor(t, k2)})

		old1, err := before.Enqueue(ctx, secretArgs{Email: "old1"}, &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{}})
		if err != nil {
			t.Fatal(err)
		}
		old2, err := before.Enqueue(ctx, secretArgs{Email: "old2"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		dup, err := rotating.Enqueue(ctx, secretArgs{Email: "old1"}, &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{}})
		if err != nil {
			t.Fatal(err)
		}
		if !dup.UniqueSkipped {
			t.Errorf("a unique job enqueued under k1 was not matched under k2")
		}
		fresh, err := rotating.Enqueue(ctx, secretArgs{Email: "new"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if stored, _ := raw(t, fresh.Job.ID); !strings.Contains(stored, `"k2"`) {
			t.Errorf("a job enqueued with keys [k2 k1] is stored %s; want key k2", stored)
		}
		for _, id := range []int64{old1.Job.ID, old2.Job.ID, fresh.Job.ID} {
			if got, err := rotating.JobGet(ctx, id); err != nil || !strings.Contains(string(got.Args), `"email"`) {
				t.Errorf("job %d with keys [k2 k1]: %s, %v", id, got.Args, err)
			}
		}

		res, err := rotating.JobArgsReencrypt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reencrypted != 2 || res.Current != 1 || len(res.Skipped) != 0 || res.Changed != 0 {
			t.Fatalf("re-encrypt: %+v; want 2 re-encrypted, 1 current", res)
		}
		for _, id := range []int64{old1.Job.ID, old2.Job.ID} {
			if stored, _ := raw(t, id); !strings.Contains(stored, `"k2"`) || strings.Contains(stored, `"old`) {
				t.Errorf("job %d after re-encryption: stored %s", id, stored)
			}
		}
		if res, err := rotating.JobArgsReencrypt(ctx); err != nil || res.Reencrypted != 0 || res.Current != 3 {
			t.Errorf("second re-encrypt: %+v, %v; want nothing to do", res, err)
		}
		d := kilntest.Drain(ctx, t, after, nil)
		if d.Count(kiln.JobStateCompleted) != 3 || len(ran()) != 3 {
			t.Fatalf("with k2 alone after re-encryption: %d completed, ran %+v", d.Count(kiln.JobStateCompleted), ran())
		}
		// A process that only has k1 can no longer read them.
		if got, err := before.JobGet(ctx, old1.Job.ID); err != nil || string(got.Args) != `{"kiln_enc":{"kid":"k2","redacted":true}}` {
			t.Errorf("k1 alone reads %s, %v", got.Args, err)
		}
	})
}

func TestEncryptorConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  kiln.EncryptorConfig
		want string
	}{
		{kiln.EncryptorConfig{HashKey: hashKey}, "no keys"},
		{kiln.EncryptorConfig{Keys: []kiln.EncryptionKey{k1}}, "HashKey has 0 bytes"},
		{kiln.EncryptorConfig{Keys: []kiln.EncryptionKey{{ID: "k1", Key: key(1)[:16]}}, HashKey: hashKey}, "want 32"},
		{kiln.EncryptorConfig{Keys: []kiln.EncryptionKey{{ID: "bad id", Key: key(1)}}, HashKey: hashKey}, "ID"},
		{kiln.EncryptorConfig{Keys: []kiln.EncryptionKey{k1, k1}, HashKey: hashKey}, "twice"},
	} {
		if _, err := kiln.NewEncryptor(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewEncryptor: %v; want an error with %q", err, tc.want)
		}
	}
	e := encryptor(t, k2, k1)
	if ids := e.KeyIDs(); len(ids) != 2 || ids[0] != "k2" {
		t.Errorf("KeyIDs %v", ids)
	}
}

// TestEncryptedArgsReservedKey: plain args cannot pose as encrypted ones.
func TestEncryptedArgsReservedKey(t *testing.T) {
	t.Parallel()
	c := kilntest.NewClient(t, nil)
	_, err := c.Enqueue(t.Context(), kiln.RawArgs{JobKind: "x", JSON: []byte(`{"kiln_enc":{"kid":"k1","ct":"AAAA"}}`)}, nil)
	var verr *kiln.ValidationError
	if !errors.As(err, &verr) || verr.Field != "args" {
		t.Fatalf("enqueue of args with key kiln_enc: %v; want a ValidationError for args", err)
	}
}
