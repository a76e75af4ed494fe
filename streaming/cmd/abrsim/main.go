// Command abrsim compares ABR algorithms on network traces: it plays a movie
// over every trace with each algorithm in the trace-driven simulator of
// streaming/abrsim, and with the offline optimum, and prints per algorithm
// the mean QoE_lin per segment (per trace, then over traces), the same per
// segment of session time as Sabre reports it, mean bitrate, rebuffering and
// switches. bolae-sabre is BOLA-E as Sabre runs it by default (BOLA-U, BOLA
// buffer max(25 s, 10 s + 2 s × renditions)), for comparison with Sabre's
// figures; bolae is dash.js's (BOLA-O), the one the player uses.
//
//	go run ./streaming/cmd/abrsim --movie bbb.json --trace traces/3g \
//	    --abr throughput,bolae,shoal,optimum --buffer 25 [--json] [--plot out.svg]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shoal-p2p/shoal/streaming/abr"
	"github.com/shoal-p2p/shoal/streaming/abrsim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// options are the parsed flags.
type options struct {
	movie, trace, plot string
	algorithms         []string
	buffer             time.Duration
	json               bool
	latency            time.Duration
	step               time.Duration
	workers            int
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("abrsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &options{}
	fs.StringVar(&o.movie, "movie", "", "movie in Sabre's JSON (segment sizes of every rendition)")
	fs.StringVar(&o.trace, "trace", "", "trace file (Sabre JSON or Mahimahi) or folder of traces")
	abrs := fs.String("abr", "throughput,bolae,shoal,optimum", "comma-separated algorithms: throughput, bolae, bolae-u, bolae-sabre, shoal, optimum (best QoE per segment), optimum-time (best QoE per segment of session time)")
	buffer := fs.Float64("buffer", 25, "buffer maximum in seconds")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&o.plot, "plot", "", "draw buffer and bitrate over time to FILE.svg or FILE.png (one trace file only)")
	fs.DurationVar(&o.latency, "mahimahi-latency", 0, "latency per request for Mahimahi traces")
	fs.DurationVar(&o.step, "step", abrsim.DefaultStep, "time step of the offline optimum")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "traces simulated in parallel")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: abrsim --movie FILE --trace FILE|DIR [--abr LIST] [--buffer SECONDS] [--json] [--plot FILE.svg|FILE.png]")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, usageError{""}
		}
		return nil, usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case o.movie == "":
		return nil, usageError{"--movie FILE is required"}
	case o.trace == "":
		return nil, usageError{"--trace FILE|DIR is required"}
	case !(*buffer > 0) || *buffer > 3600:
		return nil, usageError{fmt.Sprintf("--buffer %v: want seconds between 0 and 3600", *buffer)}
	case o.workers < 1:
		return nil, usageError{fmt.Sprintf("--workers %d: want at least 1", o.workers)}
	case o.step <= 0:
		return nil, usageError{fmt.Sprintf("--step %v: want a positive duration", o.step)}
	case o.plot != "" && !strings.HasSuffix(o.plot, ".svg") && !strings.HasSuffix(o.plot, ".png"):
		return nil, usageError{fmt.Sprintf("--plot %s: want a .svg or .png file name", o.plot)}
	}
	o.buffer = time.Duration(*buffer * float64(time.Second))
	seen := map[string]bool{}
	for _, name := range strings.Split(*abrs, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" || seen[name] {
			continue
		}
		if name != "optimum" && name != "optimum-time" {
			if _, err := algorithm(name); err != nil {
				return nil, usageError{fmt.Sprintf("--abr: no algorithm %q (have throughput, bolae, bolae-u, bolae-sabre, shoal, optimum, optimum-time)", name)}
			}
		}
		seen[name] = true
		o.algorithms = append(o.algorithms, name)
	}
	if len(o.algorithms) == 0 {
		return nil, usageError{"--abr names no algorithm"}
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			if u.msg != "" {
				fmt.Fprintf(stderr, "abrsim: %s (see --help).\n", u.msg)
			}
			return 2
		}
	}
	if err := simulate(o, stdout); err != nil {
		fmt.Fprintf(stderr, "%v.\n", strings.TrimSuffix(err.Error(), "."))
		return 1
	}
	return 0
}

// report is the --json output.
type report struct {
	Movie      string           `json:"movie"`
	Trace      string           `json:"trace"`
	Traces     int              `json:"traces"`
	BufferS    float64          `json:"buffer_s"`
	Algorithms []abrsim.Summary `json:"algorithms"`
	WallS      float64          `json:"wall_s"`
	CPUS       float64          `json:"cpu_s"`
}

func simulate(o *options, stdout io.Writer) error {
	started := time.Now()
	cpu0 := cpuTime()
	movie, err := abrsim.ReadMovie(o.movie)
	if err != nil {
		return err
	}
	traces, err := abrsim.ReadTraces(o.trace, o.latency)
	if err != nil {
		return err
	}
	if o.plot != "" && len(traces) != 1 {
		return fmt.Errorf("abrsim: --plot draws one trace, and %s holds %d", o.trace, len(traces))
	}
	cfg := abrsim.Config{Buffer: o.buffer, Timeline: o.plot != ""}
	results := make([][]*abrsim.Result, len(o.algorithms))
	for i := range results {
		results[i] = make([]*abrsim.Result, len(traces))
	}
	type job struct{ a, t int }
	jobs := make(chan job)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r, err := runOne(movie, traces[j.t], o.algorithms[j.a], cfg, o.step)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				results[j.a][j.t] = r
			}
		}()
	}
	for a := range o.algorithms {
		for t := range traces {
			jobs <- job{a, t}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}

	rep := report{Movie: o.movie, Trace: o.trace, Traces: len(traces), BufferS: o.buffer.Seconds()}
	for i, name := range o.algorithms {
		rep.Algorithms = append(rep.Algorithms, abrsim.Summarize(name, results[i]))
	}
	if o.plot != "" {
		var lines []abrsim.Result
		for i := range o.algorithms {
			lines = append(lines, *results[i][0])
		}
		if err := writePlot(o.plot, traces[0].Name, o.buffer, lines); err != nil {
			return err
		}
	}
	rep.WallS = time.Since(started).Seconds()
	rep.CPUS = (cpuTime() - cpu0).Seconds()
	if o.json {
		for i := range rep.Algorithms {
			if len(traces) == 1 {
				rep.Algorithms[i].PerTrace = nil
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%s over %s: %d trace(s), buffer %gs\n\n", o.movie, o.trace, len(traces), o.buffer.Seconds())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "algorithm\tQoE/segment\tsd\tQoE/time\tsd\tbitrate kbps\trebuffer s\trebuffers\tswitches\tabandoned\t")
	for _, s := range rep.Algorithms {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			s.Algorithm, s.QoE, s.QoEStd, s.QoETime, s.QoETimeStd, s.Bitrate, s.Rebuffer, s.Rebuffers, s.Switches, s.Abandoned)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "QoE/segment: QoE_lin per segment of the movie; QoE/time: per segment of session time (Sabre's time average).")
	tw.Flush()
	fmt.Fprintf(stdout, "\nwall %.1fs, cpu %.1fs\n", rep.WallS, rep.CPUS)
	return nil
}

func runOne(m *abrsim.Movie, t *abrsim.Trace, name string, cfg abrsim.Config, step time.Duration) (*abrsim.Result, error) {
	if name == "optimum" || name == "optimum-time" {
		sched, err := abrsim.Optimum(m, t, abrsim.OptimumConfig{Buffer: cfg.Buffer, Step: step, TimeAverage: name == "optimum-time"})
		if err != nil {
			return nil, err
		}
		r := sched.Result(cfg.Timeline)
		r.Algorithm = name
		return r, nil
	}
	a, err := algorithm(name)
	if err != nil {
		return nil, err
	}
	return abrsim.Run(m, t, a, cfg)
}

// algorithm is abr.New plus two variants of BOLA-E for comparison with
// Sabre: bolae-u is BOLA-U (Sabre's default without -ao), bolae-sabre is
// BOLA-U with Sabre's buffer target max(buffer, 10 s + 2 s × renditions).
func algorithm(name string) (abr.Algorithm, error) {
	switch name {
	case "bolae-u":
		return named{abr.BolaE{Upward: true}, name}, nil
	case "bolae-sabre":
		return named{sabreBola{}, name}, nil
	}
	return abr.New(name)
}

// named renames an algorithm in the output.
type named struct {
	abr.Algorithm
	name string
}

func (n named) Name() string { return n.name }

func (n named) Abandon(s *abr.State, p abr.Progress) (int, bool) {
	return abr.ShouldAbandon(n.Algorithm, s, p)
}

// sabreBola is BOLA-U with Sabre's buffer target, computed per state.
type sabreBola struct{}

func (sabreBola) Name() string { return "bolae-sabre" }

func (sabreBola) bola(s *abr.State) abr.BolaE {
	t := max(s.BufferMax, 10*time.Second+2*time.Second*time.Duration(len(s.Bitrates)))
	return abr.BolaE{Upward: true, BufferTime: t}
}

func (b sabreBola) Choose(s *abr.State) abr.Decision { return b.bola(s).Choose(s) }

func (b sabreBola) Abandon(s *abr.State, p abr.Progress) (int, bool) {
	return b.bola(s).Abandon(s, p)
}
