package dashboard

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// hideArgs reports whether r's viewer may not see decrypted args
// (Options.RevealArgs).
func (h *handler) hideArgs(r *http.Request) bool {
	return h.opts.RevealArgs != nil && !h.opts.RevealArgs(r)
}

// redactJobs replaces the encrypted args of rows by the redacted stand-in
// when hidden, so that no page written from them holds the plain args.
func redactJobs(hidden bool, rows ...*kilntype.JobRow) {
	if !hidden {
		return
	}
	for _, row := range rows {
		kiln.RedactArgs(row)
	}
}

// argsNote is how a page marks a job's encrypted args: a badge, and either
// the decrypted args (Show) or, in their place, why they are not shown.
type argsNote struct {
	// Badge is "encrypted", "encrypted, key not held" or "encrypted,
	// hidden".
	Badge string
	// Show is true when the page shows the args (decrypted).
	Show bool
	// Cut is true when a list cut the encrypted args: open the job to
	// see them.
	Cut bool
	// Why says, in place of the args, why they are not shown.
	Why string
}

// noteArgs returns the note of row's args when they are encrypted, else
// nil. hidden is whether the viewer may not see decrypted args (the row
// has been redacted then).
func noteArgs(row *kilntype.JobRow, hidden bool) *argsNote {
	if !row.ArgsEncrypted {
		return nil
	}
	text := string(row.Args)
	if row.ArgsTruncated {
		text = row.ArgsPreview
	}
	var standIn struct {
		Enc *struct {
			KID      string `json:"kid"`
			Redacted bool   `json:"redacted"`
		} `json:"kiln_enc"`
	}
	redacted := json.Unmarshal([]byte(text), &standIn) == nil && standIn.Enc != nil && standIn.Enc.Redacted
	switch {
	case hidden:
		return &argsNote{Badge: "encrypted, hidden", Why: "The args are encrypted and hidden from you."}
	case !redacted:
		return &argsNote{Badge: "encrypted", Show: true}
	case row.ArgsTruncated:
		return &argsNote{Badge: "encrypted", Cut: true, Why: "The args are encrypted and too long to preview: open the job."}
	default:
		return &argsNote{Badge: "encrypted, key not held", Why: "The args are encrypted with key " + strconv.Quote(standIn.Enc.KID) + ", which this process does not hold."}
	}
}
