//go:build race

package kiln

// raceEnabled reports whether the tests run under the race detector,
// under which sync.Pool drops items at random: allocation counts are
// measured without it (.ci/run).
const raceEnabled = true
