package signals

import "time"

// Report is what a Collector gathered over a run, and the trend of each
// signal once Analyze has looked at it.
type Report struct {
	Source   string        // the endpoint scraped; empty when only probes ran
	Interval time.Duration // between scrapes
	Scrapes  int           // scrapes attempted
	Failed   int           // scrapes that failed
	Samples  []Sample      // sorted by signal, then time
	Trends   []Trend       // one per signal with enough samples, sorted by signal
	Warnings []string      // problems met while collecting, in order
}

// Names returns the signals recorded, sorted.
func (r *Report) Names() []string {
	var names []string
	for i, s := range r.Samples {
		if i == 0 || s.Signal != r.Samples[i-1].Signal {
			names = append(names, s.Signal)
		}
	}
	return names
}

// Series returns the samples of one signal, in time order.
func (r *Report) Series(signal string) []Sample {
	var out []Sample
	for _, s := range r.Samples {
		if s.Signal == signal {
			out = append(out, s)
		}
	}
	return out
}

// Rising returns the trends that were flagged.
func (r *Report) Rising() []Trend {
	var out []Trend
	for _, t := range r.Trends {
		if t.Rising {
			out = append(out, t)
		}
	}
	return out
}
