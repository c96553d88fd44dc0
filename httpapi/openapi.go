package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPIDoc is the API's OpenAPI 3.0 document; the route table and it are
// checked against each other by a test.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// openAPIAsJSON converts openAPIDoc to JSON once, with kin-openapi's
// loader (which also resolves and checks its references).
var openAPIAsJSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		return nil, fmt.Errorf("load embedded openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
})

// openAPIYAML is GET /openapi.yaml: the document as kept in the repository.
func (a *api) openAPIYAML(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(openAPIDoc)
	return err
}

// openAPIJSON is GET /openapi.json: the same document in JSON.
func (a *api) openAPIJSON(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	body, err := openAPIAsJSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}
