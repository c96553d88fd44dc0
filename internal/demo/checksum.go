package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kilnjobs/kiln"
)

// ChecksumArgs computes the SHA-256 checksum of every regular file directly
// in Dir and writes them to the file Output in Dir, in the format of
// sha256sum (so `sha256sum -c` can check them).
type ChecksumArgs struct {
	// Dir is an existing directory.
	Dir string `json:"dir" jsonschema:"required,description=An existing directory"`
	// Output is the name of the file the checksums are written to, in Dir;
	// default "SHA256SUMS". It is not checksummed itself.
	Output string `json:"output,omitempty" jsonschema:"description=The file the checksums are written to in Dir,default=SHA256SUMS"`
}

// Kind returns "demo.checksum".
func (ChecksumArgs) Kind() string { return "demo.checksum" }

// ChecksumWorker runs demo.checksum jobs. It is safe for concurrent use.
type ChecksumWorker struct {
	kiln.WorkerDefaults[ChecksumArgs]
}

// Work hashes the files, checking ctx between files, and writes the
// checksums. It reports its progress with job.Progress after each file
// and after the write (n files and the write are n+1 equal steps), and
// logs a line before and after. A missing directory cancels the job.
func (w *ChecksumWorker) Work(ctx context.Context, job *kiln.Job[ChecksumArgs]) error {
	dir, output := job.Args.Dir, job.Args.output()
	names, err := checksumNames(dir, output)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return kiln.JobCancel(err)
		}
		return err
	}
	steps := len(names) + 1
	if err := reported(job.Logf(ctx, "hashing %d files in %s", len(names), dir)); err != nil {
		return err
	}
	sums, err := hashFiles(ctx, dir, names, func(done int) error {
		return reported(job.Progress(ctx, done*100/steps))
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, s := range sums {
		fmt.Fprintf(&b, "%s  %s\n", s.SHA256, s.Name)
	}
	out := filepath.Join(dir, output)
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checksum: %w", err)
	}
	if err := reported(job.Progress(ctx, 100)); err != nil {
		return err
	}
	return reported(job.Logf(ctx, "wrote %d checksums to %s", len(sums), output))
}

func (a ChecksumArgs) output() string {
	if a.Output == "" {
		return "SHA256SUMS"
	}
	return a.Output
}

// FileSum is the checksum of one file.
type FileSum struct {
	Name   string // file name, without the directory
	SHA256 string // lower-case hex
}

// Checksums returns the SHA-256 checksums of the regular files directly in
// dir, by name, skipping the file named skip and hidden files (names
// starting with a dot, such as files being written).
func Checksums(ctx context.Context, dir, skip string) ([]FileSum, error) {
	names, err := checksumNames(dir, skip)
	if err != nil {
		return nil, err
	}
	return hashFiles(ctx, dir, names, nil)
}

// checksumNames returns the names of the files Checksums hashes, sorted.
func checksumNames(dir, skip string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("checksum: %w", err)
	}
	var names []string
	for _, e := range entries {
		if name := e.Name(); e.Type().IsRegular() && name != skip && !strings.HasPrefix(name, ".") {
			names = append(names, name)
		}
	}
	return names, nil
}

// hashFiles hashes the files names in dir, in order, checking ctx before
// each and calling done (if not nil) with the count of files handled after
// each; an error from done stops it. A file removed since it was listed is
// skipped.
func hashFiles(ctx context.Context, dir string, names []string, done func(n int) error) ([]FileSum, error) {
	var sums []FileSum
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sum, err := hashFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("checksum: %w", err)
		}
		if err == nil {
			sums = append(sums, FileSum{Name: name, SHA256: sum})
		}
		if done != nil {
			if err := done(i + 1); err != nil {
				return nil, err
			}
		}
	}
	return sums, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
