package storetest

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testServices(t *testing.T, newStore NewStoreFunc) {
	t.Run("ReportListDeleteStale", func(t *testing.T) {
		f := newFixture(t, newStore)
		var s store.ServiceStore = f.s
		report := func(name, proc, state string, restarts int, at time.Time) {
			t.Helper()
			errAt := at.Add(-time.Second)
			if err := s.ServiceReport(f.ctx, &store.ServiceReportParams{Row: &kilntype.ServiceRow{Name: name, ProcessID: proc, State: state,
				Singleton: name == "single", Restarts: restarts, LastError: "e", LastErrorAt: &errAt,
				StartedAt: &base, UpdatedAt: at}}); err != nil {
				t.Fatal(err)
			}
		}
		report("single", procB, "waiting", 0, base)
		report("single", procA, "running", 0, base)
		report("pinger", procA, "running", 0, base)
		report("single", procA, "restarting", 2, base.Add(time.Minute)) // replaces the earlier report
		rows, err := s.ServiceList(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Name+"/"+r.ProcessID+"/"+r.State)
		}
		wantStrings(t, "reports", got, []string{"pinger/" + procA + "/running", "single/" + procA + "/restarting", "single/" + procB + "/waiting"})
		r := rows[1]
		if !r.Singleton || r.Restarts != 2 || r.LastError != "e" || r.LastErrorAt == nil || r.StartedAt == nil {
			t.Errorf("report = %+v", r)
		}
		wantTime(t, "UpdatedAt", r.UpdatedAt, base.Add(time.Minute))
		n, err := s.ServiceDeleteStale(f.ctx, &store.ServiceDeleteStaleParams{Before: base.Add(time.Second)})
		if err != nil || n != 2 {
			t.Fatalf("ServiceDeleteStale = %d, %v; want 2", n, err)
		}
		if rows, _ := s.ServiceList(f.ctx); len(rows) != 1 || rows[0].State != "restarting" {
			t.Fatalf("after deleting stale reports: %+v", rows)
		}
	})
}
