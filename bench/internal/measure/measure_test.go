package measure

import (
	"os"
	"runtime"
	"testing"
)

var sink []byte

func TestPeakRSSFollowsResetPeakRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if err := ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	before, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	sink = make([]byte, 64<<20)
	for i := 0; i < len(sink); i += os.Getpagesize() {
		sink[i] = 1 // touch every page, so that it is resident
	}
	peak, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if peak < before+60<<20 {
		t.Fatalf("peak RSS %d after touching 64 MiB, was %d", peak, before)
	}
	sink = nil
	if err := ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	after, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if after >= peak {
		t.Errorf("peak RSS %d after the reset, was %d: not reset", after, peak)
	}
}

func TestProcStatReadsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	comm, cpu, ok := ProcStat(os.Getpid())
	if !ok || comm == "" || cpu < 0 {
		t.Fatalf("ProcStat(self) = %q, %v, %v", comm, cpu, ok)
	}
	if _, _, ok := ProcStat(-1); ok {
		t.Error("ProcStat(-1) ok")
	}
}
