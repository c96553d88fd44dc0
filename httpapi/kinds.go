package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/argschema"
)

// kindsResponse is the body of GET /kinds; see openapi.yaml's Kinds.
type kindsResponse struct {
	Kinds   []string                   `json:"kinds"`
	Schemas map[string]json.RawMessage `json:"schemas"`
}

// kinds is GET /kinds: the kinds the API's client has workers for (empty
// for an enqueue-only client, which accepts any kind), and the JSON
// Schema of each one's args (package argschema). A kind whose args type
// gives a schema that does not compile is listed without one, and the
// error is logged.
func (a *api) kinds(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	res := kindsResponse{Kinds: nonNil(a.client.Kinds()), Schemas: map[string]json.RawMessage{}}
	for _, k := range res.Kinds {
		s, err := argschema.ForKind(a.client, k)
		if err != nil {
			a.logger.Warn("kiln: http api: GET /kinds", "error", err)
			continue
		}
		if s != nil {
			res.Schemas[k] = s.JSON
		}
	}
	return writeJSON(w, http.StatusOK, res)
}

// checkArgsSchema checks args against the JSON Schema of their kind, when
// this process has a worker for it, and returns a 400 naming the first
// field at fault (prefix prepended: "jobs[2].args.to"). Args that are not
// a JSON object, and kinds without a schema, are left to the client's
// check (Client.EnqueueCheck), which follows.
func (a *api) checkArgsSchema(args kiln.RawArgs, prefix string) error {
	s, err := argschema.ForKind(a.client, args.JobKind)
	if err != nil {
		a.logger.Warn("kiln: http api: args schema", "error", err)
		return nil
	}
	if s == nil {
		return nil
	}
	if err := s.Check(args.JobKind, args.JSON); err != nil {
		return checkError(err, prefix)
	}
	return nil
}
