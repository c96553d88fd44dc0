package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the API's OpenAPI 3.0 document; the route table and it are
// checked against each other by a test.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// openAPIDocJSON is openAPIDoc converted to JSON by kin-openapi's loader
// (which also resolves and checks its references). It is generated, not
// converted at run time, so that programs serving the API do not compile
// kin-openapi and its YAML parsers: TestOpenAPIJSONIsTheYAML checks it,
// and `go test ./httpapi -run TestOpenAPIJSONIsTheYAML -update` writes it
// again after a change to openapi.yaml.
//
//go:embed openapi.json
var openAPIDocJSON []byte

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
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDocJSON)
	return err
}
