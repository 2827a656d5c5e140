package signals

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// CSVHeader is the header of the signals CSV file, in column order.
var CSVHeader = []string{"Signal", "Timestamp", "Offset (s)", "Window Offset (s)", "Value"}

// WriteCSV writes samples in the signals CSV format: one row per sample,
// in the order given (a Report's are sorted by signal, then time).
// Timestamp is Unix seconds, Offset the seconds since the start of the run,
// Window Offset the start of the window the sample fell in (the key of the
// stats history file's rows), and Value the plain decimal value, with no
// exponent. window ≤ 0 leaves the window column empty.
func WriteCSV(w io.Writer, samples []Sample, window time.Duration) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, s := range samples {
		win := ""
		if window > 0 {
			win = seconds(s.Offset / window * window)
		}
		rec := []string{
			s.Signal,
			strconv.FormatFloat(float64(s.At.UnixMilli())/1000, 'f', 3, 64),
			seconds(s.Offset),
			win,
			strconv.FormatFloat(s.Value, 'f', -1, 64),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
