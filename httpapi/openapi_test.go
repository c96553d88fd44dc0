package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var update = flag.Bool("update", false, "write openapi.json again from openapi.yaml")

// TestOpenAPIJSONIsTheYAML checks that the embedded openapi.json is
// openapi.yaml as kin-openapi's loader converts it; with -update it writes
// the file.
func TestOpenAPIJSONIsTheYAML(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	want, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile("openapi.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(openAPIDocJSON, want) {
		t.Fatal("openapi.json is not openapi.yaml converted: run go test ./httpapi -run TestOpenAPIJSONIsTheYAML -update")
	}
}
