// Command packagebench measures streaming/packager against the bare ffmpeg
// command it runs: the same source, the same ladder, the same arguments,
// alternating which goes first, several runs each. It prints the command,
// each run's wall and CPU time (user + system, the process and its
// children), and the median and range of each.
//
//	go run ./streaming/packager/cmd/packagebench -src clip.mp4 -runs 5
//
// streaming/packager/bench.sh makes a 20 s 720p30 clip with audio and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoal-p2p/shoal/streaming/packager"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "packagebench:", err)
		os.Exit(1)
	}
}

type sample struct{ wall, cpu time.Duration }

func run() error {
	src := flag.String("src", "", "source video (required)")
	runs := flag.Int("runs", 5, "runs of each")
	preset := flag.String("preset", "veryfast", "x264 preset")
	flag.Parse()
	if *src == "" {
		return errors.New("-src is required")
	}
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	ctx := context.Background()
	opts := packager.Options{Preset: *preset}

	job, err := packager.Plan(ctx, *src, opts)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "packagebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	s := job.Source
	fmt.Printf("source: %s, %dx%d, %s fps, %v, video %d kb/s, audio %v\n",
		filepath.Base(job.Input), s.Width, s.Height, s.FrameRateRational, s.Duration, s.VideoBitrate/1000, s.HasAudio)
	for i, r := range job.Ladder {
		fmt.Printf("rung %d: %dx%d at %d kb/s\n", i, r.Width, r.Height, r.Bitrate/1000)
	}
	fmt.Printf("ffmpeg command (OUT is the output folder):\n  ffmpeg %s\n\n", packager.ShellQuote(job.Command("OUT")))

	var bare, pkg []sample
	for i := 0; i < *runs; i++ {
		order := []string{"ffmpeg", "package"}
		if i%2 == 1 {
			order = []string{"package", "ffmpeg"}
		}
		for _, which := range order {
			dir := filepath.Join(work, fmt.Sprintf("%s-%d", which, i))
			var s sample
			var err error
			if which == "ffmpeg" {
				s, err = runBare(ctx, job, dir)
				bare = append(bare, s)
			} else {
				s, err = runPackage(ctx, *src, dir, opts)
				pkg = append(pkg, s)
			}
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, which, err)
			}
			fmt.Printf("run %d %-8s wall %6.2f s  cpu %6.2f s\n", i+1, which, s.wall.Seconds(), s.cpu.Seconds())
			os.RemoveAll(dir)
		}
	}
	fmt.Println()
	bw, bc := summary(bare)
	pw, pc := summary(pkg)
	fmt.Printf("bare ffmpeg: wall %s, cpu %s\n", bw, bc)
	fmt.Printf("packager:    wall %s, cpu %s\n", pw, pc)
	fmt.Printf("packager / ffmpeg (medians): wall %.3f, cpu %.3f\n",
		median(pkg, wall).Seconds()/median(bare, wall).Seconds(), median(pkg, cpu).Seconds()/median(bare, cpu).Seconds())
	return nil
}

func runBare(ctx context.Context, job packager.Job, dir string) (sample, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sample{}, err
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", job.Command(dir)...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run() // -progress pipe:1 goes to the null device
	wall := time.Since(start)
	if err != nil {
		return sample{}, err
	}
	return sample{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

func runPackage(ctx context.Context, src, dir string, opts packager.Options) (sample, error) {
	before := cpuNow()
	start := time.Now()
	res, err := packager.Package(ctx, src, dir, opts, func(done, total time.Duration) {})
	wall := time.Since(start)
	if err != nil {
		return sample{}, err
	}
	if res.Reused {
		return sample{}, errors.New("the package was reused; each run needs a fresh folder")
	}
	return sample{wall: wall, cpu: cpuNow() - before}, nil
}

func wall(s sample) time.Duration { return s.wall }
func cpu(s sample) time.Duration  { return s.cpu }

func median(ss []sample, f func(sample) time.Duration) time.Duration {
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func summary(ss []sample) (string, string) {
	f := func(get func(sample) time.Duration) string {
		v := make([]time.Duration, len(ss))
		for i, s := range ss {
			v[i] = get(s)
		}
		return fmt.Sprintf("median %.2f s (%.2f-%.2f)", median(ss, get).Seconds(), slices.Min(v).Seconds(), slices.Max(v).Seconds())
	}
	return f(wall), f(cpu)
}
