package result

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/strictcsv"
)

// metaHeader is the header of <Test>_meta.csv: a row per key, in the
// fixed order of metaKeys. The file is written with encoding/csv, not
// gocsv: it is one Meta as key/value rows, not a row per value.
var metaHeader = []string{"Key", "Value"}

// The keys of the meta file, in the order they are written.
var metaKeys = []string{
	"test", "run_id", "version", "status", "reason",
	"model", "users", "spawn_rate", "wait", "rate", "max_in_flight", "stages",
	"duration", "window", "grace",
	"start", "elapsed",
	"target", "env", "stand_in",
	"git_commit", "go_version",
	"scheduled", "late", "waited", "dropped", "max_lag", "lag_p50", "lag_p99", "coalesce",
	"paused", "outages", "starved_windows", "shard", "location",
	"generator_cpu_wait_pct", "generator_cpu_pressure_pct", "generator_steal_pct", "generator_throttled_pct",
}

// optionalMeta are keys added after the first format: files without them
// still read.
var optionalMeta = map[string]bool{"waited": true, "lag_p50": true, "lag_p99": true, "coalesce": true,
	"paused": true, "outages": true, "starved_windows": true, "shard": true, "location": true, "stages": true,
	"generator_cpu_wait_pct": true, "generator_cpu_pressure_pct": true, "generator_steal_pct": true, "generator_throttled_pct": true}

// writtenWhenSet are optional keys written only when they have a value
// (not zero, not empty), so that the metadata of a run that uses none of
// them reads as it always has, by readers that predate them too. The
// generator's CPU shares are written when known, zero included.
var writtenWhenSet = map[string]bool{"waited": true, "paused": true, "outages": true, "starved_windows": true, "shard": true, "location": true, "stages": true}

// WriteMeta writes m as <Test>_meta.csv: the header, then a Key,Value row
// per key in a fixed order.
func WriteMeta(w io.Writer, m Meta) error {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	v := map[string]string{
		"test": m.Test, "run_id": m.RunID, "version": m.Version,
		"status": string(m.Status), "reason": m.Reason,
		"model": m.Model, "users": strconv.Itoa(m.Users), "spawn_rate": f(m.SpawnRate),
		"wait": m.Wait, "rate": f(m.Rate), "max_in_flight": strconv.Itoa(m.MaxInFlight),
		"stages": m.Stages, "duration": m.Duration.String(), "window": m.Window.String(), "grace": m.Grace.String(),
		"start": m.Start.UTC().Format(time.RFC3339Nano), "elapsed": m.Elapsed.String(),
		"target": m.Target, "env": m.Env, "stand_in": m.StandIn,
		"git_commit": m.GitCommit, "go_version": m.GoVersion,
		"scheduled": strconv.FormatInt(m.Scheduled, 10), "late": strconv.FormatInt(m.Late, 10),
		"waited": strconv.FormatInt(m.Waited, 10), "dropped": strconv.FormatInt(m.Dropped, 10), "max_lag": m.MaxLag.String(),
		"lag_p50": m.LagP50.String(), "lag_p99": m.LagP99.String(), "coalesce": m.Coalesce.String(),
		"paused": m.Paused.String(), "outages": strconv.Itoa(m.Outages), "starved_windows": strconv.Itoa(m.Starved),
		"shard": m.Shard, "location": m.Location,
	}
	for k, sh := range map[string]Share{"generator_cpu_wait_pct": m.CPUWait, "generator_cpu_pressure_pct": m.CPUPressure, "generator_steal_pct": m.Steal, "generator_throttled_pct": m.Throttled} {
		if sh.Known {
			v[k] = sh.String()
		}
	}
	cw := csv.NewWriter(w)
	cw.Write(metaHeader)
	for _, k := range metaKeys {
		if _, ok := v[k]; !ok || writtenWhenSet[k] && (v[k] == "" || v[k] == "0" || v[k] == "0s") {
			continue
		}
		cw.Write([]string{k, v[k]})
	}
	cw.Flush()
	return cw.Error()
}

// MetaFile names the metadata file of a test in dir.
func MetaFile(dir, test string) string {
	return strings.TrimSuffix(dir, "/") + "/" + FileBase(test) + "_meta.csv"
}

// ReadMeta parses a meta file written by WriteMeta. name is used in errors,
// which have the form "name:line: key: what is wrong". Unknown keys are an
// error, so are missing ones, and so is any text WriteMeta would not write:
// CR LF line endings, invalid UTF-8, a last line without its line ending.
// Every value is checked: counts and rates finite and non-negative (an
// open model's rate positive, a closed model's users at least one),
// durations from 0s to 31 days, percentages from 0 to 100.
func ReadMeta(name string, r io.Reader) (Meta, error) {
	var m Meta
	cr, err := strictcsv.NewReader(name, r, metaHeader)
	if err != nil {
		return m, err
	}
	lines := map[string]int{}
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, err
		}
		k, v := rec[0], rec[1]
		if lines[k] != 0 {
			return m, fmt.Errorf("%s:%d: key %q appears twice", name, line, k)
		}
		lines[k] = line
		if err := m.set(k, v); err != nil {
			return m, fmt.Errorf("%s:%d: %s: %v", name, line, k, err)
		}
	}
	for _, k := range metaKeys {
		if lines[k] == 0 && !optionalMeta[k] {
			return m, fmt.Errorf("%s: key %q is missing", name, k)
		}
	}
	switch {
	case m.Model == "open" && m.Rate == 0:
		return m, fmt.Errorf("%s:%d: rate: 0 in the open model: want a positive rate", name, lines["rate"])
	case m.Model == "closed" && m.Users == 0:
		return m, fmt.Errorf("%s:%d: users: 0 in the closed model: want at least one user", name, lines["users"])
	}
	return m, nil
}

func (m *Meta) set(k, v string) (err error) {
	i64 := func(dst *int64) { *dst, err = strictcsv.Int(v, 0, strictcsv.MaxCount) }
	i := func(dst *int) {
		var n int64
		i64(&n)
		*dst = int(n)
	}
	fl := func(dst *float64) { *dst, err = strictcsv.Float(v, 0, strictcsv.MaxRate) }
	dur := func(dst *time.Duration) { *dst, err = strictcsv.Duration(v) }
	switch k {
	case "test":
		m.Test = v
	case "run_id":
		m.RunID = v
	case "version":
		m.Version = v
	case "status":
		switch s := Status(v); s {
		case Complete, Aborted, Interrupted:
			m.Status = s
		default:
			return fmt.Errorf("unknown status %q", v)
		}
	case "reason":
		m.Reason = v
	case "model":
		if v != "open" && v != "closed" {
			return fmt.Errorf("unknown model %q", v)
		}
		m.Model = v
	case "users":
		i(&m.Users)
	case "spawn_rate":
		fl(&m.SpawnRate)
	case "wait":
		m.Wait = v
	case "rate":
		fl(&m.Rate)
	case "max_in_flight":
		i(&m.MaxInFlight)
	case "stages":
		m.Stages = v
	case "duration":
		dur(&m.Duration)
	case "window":
		dur(&m.Window)
	case "grace":
		dur(&m.Grace)
	case "start":
		if m.Start, err = time.Parse(time.RFC3339Nano, v); err == nil {
			if m.Start = m.Start.UTC(); m.Start.Year() < 1 || m.Start.Year() > 9999 {
				return fmt.Errorf("year %d out of range", m.Start.Year())
			}
		}
	case "elapsed":
		dur(&m.Elapsed)
	case "target":
		m.Target = v
	case "env":
		m.Env = v
	case "stand_in":
		m.StandIn = v
	case "git_commit":
		m.GitCommit = v
	case "go_version":
		m.GoVersion = v
	case "scheduled":
		i64(&m.Scheduled)
	case "late":
		i64(&m.Late)
	case "waited":
		i64(&m.Waited)
	case "dropped":
		i64(&m.Dropped)
	case "max_lag":
		dur(&m.MaxLag)
	case "lag_p50":
		dur(&m.LagP50)
	case "lag_p99":
		dur(&m.LagP99)
	case "coalesce":
		dur(&m.Coalesce)
	case "paused":
		dur(&m.Paused)
	case "starved_windows":
		var n int64
		if n, err = strconv.ParseInt(v, 10, 32); err == nil && n < 0 {
			err = fmt.Errorf("negative")
		}
		m.Starved = int(n)
	case "outages":
		var n int64
		if n, err = strconv.ParseInt(v, 10, 32); err == nil && n < 0 {
			err = fmt.Errorf("negative")
		}
		m.Outages = int(n)
	case "generator_cpu_wait_pct":
		m.CPUWait, err = share(v)
	case "generator_cpu_pressure_pct":
		m.CPUPressure, err = share(v)
	case "generator_steal_pct":
		m.Steal, err = share(v)
	case "generator_throttled_pct":
		m.Throttled, err = share(v)
	case "shard":
		m.Shard = v
	case "location":
		m.Location = v
	default:
		return fmt.Errorf("unknown key")
	}
	if err != nil {
		return fmt.Errorf("bad value %q: %v", v, err)
	}
	return nil
}

// share reads a percentage from 0 to 100.
func share(v string) (Share, error) {
	f, err := strictcsv.Float(v, 0, 100)
	if err != nil {
		return Share{}, err
	}
	return Share{Pct: f, Known: true}, nil
}
