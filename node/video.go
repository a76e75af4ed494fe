package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/streaming/packager"
)

// VideosDir is the folder under the data dir where packaged videos live;
// each packaged folder is published from there as it is.
const VideosDir = "videos"

// Stages of publishing, in PublishProgress.Stage.
const (
	StagePackaging = "packaging" // Done and Total are milliseconds of the source
	StageHashing   = "hashing"   // Done and Total are bytes
)

// PublishVideo packages a video file for DASH (a ladder of renditions, one
// MPD, a poster) into the data dir and publishes the folder as one item of
// type video, with the MPD at its root. Progress of both stages goes to
// progress and the bus. A file that is not a video, or a missing ffmpeg,
// gives an error and publishes nothing. Packaging the same file again
// reuses the first result. name defaults to the file's name without its
// extension.
func (n *Node) PublishVideo(ctx context.Context, path, name string, progress func(stage string, done, total int64)) (engine.Item, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return engine.Item{}, fmt.Errorf("node: publish video: %w", err)
	}
	opts := n.opts.Packaging
	for _, prog := range []string{cmp.Or(opts.FFmpeg, "ffmpeg"), cmp.Or(opts.FFprobe, "ffprobe")} {
		if _, err := exec.LookPath(prog); err != nil {
			return engine.Item{}, fmt.Errorf("node: publish video: %s is not installed (Debian: apt-get install ffmpeg): %w", prog, err)
		}
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	}
	report := func(stage string, done, total int64) {
		if progress != nil {
			progress(stage, done, total)
		}
	}
	last := time.Time{}
	res, err := packager.Package(ctx, abs, filepath.Join(n.dataDir, VideosDir), opts, func(done, total time.Duration) {
		d, t := done.Milliseconds(), total.Milliseconds()
		report(StagePackaging, d, t)
		if now := time.Now(); now.Sub(last) > 200*time.Millisecond || d == t {
			last = now
			n.bus.Publish(EventPublishProgress, PublishProgress{Path: abs, Stage: StagePackaging, Done: d, Total: t})
		}
	})
	if err != nil {
		return engine.Item{}, fmt.Errorf("node: publish video: %w", err)
	}
	if res.Reused {
		n.log.Info("video already packaged", "source", abs, "dir", res.Dir)
	}
	it, err := n.publish(ctx, res.Dir, name, StageHashing, func(done, total int64) { report(StageHashing, done, total) })
	if err != nil {
		return engine.Item{}, err
	}
	if !engine.IsPresentation(it) {
		return it, errors.New("node: publish video: the published folder has no manifest.mpd at its root")
	}
	return it, nil
}
