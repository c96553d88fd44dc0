package kilntest

import (
	"strings"
)

// maxDiffLines bounds the texts lineDiff compares line by line (its cost
// is their product); longer texts are shown whole, one after the other.
const maxDiffLines = 2000

// lineDiff returns a unified-style diff of want and got, line by line:
// lines only in want start with "- ", lines only in got with "+ ", and
// common lines with "  ". Each output line is indented by indent.
func lineDiff(want, got, indent string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out strings.Builder
	line := func(prefix, s string) {
		out.WriteString(indent + prefix + s + "\n")
	}
	if len(a) > maxDiffLines || len(b) > maxDiffLines {
		for _, s := range a {
			line("- ", s)
		}
		for _, s := range b {
			line("+ ", s)
		}
		return out.String()
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			line("  ", a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			line("- ", a[i])
			i++
		default:
			line("+ ", b[j])
			j++
		}
	}
	return out.String()
}
