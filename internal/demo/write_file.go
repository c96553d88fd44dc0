package demo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kilnjobs/kiln"
)

// WriteFileArgs writes Content to the file Name in the directory Dir.
type WriteFileArgs struct {
	// Dir is an existing directory.
	Dir string `json:"dir" jsonschema:"required,description=An existing directory"`
	// Name is a file name, without directories.
	Name string `json:"name" jsonschema:"required,description=A file name without directories"`
	// Content is what the file will hold.
	Content string `json:"content" jsonschema:"description=What the file will hold"`
}

// Kind returns "demo.write_file".
func (WriteFileArgs) Kind() string { return "demo.write_file" }

// WriteFileWorker runs demo.write_file jobs. It is safe for concurrent use.
type WriteFileWorker struct {
	kiln.WorkerDefaults[WriteFileArgs]
}

// Work writes the file through a temporary file and a rename, so that a
// checksum job never reads half a file. A missing directory or a name with
// directories in it cancels the job: retrying would not help.
func (w *WriteFileWorker) Work(ctx context.Context, job *kiln.Job[WriteFileArgs]) error {
	a := job.Args
	if a.Name == "" || a.Name != filepath.Base(a.Name) || a.Name == "." || a.Name == ".." {
		return kiln.JobCancel(fmt.Errorf("write_file: name %q must be a plain file name", a.Name))
	}
	if info, err := os.Stat(a.Dir); err != nil || !info.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return kiln.JobCancel(fmt.Errorf("write_file: directory %q does not exist", a.Dir))
		}
		return fmt.Errorf("write_file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(a.Dir, "."+a.Name+".tmp*")
	if err != nil {
		return fmt.Errorf("write_file: %w", err)
	}
	_, err = tmp.WriteString(a.Content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(a.Dir, a.Name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write_file: %w", err)
	}
	return nil
}
