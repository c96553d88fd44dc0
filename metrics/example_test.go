package metrics_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/metrics"
	"github.com/kilnjobs/kiln/store/sqlite"
)

type emailArgs struct{}

func (emailArgs) Kind() string { return "email" }

// Register a Collector in a Prometheus registry (or serve
// Collector.Handler): jobs by queue and state are read from the store at
// each scrape, and this process's attempts are counted from its events.
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

	col, err := metrics.New(client, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer col.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)

	for range 2 {
		if _, err := client.Enqueue(context.Background(), emailArgs{}, nil); err != nil {
			log.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "kiln_jobs" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetGauge().GetValue(); v > 0 {
				fmt.Print(f.GetName(), "{")
				for i, l := range m.GetLabel() {
					if i > 0 {
						fmt.Print(",")
					}
					fmt.Printf("%s=%q", l.GetName(), l.GetValue())
				}
				fmt.Println("}", v)
			}
		}
	}
	// Output:
	// kiln_jobs{queue="default",state="available"} 2
}
