package packager

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Job is one packaging run: a probed source, the renditions chosen for it
// and the options. Command turns it into ffmpeg's arguments.
type Job struct {
	Input  string // absolute path of the source
	Source Source
	Ladder []Rendition
	Audio  *Audio // nil: no audio
	// SegmentDuration and Preset as in Options (already defaulted).
	SegmentDuration time.Duration
	Preset          string
	// SourceSHA256 is the hex SHA-256 of the source's content and Key the
	// output folder's name derived from it and the parameters above.
	SourceSHA256 string
	Key          string

	size  int64 // the source's size and mtime when it was hashed
	mtime time.Time
}

// posterTime is where the poster is taken: a tenth into the video, at most
// 10 s in, so it is rarely a black title frame.
func (j Job) posterTime() time.Duration {
	t := j.Source.Duration / 10
	if t > 10*time.Second {
		t = 10 * time.Second
	}
	return t.Truncate(time.Millisecond)
}

// Command is ffmpeg's argument list (without the program name) that writes
// the job's DASH presentation, manifest.mpd with its init and media
// segments, and poster.jpg, into dir. It decodes the source once and
// encodes every rung from one split of the decoded picture.
func (j Job) Command(dir string) []string {
	seg := j.SegmentDuration.Seconds()
	g := strconv.Itoa(KeyframeInterval(seg, j.Source.FrameRate))
	n := len(j.Ladder)

	var graph strings.Builder
	graph.WriteString("[0:v:0]")
	if j.Source.Interlaced {
		// One frame per frame (not per field), so the frame rate and the
		// keyframe interval stay the source's.
		graph.WriteString("yadif=mode=send_frame,")
	}
	fmt.Fprintf(&graph, "split=%d", n+1)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&graph, "[s%d]", i)
	}
	graph.WriteString("[sp]")
	for i, r := range j.Ladder {
		// scale to exact even sizes; it sets the sample aspect ratio that
		// keeps the display aspect ratio, which the DASH muxer requires to
		// be the same across an adaptation set (so no setsar=1 here).
		fmt.Fprintf(&graph, ";[s%d]scale=%d:%d,format=yuv420p[v%d]", i, r.Width, r.Height, i)
	}
	top := j.Ladder[0]
	fmt.Fprintf(&graph, ";[sp]trim=start=%s,scale=%d:%d[poster]", seconds(j.posterTime()), top.Width, top.Height)

	args := []string{
		"-hide_banner", "-nostdin", "-nostats", "-v", "error", "-progress", "pipe:1",
		"-i", inputURL(j.Input),
		"-filter_complex", graph.String(),
	}
	for i := range j.Ladder {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
	}
	if j.Audio != nil {
		args = append(args, "-map", "0:a:0")
	}
	args = append(args,
		"-c:v", "libx264", "-preset", j.Preset,
		"-g", g, "-keyint_min", g, "-sc_threshold", "0",
		// Forced keyframes keep the boundaries on the segment grid even for
		// a variable or fractional frame rate, where counting frames drifts.
		"-force_key_frames:v", fmt.Sprintf("expr:gte(t,n_forced*%s)", seconds(j.SegmentDuration)),
	)
	for i, r := range j.Ladder {
		args = append(args,
			fmt.Sprintf("-b:v:%d", i), strconv.Itoa(r.Bitrate),
			fmt.Sprintf("-maxrate:v:%d", i), strconv.Itoa(r.MaxRate),
			fmt.Sprintf("-bufsize:v:%d", i), strconv.Itoa(r.BufSize),
		)
	}
	sets := "id=0,streams=v"
	if a := j.Audio; a != nil {
		args = append(args, "-c:a", "aac", "-b:a", strconv.Itoa(a.Bitrate),
			"-ac", strconv.Itoa(a.Channels), "-ar", strconv.Itoa(a.SampleRate))
		sets += " id=1,streams=a"
	}
	args = append(args,
		"-f", "dash",
		"-seg_duration", seconds(j.SegmentDuration),
		"-use_template", "1", "-use_timeline", "1",
		"-init_seg_name", "init-$RepresentationID$.m4s",
		"-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
		"-adaptation_sets", sets,
		filepath.Join(dir, ManifestName),
		"-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3",
		filepath.Join(dir, PosterName),
	)
	return args
}

// seconds formats a duration as ffmpeg reads seconds ("2", "0.5").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// ShellQuote renders a command line for a POSIX shell, for printing.
func ShellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
