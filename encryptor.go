package kiln

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/store"
)

// EncryptionKey is one key of an Encryptor: 32 random bytes (AES-256) and
// the ID stored beside every ciphertext it makes, so that the key that can
// open a job's args is found again after rotation.
type EncryptionKey struct {
	// ID names the key: 1 to 64 bytes of ASCII letters, digits, '.', '_'
	// or '-'. Never reuse an ID for another key.
	ID string
	// Key is the AES-256 key: exactly 32 bytes, from a secure random
	// source (crypto/rand), kept out of the database.
	Key []byte
}

// EncryptorConfig configures NewEncryptor.
type EncryptorConfig struct {
	// Keys are the keys that decrypt args; Keys[0], the newest, encrypts
	// every new job's args. To rotate, put a new key first and keep the
	// old ones until Client.JobArgsReencrypt has moved every job to the
	// new key (see docs/encryption.md). At least one key.
	Keys []EncryptionKey
	// HashKey keys the HMAC-SHA256 of the plaintext args that unique jobs
	// are matched by (UniqueOpts), so that the unique key in the database
	// does not let anyone confirm a guess of the args. At least 32 bytes.
	// It must stay the same across key rotations and in every process
	// sharing the store: a new HashKey makes new unique keys, which do not
	// match those of jobs enqueued before.
	HashKey []byte
}

// Encryptor encrypts the args of jobs at rest with AES-256-GCM, keys
// with IDs, so that they rotate (see EncryptorConfig and
// docs/encryption.md). Set it as Config.Encryptor in every process that
// enqueues or runs jobs whose args hold personal data or secrets. It is
// safe for concurrent use.
//
// A job's args are stored as a JSON envelope that both stores keep as
// they keep any args: {"kiln_enc":{"kid":"<key ID>","ct":"<base64>"}},
// where ct is a 12-byte random nonce followed by the sealed JSON of the
// args, with the job's kind as additional data (a ciphertext moved to a
// job of another kind does not open). Metadata, tags, kinds and queues
// are not encrypted.
type Encryptor struct {
	keys    map[string]cipher.AEAD
	ids     []string // newest first
	hashKey []byte
}

// encKey is the only key of an args envelope.
const encKey = "kiln_enc"

// envelope is the stored form of encrypted args: {"kiln_enc": envelope}.
// A redacted copy (Redacted set, no CT) replaces the args where they
// cannot or may not be shown.
type envelope struct {
	KID      string `json:"kid"`
	CT       string `json:"ct,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
}

// NewEncryptor returns an Encryptor for cfg, or an error naming the first
// invalid key (a wrong length, an empty, invalid or repeated ID) or a
// HashKey shorter than 32 bytes.
func NewEncryptor(cfg EncryptorConfig) (*Encryptor, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("kiln: encryptor: no keys")
	}
	if len(cfg.HashKey) < 32 {
		return nil, fmt.Errorf("kiln: encryptor: HashKey has %d bytes; want at least 32", len(cfg.HashKey))
	}
	e := &Encryptor{keys: make(map[string]cipher.AEAD, len(cfg.Keys)), hashKey: bytes.Clone(cfg.HashKey)}
	for i, k := range cfg.Keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("kiln: encryptor: key %d: ID %q: want 1 to 64 bytes of letters, digits, '.', '_' or '-'", i, k.ID)
		}
		if _, dup := e.keys[k.ID]; dup {
			return nil, fmt.Errorf("kiln: encryptor: key ID %q given twice", k.ID)
		}
		if len(k.Key) != 32 {
			return nil, fmt.Errorf("kiln: encryptor: key %q has %d bytes; want 32 (AES-256)", k.ID, len(k.Key))
		}
		block, err := aes.NewCipher(bytes.Clone(k.Key))
		if err != nil {
			return nil, fmt.Errorf("kiln: encryptor: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("kiln: encryptor: key %q: %w", k.ID, err)
		}
		e.keys[k.ID] = aead
		e.ids = append(e.ids, k.ID)
	}
	return e, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// KeyIDs returns the IDs of e's keys, newest (the one that encrypts)
// first; nil for a nil Encryptor.
func (e *Encryptor) KeyIDs() []string {
	if e == nil {
		return nil
	}
	return slices.Clone(e.ids)
}

// encrypt returns the envelope of plain, the args of a job of kind,
// sealed with the newest key.
func (e *Encryptor) encrypt(kind string, plain []byte) (json.RawMessage, error) {
	return e.seal(additionalData(kind), plain)
}

// seal returns the envelope of plain sealed with the newest key and ad as
// additional data.
func (e *Encryptor) seal(ad, plain []byte) (json.RawMessage, error) {
	kid := e.ids[0]
	aead := e.keys[kid]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt args: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, plain, ad)
	return json.Marshal(map[string]envelope{encKey: {KID: kid, CT: base64.StdEncoding.EncodeToString(sealed)}})
}

// decrypt opens env, the envelope of the args of a job of kind. The error
// wraps ErrArgsKeyMissing when e has no key of env's ID.
func (e *Encryptor) decrypt(kind string, env *envelope) ([]byte, error) {
	plain, err := e.open(additionalData(kind), env)
	switch {
	case err == nil, errors.Is(err, ErrArgsKeyMissing):
		return plain, err
	case errors.Is(err, errNotCiphertext):
		return nil, fmt.Errorf("kiln: encrypted args (key %q) are not valid base64 of a nonce and ciphertext", env.KID)
	}
	return nil, fmt.Errorf("kiln: encrypted args (key %q) do not open for kind %q: tampered with, or sealed for another kind: %w", env.KID, kind, err)
}

// errNotCiphertext is open's error for an envelope whose ct is not the
// base64 of a nonce and a ciphertext.
var errNotCiphertext = errors.New("not valid base64 of a nonce and ciphertext")

// open opens env, sealed with ad as additional data. The error wraps
// ErrArgsKeyMissing when e has no key of env's ID.
func (e *Encryptor) open(ad []byte, env *envelope) ([]byte, error) {
	var aead cipher.AEAD
	if e != nil {
		aead = e.keys[env.KID]
	}
	if aead == nil {
		return nil, &argsKeyError{kid: env.KID, have: e.KeyIDs()}
	}
	sealed, err := base64.StdEncoding.DecodeString(env.CT)
	if err != nil || len(sealed) < aead.NonceSize() {
		return nil, errNotCiphertext
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
}

func additionalData(kind string) []byte { return []byte("kiln args\x00" + kind) }

// hash returns the HMAC-SHA256 that unique keys are made with.
func (e *Encryptor) hash() hash.Hash { return hmac.New(sha256.New, e.hashKey) }

// ErrArgsKeyMissing is wrapped by the error of an attempt whose job's args
// are encrypted with a key this process does not hold (no
// Config.Encryptor, or none of its keys has the ID stored with the args).
// Such an attempt fails without using one of the job's attempts: the job
// is kept, retryable, with that error as its LastError, until a process
// with the key runs it. It never runs with args it cannot read, and it is
// never discarded for want of a key.
var ErrArgsKeyMissing = jobexec.ErrArgsKeyMissing

type argsKeyError struct {
	kid  string
	have []string
}

func (e *argsKeyError) Error() string {
	if len(e.have) == 0 {
		return fmt.Sprintf("%v: key %q (this process has no Config.Encryptor)", ErrArgsKeyMissing, e.kid)
	}
	return fmt.Sprintf("%v: key %q (Config.Encryptor has keys %q)", ErrArgsKeyMissing, e.kid, e.have)
}

func (e *argsKeyError) Unwrap() error { return ErrArgsKeyMissing }

// mayHoldEncKey reports whether b, JSON, may spell the key kiln_enc: with
// its bytes, or with a \u escape (`"kiln\u005fenc"`), which PostgreSQL's
// jsonb decodes when it stores the args or output, so that they would
// read back as an envelope on PostgreSQL and as plain JSON on SQLite. A
// cheap byte search that spares the JSON decode of ordinary JSON.
func mayHoldEncKey(b []byte) bool {
	return bytes.Contains(b, []byte(`"`+encKey+`"`)) || bytes.Contains(b, []byte(`\u`))
}

// hasEncKey reports whether args, a JSON object, has the top-level key
// kiln_enc, however spelled, which is reserved for encrypted args.
func hasEncKey(args []byte) bool {
	if !mayHoldEncKey(args) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil {
		return false
	}
	_, ok := m[encKey]
	return ok
}

// revealArgs turns the stored args of row, if encrypted, into what a
// reader gets: the plain args when e opens them, else the redacted
// stand-in; it sets row.ArgsEncrypted. A row cut by a list (ArgsTruncated,
// the start of its envelope in ArgsPreview) is redacted: its
// ciphertext is not whole. preview is the list's ArgsPreview (0: whole
// args). A nil e redacts.
func (e *Encryptor) revealArgs(row *JobRow, preview int) {
	if row.ArgsTruncated {
		p := strings.ReplaceAll(row.ArgsPreview[:min(len(row.ArgsPreview), 16)], " ", "")
		if strings.HasPrefix(p, `{"`+encKey+`":`) {
			row.ArgsEncrypted, row.ArgsPreview = true, string(redactedArgs(""))
		}
		return
	}
	env := openEnvelope(row.Args)
	if env == nil {
		return
	}
	row.ArgsEncrypted = true
	if env.Redacted {
		return
	}
	plain, err := e.decrypt(row.Kind, env)
	if err != nil {
		row.Args, row.ArgsBytes = redactedArgs(env.KID), len(redactedArgs(env.KID))
		return
	}
	row.Args = plain
	if preview > 0 {
		store.PreviewArgs(row, int64(len(plain)), preview)
	} else {
		row.ArgsBytes = len(plain)
	}
}

// RedactArgs replaces row's args by the redacted stand-in when they are
// encrypted (row.ArgsEncrypted), for readers that hold the key but serve
// a viewer who may not see them.
func RedactArgs(row *JobRow) {
	redactOutput(row)
	if !row.ArgsEncrypted {
		return
	}
	kid := ""
	if env := openEnvelope(row.Args); env != nil {
		kid = env.KID
	}
	if row.ArgsTruncated {
		row.ArgsPreview = string(redactedArgs(kid))
		return
	}
	row.Args = redactedArgs(kid)
	row.ArgsBytes = len(row.Args)
}

// openEnvelope returns the envelope args hold, or nil if args are not
// encrypted (a JSON object whose only key is kiln_enc, however spelled:
// both stores read the same rows alike).
func openEnvelope(args []byte) *envelope {
	if !mayHoldEncKey(args) {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil || len(m) != 1 || m[encKey] == nil {
		return nil
	}
	var env envelope
	if json.Unmarshal(m[encKey], &env) != nil || env.KID == "" {
		return nil
	}
	return &env
}

// redactedArgs returns the args shown in place of args encrypted with key
// kid: {"kiln_enc":{"kid":"<kid>","redacted":true}}.
func redactedArgs(kid string) json.RawMessage {
	b, _ := json.Marshal(map[string]envelope{encKey: {KID: kid, Redacted: true}})
	return b
}

// ReencryptResult is what Client.JobArgsReencrypt did.
type ReencryptResult struct {
	// Reencrypted is how many jobs' args it moved to the newest key.
	Reencrypted int
	// Current is how many jobs' args were already under the newest key.
	Current int
	// Skipped lists the IDs of jobs whose args it could not open (a key
	// this process does not hold, or a tampered ciphertext), at most 100.
	Skipped []int64
	// Changed is how many jobs changed (or went) while it ran; run it
	// again to catch them.
	Changed int
}

// reencryptPage is how many jobs JobArgsReencrypt reads at a time.
const reencryptPage = 500

// JobArgsReencrypt rewrites, with the Encryptor's newest key, the args of
// every stored job that an older key encrypts, in any state, so that the
// older key can then be removed from every process's Config.Encryptor
// (see docs/encryption.md). It reads the jobs in ID order, a page of 500
// at a time (only those whose args hold encrypted text), and rewrites each
// with a compare-and-set, so jobs enqueued, run or deleted meanwhile are
// safe: a job whose args changed in between is counted in Changed and left
// alone. Running jobs are rewritten too: their worker already holds the
// plain args. It returns an error if the client has no Encryptor; ctx
// bounds the walk.
// Plain args are left plain. Recurring entries are not touched:
// Config.Recurring entries are re-encrypted at each Start, others by
// RecurringAddOrUpdate.
func (c *Client) JobArgsReencrypt(ctx context.Context) (*ReencryptResult, error) {
	e := c.cfg.Encryptor
	if e == nil {
		return nil, errors.New("kiln: re-encrypt job args: Config.Encryptor is nil")
	}
	res := &ReencryptResult{}
	p := &store.JobListParams{OrderAsc: true, Limit: reencryptPage, ArgsContains: `"` + encKey + `"`}
	for {
		rows, err := c.cfg.Store.JobList(ctx, p)
		if err != nil {
			return res, fmt.Errorf("kiln: re-encrypt job args: %w", err)
		}
		for _, row := range rows {
			env := openEnvelope(row.Args)
			if env == nil || env.Redacted {
				continue
			}
			if env.KID == e.ids[0] {
				res.Current++
				continue
			}
			plain, err := e.decrypt(row.Kind, env)
			if err != nil {
				if len(res.Skipped) < 100 {
					res.Skipped = append(res.Skipped, row.ID)
				}
				continue
			}
			sealed, err := e.encrypt(row.Kind, plain)
			if err != nil {
				return res, fmt.Errorf("kiln: re-encrypt job args: %w", err)
			}
			done, err := c.cfg.Store.JobArgsReplace(ctx, &store.JobArgsReplaceParams{ID: row.ID, Old: row.Args, New: sealed})
			if err != nil {
				return res, fmt.Errorf("kiln: re-encrypt job args: %w", err)
			}
			if done {
				res.Reencrypted++
			} else {
				res.Changed++
			}
		}
		if len(rows) < reencryptPage {
			return res, nil
		}
		p.Cursor = rows[len(rows)-1].ID
	}
}
