package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// kilnModule is the module path of Kiln, whose cmd/kiln is this command.
const kilnModule = "github.com/kilnjobs/kiln"

// selfCommand returns the command line that runs this kiln again, for
// hints such as "See them with: <it> jobs list": "go run ./cmd/kiln" (the
// path from the working directory) when `go run` built the binary, else
// the binary as it was started (os.Args[0]: "kiln" when $PATH found it,
// else its path).
func selfCommand(getenv func(string) string) string {
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = ""
	}
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
	}
	return commandFor(exe, os.Args[0], wd, getenv("GOCACHE"), version)
}

// commandFor is selfCommand for the executable exe started as arg0, in
// the working directory wd, with the Go build cache gocache ("": the
// default) and the main module's version (from the build info).
//
// `go run` builds into a temporary directory named go-build<N>, or (Go
// 1.24 and later) into the build cache, by default .../go-build/ under
// the user's cache directory. Its command is "go run" with the path of
// cmd/kiln from wd when wd is inside Kiln's module, else with the package
// path at the module's version (latest for a development build).
func commandFor(exe, arg0, wd, gocache, version string) string {
	if !builtByGoRun(exe, gocache) {
		if arg0 == "" {
			return "kiln"
		}
		return shellQuote(arg0)
	}
	if root := moduleRoot(wd); root != "" {
		rel, err := filepath.Rel(wd, filepath.Join(root, "cmd", "kiln"))
		if err == nil {
			rel = filepath.ToSlash(rel)
			if !strings.HasPrefix(rel, ".") {
				rel = "./" + rel
			}
			return "go run " + shellQuote(rel)
		}
	}
	if version == "" || version == "(devel)" {
		version = "latest"
	}
	return "go run " + kilnModule + "/cmd/kiln@" + version
}

// builtByGoRun reports whether exe lies in a directory of the go command:
// a go-build<N> temporary directory, a go-build cache directory, or the
// build cache gocache.
func builtByGoRun(exe, gocache string) bool {
	if exe == "" {
		return false
	}
	dir := filepath.Dir(filepath.Clean(exe))
	if gocache != "" {
		if rel, err := filepath.Rel(filepath.Clean(gocache), dir); err == nil && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	for _, part := range strings.Split(filepath.ToSlash(dir), "/") {
		if strings.HasPrefix(part, "go-build") {
			return true
		}
	}
	return false
}

// moduleRoot returns the directory at or above wd whose go.mod declares
// Kiln's module, or "" if none does.
func moduleRoot(wd string) string {
	if wd == "" {
		return ""
	}
	for dir := filepath.Clean(wd); ; {
		if modulePath(filepath.Join(dir, "go.mod")) == kilnModule {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// modulePath returns the module path that the go.mod file at path
// declares, or "" if it cannot be read.
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
