package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// Mount the dashboard under a prefix of the application's own mux, beside
// its other routes. Options.Prefix is the path it is mounted at, so that
// its links and its JSON API ({Prefix}/api/) stay under it. Without
// BasicAuth, BearerToken or Authorize it serves loopback clients only.
func ExampleNew() {
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
	client, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		log.Fatal(err)
	}

	dash, err := dashboard.New(client, &dashboard.Options{Prefix: "/admin/kiln"})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "the application") })
	mux.Handle("/admin/kiln/", dash)

	// A real program would serve mux with http.ListenAndServe; here a test
	// server on 127.0.0.1 asks for a few pages.
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/", "/admin/kiln/", "/admin/kiln/queues", "/admin/kiln/api/queues"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Output:
	// / 200 text/plain; charset=utf-8
	// /admin/kiln/ 200 text/html; charset=utf-8
	// /admin/kiln/queues 200 text/html; charset=utf-8
	// /admin/kiln/api/queues 200 application/json
}
