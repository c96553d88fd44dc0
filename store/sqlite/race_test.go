//go:build race

package sqlite

// raceEnabled reports whether the tests run under the race detector,
// which makes SQLite's statements several times slower: the longest
// randomised and whole-suite tests run a smaller share under it (CI runs
// them whole without it, .ci/run).
const raceEnabled = true
