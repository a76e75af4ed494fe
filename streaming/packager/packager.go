// Package packager turns a video file into a DASH presentation that Shoal
// publishes and plays: a ladder of H.264 renditions and one AAC rendition in
// fMP4 segments with aligned keyframes, one static manifest.mpd, a
// poster.jpg and a meta.json, in a folder named by a hash of the source and
// the ladder.
//
// Package probes the source with ffprobe, chooses the ladder from it
// (Ladder, a pure function), and runs one ffmpeg that decodes the source
// once and writes every rendition and the poster. The work happens in a
// temporary folder that is renamed into place only once the result has been
// checked (the manifest parses, every rung is there, the duration is the
// source's), so a failure or a cancellation leaves nothing behind. Packaging
// the same source with the same ladder again reuses the folder without
// running ffmpeg.
//
// It needs the ffmpeg and ffprobe programs (Debian's ffmpeg package, 5.1).
package packager

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/streaming/mpd"
)

// The files of a packaged folder.
const (
	ManifestName = "manifest.mpd"
	PosterName   = "poster.jpg"
	MetaName     = "meta.json"
)

// layoutVersion is part of every key: a change to the command or the
// folder's layout gives new folders instead of reusing old ones.
const layoutVersion = 1

// Options are the knobs of Package. The zero value is the default.
type Options struct {
	// SegmentDuration is the target segment length, 2 to 4 s; 0 means 2 s.
	SegmentDuration time.Duration
	// Preset is libx264's preset; "" means veryfast. Tests use ultrafast.
	Preset string
	// FFmpeg and FFprobe are the programs to run; "" means "ffmpeg" and
	// "ffprobe" from PATH.
	FFmpeg, FFprobe string
}

var presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentDuration == 0 {
		o.SegmentDuration = 2 * time.Second
	}
	if o.SegmentDuration < 2*time.Second || o.SegmentDuration > 4*time.Second {
		return o, fmt.Errorf("packager: segment duration %v is outside 2s to 4s", o.SegmentDuration)
	}
	if o.SegmentDuration%(100*time.Millisecond) != 0 {
		return o, fmt.Errorf("packager: segment duration %v is not a multiple of 100ms", o.SegmentDuration)
	}
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	if !slices.Contains(presets, o.Preset) {
		return o, fmt.Errorf("packager: unknown x264 preset %q", o.Preset)
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	return o, nil
}

// Meta is meta.json: what a packaged folder holds and where it came from.
type Meta struct {
	Version int    `json:"version"`
	Key     string `json:"key"`
	// SourceName is the source's file name when it was packaged (the folder
	// is reused for any file with the same content). The folder is published
	// as it is, so meta.json holds no local path.
	SourceName   string `json:"source_name"`
	SourceSize   int64  `json:"source_size"`
	SourceSHA256 string `json:"source_sha256"`
	Source       Source `json:"source"`

	Ladder          []Rendition   `json:"ladder"`
	Audio           *Audio        `json:"audio,omitempty"`
	SegmentDuration time.Duration `json:"segment_duration_ns"`
	Preset          string        `json:"preset"`
	// Duration is the packaged presentation's duration, from its MPD.
	Duration time.Duration `json:"duration_ns"`
	Created  time.Time     `json:"created"`
}

// Result is a packaged folder.
type Result struct {
	// Dir is the folder, outDir/Key; the manifest is Dir/manifest.mpd.
	Dir string
	Key string
	// Reused is true when the folder was there already and ffmpeg did not
	// run.
	Reused bool
	Meta   Meta
}

// Manifest is the path of the result's MPD.
func (r *Result) Manifest() string { return filepath.Join(r.Dir, ManifestName) }

// Plan probes and hashes src and returns the job Package would run for it,
// without running it: the ladder, the key and (Job.Command) ffmpeg's
// arguments.
func Plan(ctx context.Context, src string, opts Options) (Job, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Job{}, err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return Job{}, fmt.Errorf("packager: %s: %w", src, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return Job{}, fmt.Errorf("packager: %w", err)
	}
	if !info.Mode().IsRegular() {
		return Job{}, fmt.Errorf("packager: %s is not a regular file", src)
	}
	s, err := Probe(ctx, opts.FFprobe, abs)
	if err != nil {
		return Job{}, err
	}
	ladder := Ladder(s)
	if len(ladder) == 0 {
		return Job{}, fmt.Errorf("packager: %s: the picture (%dx%d) is too small to package", src, s.Width, s.Height)
	}
	job := Job{
		Input: abs, Source: s, Ladder: ladder, Audio: AudioFor(s),
		SegmentDuration: opts.SegmentDuration, Preset: opts.Preset,
		size: info.Size(), mtime: info.ModTime(),
	}
	if job.SourceSHA256, err = hashFile(ctx, abs); err != nil {
		return Job{}, err
	}
	job.Key = job.key()
	return job, nil
}

// key names the output folder: the source's content hash and everything
// that decides the output. The full SHA-256 is used (rather than size,
// mtime and a sample of the content): hashing reads about a GB/s, far
// faster than ffmpeg decodes the same bytes, and a content hash finds a
// copied or renamed file again and never mistakes a file edited in the
// middle for the original.
func (j Job) key() string {
	params, _ := json.Marshal(struct {
		V       int
		Ladder  []Rendition
		Audio   *Audio
		Seg     time.Duration
		Preset  string
		Rate    string
		Size    [2]int
		Picture string
	}{layoutVersion, j.Ladder, j.Audio, j.SegmentDuration, j.Preset, j.Source.FrameRateRational,
		[2]int{j.Source.Width, j.Source.Height}, j.posterTime().String()})
	h := sha256.New()
	h.Write([]byte(j.SourceSHA256))
	h.Write([]byte{0})
	h.Write(params)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Package packages src into outDir/<key> and returns the folder. progress,
// if not nil, is called on the calling goroutine about twice a second with
// how much of the source has been packaged, and once more with done ==
// total at the end.
//
// If the folder exists already, Package returns it with Reused set and runs
// no ffmpeg. On any error, and when ctx is cancelled (ffmpeg is killed),
// Package leaves nothing in outDir except outDir itself.
func Package(ctx context.Context, src, outDir string, opts Options, progress func(done, total time.Duration)) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	job, err := Plan(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	key := job.Key
	outDir, err = filepath.Abs(outDir)
	if err != nil {
		return nil, fmt.Errorf("packager: %s: %w", outDir, err)
	}
	final := filepath.Join(outDir, key)
	if res, ok := existing(final, key); ok {
		return res, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("packager: %w", err)
	}
	tmp, err := os.MkdirTemp(outDir, partialPrefix+key+"-")
	if err != nil {
		return nil, fmt.Errorf("packager: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()

	if err := runFFmpeg(ctx, opts.FFmpeg, job.Command(tmp), job.Source.Duration, progress); err != nil {
		return nil, fmt.Errorf("packager: %s: %w", src, err)
	}
	meta, err := check(tmp, job)
	if err != nil {
		return nil, fmt.Errorf("packager: %s: %w", src, err)
	}
	if info, err := os.Stat(job.Input); err != nil || info.Size() != job.size || !info.ModTime().Equal(job.mtime) {
		return nil, fmt.Errorf("packager: %s changed while it was packaged", src)
	}
	meta.Key = key
	meta.SourceName = filepath.Base(job.Input)
	meta.SourceSize = job.size
	meta.SourceSHA256 = job.SourceSHA256
	if err := writeMeta(tmp, meta); err != nil {
		return nil, err
	}
	if err := syncTree(tmp); err != nil {
		return nil, fmt.Errorf("packager: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another Package of the same source finished first.
		if res, ok := existing(final, key); ok {
			return res, nil
		}
		// An incomplete folder by that name (not made by Package, which
		// renames only complete ones) gives way to the complete one.
		if err := os.RemoveAll(final); err != nil {
			return nil, fmt.Errorf("packager: %w", err)
		}
		if err := os.Rename(tmp, final); err != nil {
			return nil, fmt.Errorf("packager: %w", err)
		}
	}
	done = true
	if err := syncDir(outDir); err != nil {
		return nil, fmt.Errorf("packager: %w", err)
	}
	if progress != nil {
		progress(job.Source.Duration, job.Source.Duration)
	}
	return &Result{Dir: final, Key: key, Meta: meta}, nil
}

// partialPrefix starts the name of a folder that Package is still writing.
const partialPrefix = ".partial-"

// RemovePartials deletes what packaging runs that were killed (a crash, a
// power cut) left in outDir. Call it when no Package runs on outDir, such as
// when the node starts; Package itself never leaves one behind.
func RemovePartials(outDir string) error {
	es, err := os.ReadDir(outDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("packager: %w", err)
	}
	for _, e := range es {
		if e.IsDir() && strings.HasPrefix(e.Name(), partialPrefix) {
			if err := os.RemoveAll(filepath.Join(outDir, e.Name())); err != nil {
				return fmt.Errorf("packager: %w", err)
			}
		}
	}
	return nil
}

// existing returns a complete packaged folder at dir, if there is one.
func existing(dir, key string) (*Result, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, MetaName))
	if err != nil {
		return nil, false
	}
	var meta Meta
	if json.Unmarshal(raw, &meta) != nil || meta.Key != key || meta.Version != layoutVersion {
		return nil, false
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		return nil, false
	}
	return &Result{Dir: dir, Key: key, Reused: true, Meta: meta}, true
}

// check verifies what ffmpeg wrote before it is put in place.
func check(dir string, job Job) (Meta, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return Meta{}, fmt.Errorf("ffmpeg wrote no manifest: %w", err)
	}
	m, err := mpd.Parse(raw)
	if err != nil {
		return Meta{}, fmt.Errorf("ffmpeg's manifest: %w", err)
	}
	if len(m.Video) != 1 || len(m.Video[0].Representations) != len(job.Ladder) {
		return Meta{}, fmt.Errorf("ffmpeg's manifest does not have the %d video renditions", len(job.Ladder))
	}
	if (job.Audio != nil) != (len(m.Audio) == 1) {
		return Meta{}, errors.New("ffmpeg's manifest does not have the audio rendition")
	}
	// A source cut short (a truncated file whose index still gives the full
	// length) decodes to less than its duration: refuse it rather than
	// publish a video that ends early.
	want := job.Source.Duration
	if got := m.Duration; got < want*9/10 && want-got > time.Second {
		return Meta{}, fmt.Errorf("the source is truncated or damaged: only %v of %v could be decoded", got.Round(time.Millisecond), want.Round(time.Millisecond))
	}
	for _, sets := range [][]mpd.AdaptationSet{m.Video, m.Audio} {
		for _, as := range sets {
			for _, r := range as.Representations {
				for _, name := range append([]string{r.Init}, r.Segments[len(r.Segments)-1].URL) {
					if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
						return Meta{}, fmt.Errorf("ffmpeg's output lacks %s", name)
					}
				}
			}
		}
	}
	if st, err := os.Stat(filepath.Join(dir, PosterName)); err != nil || st.Size() == 0 {
		return Meta{}, errors.New("ffmpeg wrote no poster")
	}
	return Meta{
		Version: layoutVersion, Source: job.Source, Ladder: job.Ladder, Audio: job.Audio,
		SegmentDuration: job.SegmentDuration, Preset: job.Preset, Duration: m.Duration,
		Created: time.Now().UTC().Truncate(time.Second),
	}, nil
}

func writeMeta(dir string, meta Meta) error {
	raw, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("packager: meta: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, MetaName), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("packager: %w", err)
	}
	return nil
}

// runFFmpeg runs ffmpeg, reporting its -progress output, and kills it when
// ctx is done.
func runFFmpeg(ctx context.Context, ffmpeg string, args []string, total time.Duration, progress func(done, total time.Duration)) error {
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.WaitDelay = 5 * time.Second
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run ffmpeg: %w", err)
	}
	readProgress(stdout, total, progress)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("cancelled: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("ffmpeg failed: %s (%w)", lastLine(stderr.String()), err)
	}
	return nil
}

// readProgress reads ffmpeg's -progress blocks (key=value lines, each block
// ended by progress=continue or progress=end) until EOF.
func readProgress(r io.Reader, total time.Duration, progress func(done, total time.Duration)) {
	sc := bufio.NewScanner(r)
	var done time.Duration
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "out_time_us":
			if us, err := strconv.ParseInt(v, 10, 64); err == nil && us >= 0 {
				done = time.Duration(us) * time.Microsecond
			}
		case "progress":
			if progress != nil {
				progress(min(done, total), total)
			}
		}
	}
	io.Copy(io.Discard, r)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// hashFile is the hex SHA-256 of a file's content.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("packager: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("packager: hash %s: %w", path, err)
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("packager: hash %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncTree flushes every file under dir and dir itself to disk, so that the
// rename that publishes the folder never exposes a half-written one after a
// crash.
func syncTree(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	if err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
