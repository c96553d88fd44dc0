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
	"slices"
	"strings"

	"github.com/kilnjobs/kiln"
)

// ChecksumArgs computes the SHA-256 checksum of every regular file directly
// in Dir and writes them to the file Output in Dir, in the format of
// sha256sum (so `sha256sum -c` can check them).
type ChecksumArgs struct {
	// Dir is an existing directory.
	Dir string `json:"dir"`
	// Output is the name of the file the checksums are written to, in Dir;
	// default "SHA256SUMS". It is not checksummed itself.
	Output string `json:"output,omitempty"`
}

// Kind returns "demo.checksum".
func (ChecksumArgs) Kind() string { return "demo.checksum" }

// ChecksumWorker runs demo.checksum jobs. It is safe for concurrent use.
type ChecksumWorker struct {
	kiln.WorkerDefaults[ChecksumArgs]
}

// Work hashes the files, checking ctx between files, and writes the
// checksums. A missing directory cancels the job.
func (w *ChecksumWorker) Work(ctx context.Context, job *kiln.Job[ChecksumArgs]) error {
	sums, err := Checksums(ctx, job.Args.Dir, job.Args.output())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return kiln.JobCancel(err)
		}
		return err
	}
	var b strings.Builder
	for _, s := range sums {
		fmt.Fprintf(&b, "%s  %s\n", s.SHA256, s.Name)
	}
	out := filepath.Join(job.Args.Dir, job.Args.output())
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checksum: %w", err)
	}
	return nil
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("checksum: %w", err)
	}
	var sums []FileSum
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == skip || strings.HasPrefix(name, ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sum, err := hashFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("checksum: %w", err)
		}
		sums = append(sums, FileSum{Name: name, SHA256: sum})
	}
	slices.SortFunc(sums, func(a, b FileSum) int { return strings.Compare(a.Name, b.Name) })
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
