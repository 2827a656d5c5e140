package result

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MetaRow is one row of <Test>_meta.csv: a key and its value.
type MetaRow struct {
	Key   string `csv:"Key"`
	Value string `csv:"Value"`
}

// The keys of the meta file, in the order they are written.
var metaKeys = []string{
	"test", "run_id", "version", "status", "reason",
	"model", "users", "spawn_rate", "wait", "rate", "max_in_flight",
	"duration", "window", "grace",
	"start", "elapsed",
	"target", "env", "stand_in",
	"git_commit", "go_version",
	"scheduled", "late", "dropped", "max_lag", "lag_p50", "lag_p99", "coalesce",
}

// optionalMeta are keys added after the first format: files without them
// still read.
var optionalMeta = map[string]bool{"lag_p50": true, "lag_p99": true, "coalesce": true}

// Rows returns the metadata as key/value rows in a fixed order.
func (m *Meta) Rows() []MetaRow {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	v := map[string]string{
		"test": m.Test, "run_id": m.RunID, "version": m.Version,
		"status": string(m.Status), "reason": m.Reason,
		"model": m.Model, "users": strconv.Itoa(m.Users), "spawn_rate": f(m.SpawnRate),
		"wait": m.Wait, "rate": f(m.Rate), "max_in_flight": strconv.Itoa(m.MaxInFlight),
		"duration": m.Duration.String(), "window": m.Window.String(), "grace": m.Grace.String(),
		"start": m.Start.UTC().Format(time.RFC3339Nano), "elapsed": m.Elapsed.String(),
		"target": m.Target, "env": m.Env, "stand_in": m.StandIn,
		"git_commit": m.GitCommit, "go_version": m.GoVersion,
		"scheduled": strconv.FormatInt(m.Scheduled, 10), "late": strconv.FormatInt(m.Late, 10),
		"dropped": strconv.FormatInt(m.Dropped, 10), "max_lag": m.MaxLag.String(),
		"lag_p50": m.LagP50.String(), "lag_p99": m.LagP99.String(), "coalesce": m.Coalesce.String(),
	}
	rows := make([]MetaRow, len(metaKeys))
	for i, k := range metaKeys {
		rows[i] = MetaRow{Key: k, Value: v[k]}
	}
	return rows
}

// MetaFile names the metadata file of a test in dir.
func MetaFile(dir, test string) string {
	return strings.TrimSuffix(dir, "/") + "/" + FileBase(test) + "_meta.csv"
}

// ReadMeta parses a meta file written by Rows. name is used in errors,
// which have the form "name:line: what is wrong". Unknown keys are an
// error, so are missing ones.
func ReadMeta(name string, r io.Reader) (Meta, error) {
	var m Meta
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	header, err := cr.Read()
	if err != nil {
		return m, csvError(name, cr, err)
	}
	if header[0] != "Key" || header[1] != "Value" {
		return m, fmt.Errorf("%s:1: header is %q, want Key,Value", name, strings.Join(header, ","))
	}
	seen := map[string]bool{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, csvError(name, cr, err)
		}
		line, _ := cr.FieldPos(0)
		k, v := rec[0], rec[1]
		if seen[k] {
			return m, fmt.Errorf("%s:%d: key %q appears twice", name, line, k)
		}
		seen[k] = true
		if err := m.set(k, v); err != nil {
			return m, fmt.Errorf("%s:%d: %s: %v", name, line, k, err)
		}
	}
	for _, k := range metaKeys {
		if !seen[k] && !optionalMeta[k] {
			return m, fmt.Errorf("%s: key %q is missing", name, k)
		}
	}
	return m, nil
}

func csvError(name string, cr *csv.Reader, err error) error {
	if pe, ok := err.(*csv.ParseError); ok {
		return fmt.Errorf("%s:%d: %v", name, pe.Line, pe.Err)
	}
	if err == io.EOF {
		return fmt.Errorf("%s:1: empty file", name)
	}
	return fmt.Errorf("%s: %v", name, err)
}

func (m *Meta) set(k, v string) (err error) {
	i := func(dst *int) { *dst, err = strconv.Atoi(v) }
	i64 := func(dst *int64) { *dst, err = strconv.ParseInt(v, 10, 64) }
	fl := func(dst *float64) { *dst, err = strconv.ParseFloat(v, 64) }
	dur := func(dst *time.Duration) { *dst, err = time.ParseDuration(v) }
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
	default:
		return fmt.Errorf("unknown key")
	}
	if err != nil {
		return fmt.Errorf("bad value %q", v)
	}
	return nil
}
