package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Server is the demo's HTTP endpoint on 127.0.0.1, which demo.http_call and
// http jobs call. Its routes are:
//
//	GET  /work?ms=N     waits N milliseconds (at most 5000), then answers
//	                    {"ok":true,"request":K}
//	POST /echo          answers with the JSON body it got
//	ANY  /status/CODE   answers with that status code
//
// It is safe for concurrent use. Create it with StartServer.
type Server struct {
	// URL is the server's base URL, like http://127.0.0.1:40123.
	URL string

	srv      *http.Server
	served   chan struct{} // closed when Serve has returned
	requests atomic.Int64
}

// StartServer starts a Server on a free port of 127.0.0.1. Close it.
func StartServer() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: start http server: %w", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), served: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", s.work)
	mux.HandleFunc("POST /echo", s.echo)
	mux.HandleFunc("/status/{code}", s.status)
	s.srv = &http.Server{Handler: s.count(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server: it waits for requests in progress until ctx is
// done, then closes their connections. It returns when the server has
// stopped.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.served
	return err
}

func (s *Server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) work(w http.ResponseWriter, r *http.Request) {
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	ms = min(max(ms, 0), 5000)
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"request":%d}`+"\n", s.requests.Load())
}

func (s *Server) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		http.Error(w, "want a JSON body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		http.Error(w, "want a status code from 200 to 599", http.StatusBadRequest)
		return
	}
	http.Error(w, http.StatusText(code), code)
}
