package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCommandFor checks the command that hints tell the user to run: the
// binary as started, or `go run` with the path that works from the
// working directory when `go run` built it.
func TestCommandFor(t *testing.T) {
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "cmd", "kiln"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("// Kiln\nmodule github.com/kilnjobs/kiln // the module\n\ngo 1.25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpRun := "/tmp/go-build2530590940/b001/exe/kiln"
	cached := "/home/me/.cache/go-build/0a/0ad11b7a-d/kiln"
	for _, tc := range []struct {
		name, exe, arg0, wd, gocache, version, want string
	}{
		{"installed, on PATH", "/usr/local/bin/kiln", "kiln", repo, "", "v1.2.0", "kiln"},
		{"started by its path", "/home/me/bin/kiln", "./bin/kiln", repo, "", "", "./bin/kiln"},
		{"path with a space", "/home/me/my bin/kiln", "/home/me/my bin/kiln", repo, "", "", "'/home/me/my bin/kiln'"},
		{"go run at the repository's root", tmpRun, tmpRun, repo, "", "(devel)", "go run ./cmd/kiln"},
		{"go run from a subdirectory", tmpRun, tmpRun, filepath.Join(repo, "internal", "cli"), "", "(devel)", "go run ../../cmd/kiln"},
		{"go run, cached binary", cached, cached, repo, "", "(devel)", "go run ./cmd/kiln"},
		{"go run, custom GOCACHE", "/var/cache/gocache/0a/0ad11b7a-d/kiln", "x", repo, "/var/cache/gocache", "", "go run ./cmd/kiln"},
		{"go run of a version outside the module", tmpRun, tmpRun, other, "", "v1.2.0", "go run github.com/kilnjobs/kiln/cmd/kiln@v1.2.0"},
		{"go run of a development build outside the module", tmpRun, tmpRun, other, "", "(devel)", "go run github.com/kilnjobs/kiln/cmd/kiln@latest"},
	} {
		if got := commandFor(tc.exe, tc.arg0, tc.wd, tc.gocache, tc.version); got != tc.want {
			t.Errorf("%s: commandFor = %q; want %q", tc.name, got, tc.want)
		}
	}
}
