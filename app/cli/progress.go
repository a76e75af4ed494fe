package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// plainInterval is how often a progress line is written when the output is
// not a terminal (a log file, a pipe).
const plainInterval = 2 * time.Second

// progress shows one piece of long work (hashing, downloading, later
// transcoding and mail delivery) in one look: on a terminal, the library's
// bar with the rate and ETA, as wide as the terminal; elsewhere, a plain
// line every plainInterval and one at the end, with the same figures.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	tty   bool
	label string
	total int64
	done  bool
	// media counts milliseconds of media (transcoding) instead of bytes.
	media bool

	// plain lines: their own rate, from what was done when the bar started
	// (a resumed download counts only what this run fetched)
	began     time.Time
	beganDone int64
	last      time.Time // of the last plain line
	lastDone  int64
}

func newProgress(w io.Writer, label string) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, label: label, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// start makes the bar once the total is known.
func (p *progress) start(total int64) {
	p.total = total
	// Off a terminal the bar draws into io.Discard (an invisible bar would
	// keep no count) and plainLine prints its figures.
	w := io.Discard
	if p.tty {
		w = p.w
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(p.label),
		progressbar.OptionShowBytes(!p.media),
		progressbar.OptionShowCount(),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(time.Second),
	}
	if p.tty {
		opts = append(opts,
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionSetTheme(progressbar.ThemeASCII),
		)
	}
	p.bar = progressbar.NewOptions64(total, opts...)
	p.bar.StartWithoutRender()
}

// describe changes the label ("finding peers", "downloading (3 peers)").
func (p *progress) describe(label string) {
	if label == p.label {
		return
	}
	p.label = label
	if p.bar != nil {
		p.bar.Describe(label)
	}
}

// update sets how much of total is done.
func (p *progress) update(done, total int64) {
	if p.done || total <= 0 {
		return
	}
	switch {
	case p.bar == nil:
		p.start(total)
		p.began, p.beganDone, p.lastDone = time.Now(), done, -1
	case total != p.total:
		p.bar.ChangeMax64(total)
		p.total = total
	}
	p.bar.Set64(done)
	if !p.tty && done != p.lastDone && (time.Since(p.last) >= plainInterval || done >= total) {
		p.last, p.lastDone = time.Now(), done
		p.plainLine(done, total)
	}
}

// plainLine writes one line: label, percentage, bytes, rate and ETA.
func (p *progress) plainLine(done, total int64) {
	rate, eta := "-", "-"
	amount := bytesText
	if p.media {
		amount = func(ms int64) string {
			return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
		}
	}
	if secs := time.Since(p.began).Seconds(); done > p.beganDone && secs > 0 {
		bps := float64(done-p.beganDone) / secs
		rate = amount(int64(bps)) + "/s"
		if p.media {
			rate = fmt.Sprintf("%.2fx", bps/1000)
		}
		eta = time.Duration(float64(total-done) / bps * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "%s %5.1f%% %s/%s %s ETA %s\n", p.label, 100*float64(done)/float64(total),
		amount(done), amount(total), rate, eta)
}

// finish ends the bar's line; calling it again does nothing.
func (p *progress) finish() {
	if p.done {
		return
	}
	p.done = true
	if p.bar != nil && p.tty {
		p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
