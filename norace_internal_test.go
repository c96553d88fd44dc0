//go:build !race

package kiln

// raceEnabled: see race_internal_test.go.
const raceEnabled = false
