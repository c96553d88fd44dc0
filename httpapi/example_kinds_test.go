package httpapi_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// InviteArgs are the args of an "invite" job. The jsonschema tags give
// their schema its descriptions, required field, enum and default.
type InviteArgs struct {
	Email string `json:"email" jsonschema:"required,format=email,description=Who is invited"`
	Role  string `json:"role,omitempty" jsonschema:"enum=viewer,enum=editor,default=viewer"`
}

func (InviteArgs) Kind() string { return "invite" }

// GET /kinds returns the JSON Schema of each kind's args, generated from
// its Go type, and every enqueue is checked against it: a typo is a 400
// naming the field.
func ExampleNew_kindSchemas() {
	dir, err := os.MkdirTemp("", "kiln-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[InviteArgs]) error { return nil }))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	api := httpapi.New(client, nil)

	do := func(method, path, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body)
	}
	do("GET", "/kinds", "")
	do("POST", "/jobs", `{"kind": "invite", "args": {"emial": "ada@example.com"}}`)
	// Output:
	// 200 {"kinds":["invite"],"schemas":{"invite":{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"email":{"type":"string","format":"email","description":"Who is invited"},"role":{"type":"string","enum":["viewer","editor"],"default":"viewer"}},"additionalProperties":false,"type":"object","required":["email"]}}}
	// 400 {"error":"args.emial: unknown field \"emial\": the args of kind \"invite\" have no such field; its fields are \"email\", \"role\"","field":"args.emial"}
}
