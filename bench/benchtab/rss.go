package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// readSeries reads a series file written by benchtab measure -series.
func readSeries(r io.Reader, name string) ([]sample, error) {
	sc := bufio.NewScanner(r)
	var out []sample
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			if sc.Text() != "t_s\trss_mb" {
				return nil, fmt.Errorf("%s:1: header is %q; want \"t_s\\trss_mb\"", name, sc.Text())
			}
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: %d fields; want 2", name, line, len(f))
		}
		t, err1 := strconv.ParseFloat(f[0], 64)
		rss, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: %q: not two numbers", name, line, sc.Text())
		}
		out = append(out, sample{t: secs(t), rss: rss})
	}
	return out, sc.Err()
}

func rssCmd(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	series, err := readSeries(f, path)
	if err != nil {
		return err
	}
	return writeRSS(w, series)
}

// writeRSS prints the highest resident memory of every minute and whether
// each minute stayed within 10% of the first.
func writeRSS(w io.Writer, series []sample) error {
	var perMin []float64
	for _, s := range series {
		m := int(s.t.Minutes())
		for len(perMin) <= m {
			perMin = append(perMin, 0)
		}
		perMin[m] = max(perMin[m], s.rss)
	}
	if len(perMin) == 0 || perMin[0] == 0 {
		return fmt.Errorf("no samples in the first minute")
	}
	fmt.Fprintf(w, "minute\tmax_rss_mb\tvs_minute_1\n")
	first, worst, peak := perMin[0], 0.0, 0.0
	for i, v := range perMin {
		if v == 0 {
			fmt.Fprintf(w, "%d\t-\t-\n", i+1)
			continue
		}
		d := (v - first) / first * 100
		fmt.Fprintf(w, "%d\t%.1f\t%+.1f%%\n", i+1, v, d)
		worst = max(worst, abs(d))
		peak = max(peak, v)
	}
	verdict := "flat"
	if worst > (flatGrowth-1)*100 {
		verdict = "not flat"
	}
	fmt.Fprintf(w, "peak %.1f MB; every minute within %.1f%% of minute 1: %s (limit %.0f%%)\n", peak, worst, verdict, (flatGrowth-1)*100)
	return nil
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
