// Package measure reads what the benchmark programs report besides time:
// CPU time of this process and of server processes (from /proc), peak
// resident memory, and the load average. Linux only: elsewhere the
// figures read as zero or "?".
package measure

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUMeter measures the CPU time of this process and of the server
// processes that a function lists (the PostgreSQL backends of the
// benchmark's connections, say). A server process that exits before Stop
// is missed; one that starts after Start is counted from its start.
// A CPUMeter is not safe for concurrent use.
type CPUMeter struct {
	servers func() []int
	self    float64
	other   map[int]float64
}

// StartCPU starts a CPUMeter; servers lists the server processes' PIDs,
// and is called now and by Stop. It may be nil.
func StartCPU(servers func() []int) *CPUMeter {
	m := &CPUMeter{servers: servers, self: SelfCPU(), other: map[int]float64{}}
	if servers != nil {
		for _, pid := range servers() {
			_, m.other[pid], _ = ProcStat(pid)
		}
	}
	return m
}

// Stop returns the CPU seconds (user + system) that this process and the
// server processes used since StartCPU.
func (m *CPUMeter) Stop() (self, servers float64) {
	self = SelfCPU() - m.self
	if m.servers != nil {
		for _, pid := range m.servers() {
			_, cpu, _ := ProcStat(pid)
			servers += cpu - m.other[pid]
		}
	}
	return self, servers
}

// SelfCPU returns the CPU seconds (user + system) this process has used.
func SelfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux
// for every architecture Go supports.
const clockTicks = 100

// ProcStat reads the command name and the CPU seconds (user + system,
// in steps of 10 ms) of process pid from /proc/PID/stat; ok is false when
// the process is gone or the file cannot be read.
func ProcStat(pid int) (comm string, cpu float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	// After the command: state is field 3; utime and stime are fields 14
	// and 15.
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return "", 0, false
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return s[open+1 : closing], (ut + st) / clockTicks, true
}

// Processes returns a function that lists the PIDs of the processes whose
// command name is name (redis-server, say).
func Processes(name string) func() []int {
	return func() []int {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		var out []int
		for _, p := range stats {
			pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil {
				continue
			}
			if comm, _, ok := ProcStat(pid); ok && comm == name {
				out = append(out, pid)
			}
		}
		return out
	}
}

// LoadAvg returns the load average of the last minute, the first field
// of /proc/loadavg, or "?".
func LoadAvg() string {
	f := loadFields()
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// LoadAvg3 returns the load averages of the last 1, 5 and 15 minutes as
// "1.00 / 2.00 / 3.00", or "?".
func LoadAvg3() string {
	f := loadFields()
	if len(f) < 3 {
		return "?"
	}
	return f[0] + " / " + f[1] + " / " + f[2]
}

func loadFields() []string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// ResetPeakRSS returns the memory that the Go runtime holds but does not
// use to the system (debug.FreeOSMemory), then resets this process's peak
// resident set size (VmHWM) to its current size, by writing 5 to
// /proc/self/clear_refs (Linux 4.0 and later). A later PeakRSS then
// reports the peak since this call.
func ResetPeakRSS() error {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS: %w", err)
	}
	return nil
}

// PeakRSS returns this process's peak resident set size in bytes (VmHWM
// of /proc/self/status): since the start of the process, or since the last
// ResetPeakRSS.
func PeakRSS() (int64, error) { return statusBytes("VmHWM:") }

// RSS returns this process's resident set size in bytes (VmRSS).
func RSS() (int64, error) { return statusBytes("VmRSS:") }

// StatusBytes returns a size field of /proc/self/status in bytes: field
// is the line's name with its colon ("RssAnon:", "RssFile:", "RssShmem:",
// say).
func StatusBytes(field string) (int64, error) { return statusBytes(field) }

func statusBytes(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/self/status: unexpected %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status: %q: %w", line, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no %s line", strings.TrimSuffix(field, ":"))
}
