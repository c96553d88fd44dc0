package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// binDir holds the kiln binary that the tests build, once per test run;
// TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kiln-cluster-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	// goleak's Cleanup replaces its os.Exit, so it exits with the code.
	goleak.VerifyTestMain(pgtest.Main(m), goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// buildKiln builds ./cmd/kiln into binDir the first time it is called and
// returns the binary's path. It is built with -race when the tests are, so
// that a data race in a process also fails the test (the process exits
// with status 66 when it stops).
var buildKiln = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "kiln")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	// go test puts its own go first on PATH.
	cmd := exec.Command("go", append(args, "github.com/kilnjobs/kiln/cmd/kiln")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err: err, output: string(out)}
	}
	return bin, nil
})

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return "go build ./cmd/kiln: " + e.err.Error() + "\n" + e.output }

// kilnBinary returns the path of the kiln binary, building it if needed.
func kilnBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildKiln()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
