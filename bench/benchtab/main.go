// Command benchtab is the measuring and tabulating half of the performance
// comparison (bench/compare.sh, bench/rss.sh):
//
//	benchtab measure [-o FILE] [-series FILE] [-every D] -- CMD ARGS...
//		runs CMD, sampling its resident memory from /proc; when it exits,
//		writes "cpu_s<TAB>peak_rss_mb<TAB>rss_growth" to FILE (default
//		stderr) and the samples "t_s<TAB>rss_mb" to the series file. CPU
//		is user+system time of CMD and its waited-for children, the peak
//		is the kernel's high-water mark (ru_maxrss), the growth the peak
//		over the resident memory a third of the way through the run.
//	benchtab latency TOOL FILE
//		prints "p50_ms<TAB>p99_ms" read from a tool's report: wrk, hey,
//		fortio (-json), vegeta (report -type=json), k6
//		(--summary-export; k6-iteration reads its iteration_duration
//		instead of http_req_duration), locust (--csv …_stats.csv), steadyload
//		(…_stats.csv).
//	benchtab table FILE
//		prints the comparison table of a results file (medians of the
//		repetitions, ratios of the harness to the best peer) and the
//		harness's latency overhead against each peer's pair by pair: the
//		delay workload's runs of one repetition, and the together
//		workload's runs made at the same moment.
//	benchtab rss SERIES
//		prints a long run's resident memory per minute and whether it
//		stayed flat (every minute from the first within 10%).
//
// The results file is tab-separated with a header line; its columns are
// listed in Columns.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "measure":
		err = measureCmd(args)
	case "latency":
		if len(args) != 2 {
			usage()
		}
		var p50, p99 float64
		p50, p99, err = latencyFile(args[0], args[1])
		if err == nil {
			fmt.Printf("%.3f\t%.3f\n", p50, p99)
		}
	case "table":
		if len(args) != 1 {
			usage()
		}
		err = tableCmd(args[0], os.Stdout)
	case "rss":
		if len(args) != 1 {
			usage()
		}
		err = rssCmd(args[0], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtab %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
	benchtab measure [-o FILE] [-series FILE] [-every D] -- CMD ARGS...
	benchtab latency TOOL FILE
	benchtab table RESULTS
	benchtab rss SERIES
`)
	flag.PrintDefaults()
	os.Exit(2)
}
