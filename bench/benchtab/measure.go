package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is one reading of a process's resident memory.
type sample struct {
	t   time.Duration // since the start
	rss float64       // MB (2^20 bytes)
}

// measurement is what measure reports about one command.
type measurement struct {
	cpu    time.Duration // user + system
	peakMB float64       // high-water mark of the resident set
	growth float64       // peak over the resident set a third of the way through; 0 if unknown
	series []sample
}

func measureCmd(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	out := fs.String("o", "", "write the figures to `file` (default stderr)")
	seriesPath := fs.String("series", "", "write the resident-memory samples to `file`")
	every := fs.Duration("every", 250*time.Millisecond, "sampling interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no command: benchtab measure [flags] -- CMD ARGS...")
	}
	if *every <= 0 {
		return fmt.Errorf("-every=%s: must be positive", *every)
	}
	m, runErr := measure(fs.Args(), *every)
	if m == nil {
		return runErr
	}
	var w io.Writer = os.Stderr
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	growth := "-"
	if m.growth > 0 {
		growth = strconv.FormatFloat(m.growth, 'f', 3, 64)
	}
	if _, err := fmt.Fprintf(w, "%.3f\t%.1f\t%s\n", m.cpu.Seconds(), m.peakMB, growth); err != nil {
		return err
	}
	if *seriesPath != "" {
		if err := os.WriteFile(*seriesPath, formatSeries(m.series), 0o644); err != nil {
			return err
		}
	}
	return runErr // the command's own failure, reported after its figures
}

// measure runs argv to its end, sampling its resident memory every every.
// It returns the measurement even when the command failed (with the
// error), and nil when it could not start.
func measure(argv []string, every time.Duration) (*measurement, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	m := &measurement{}
	var err error
loop:
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case <-tick.C:
			if rss, ok := readRSS(cmd.Process.Pid); ok {
				m.series = append(m.series, sample{t: time.Since(start), rss: rss})
			}
		case err = <-done:
			break loop
		}
	}
	wall := time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.peakMB = float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	m.growth = growth(m.series, wall, m.peakMB)
	return m, err
}

// growth is peak over the resident memory at a third of the run (the
// first sample at or after it); 0 when there is no such sample.
func growth(series []sample, wall time.Duration, peak float64) float64 {
	for _, s := range series {
		if s.t >= wall/3 && s.rss > 0 {
			return peak / s.rss
		}
	}
	return 0
}

// readRSS returns the VmRSS of a process in MB.
func readRSS(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	return parseVmRSS(b)
}

// parseVmRSS reads the "VmRSS:   1234 kB" line of /proc/<pid>/status.
func parseVmRSS(status []byte) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		return kb / 1024, err == nil
	}
	return 0, false
}

func formatSeries(series []sample) []byte {
	var b bytes.Buffer
	b.WriteString("t_s\trss_mb\n")
	for _, s := range series {
		fmt.Fprintf(&b, "%.1f\t%.2f\n", s.t.Seconds(), s.rss)
	}
	return b.Bytes()
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
