package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
)

// needFFmpeg skips a test that needs ffmpeg and ffprobe when they are not
// installed (Debian package ffmpeg; the Makefile installs it).
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (Debian package ffmpeg)", p)
		}
	}
}

// testClip makes a short video with ffmpeg's lavfi sources: testsrc2 (a
// frame counter and moving pattern) and a sine tone.
func testClip(t *testing.T, w, h int, seconds float64) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), fmt.Sprintf("clip-%dx%d.mp4", w, h))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%g", w, h, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%g", seconds),
		"-ac", "2", "-c:a", "aac", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make a test clip: %v\n%s", err, b)
	}
	return out
}

// startVideoMember is startMember with fast packaging (ultrafast x264).
func startVideoMember(t *testing.T, name, bind string, join ...string) *Node {
	t.Helper()
	n := startMember(t, name, bind, join...)
	n.opts.Packaging.Preset = "ultrafast"
	return n
}

// publishVideo publishes src on n as a video and checks its progress went
// through packaging, then hashing.
func publishVideo(t *testing.T, n *Node, src string) engine.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var stages []string
	it, err := n.PublishVideo(ctx, src, "", func(stage string, done, total int64) {
		if len(stages) == 0 || stages[len(stages)-1] != stage {
			stages = append(stages, stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stages, ","); got != StagePackaging+","+StageHashing && got != StageHashing {
		t.Errorf("progress stages = %q, want packaging then hashing", got)
	}
	return it
}

// TestPublishVideo: a video published on one member is a video item in the
// other's catalog, its MPD is served by the other member's gateway and
// ffprobe reads it there; publishing it again reuses the packaged folder;
// a file that is not a video is refused and leaves nothing.
func TestPublishVideo(t *testing.T) {
	needFFmpeg(t)
	a := startVideoMember(t, "alpha", "127.0.0.2")
	b := startVideoMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(a) == 2 && aliveMembers(b) == 2
	})

	// Not a video: an error that says so, nothing packaged or published.
	notVideo := filepath.Join(t.TempDir(), "notes.mp4")
	os.WriteFile(notVideo, []byte("these are notes, not a film\n"), 0o600)
	if _, err := a.PublishVideo(t.Context(), notVideo, "", nil); err == nil {
		t.Fatal("a text file was published as a video")
	} else if !strings.Contains(err.Error(), "notes.mp4") {
		t.Errorf("error does not name the file: %v", err)
	}
	if _, err := a.PublishVideo(t.Context(), filepath.Join(t.TempDir(), "none.mp4"), "", nil); err == nil {
		t.Fatal("a missing file was published")
	}
	if len(a.Items()) != 0 {
		t.Fatalf("items after refused publishes: %v", a.Items())
	}
	if es, _ := os.ReadDir(filepath.Join(a.DataDir(), VideosDir)); len(es) != 0 {
		t.Fatalf("refused publishes left %d entries in the videos folder", len(es))
	}

	src := testClip(t, 640, 360, 4)
	it := publishVideo(t, a, src)
	if !engine.IsPresentation(it) || it.Type != "video" || it.Name != "clip-640x360" {
		t.Fatalf("published item: kind %q type %q name %q, files %v", it.Kind, it.Type, it.Name, it.Files)
	}
	waitFor(t, "beta's catalog to list the video", func() bool {
		e, ok := b.CDN().Catalog.Get(it.InfoHash)
		return ok && e.Item.Kind == "video" && len(e.Holders) > 0
	})

	// Any DASH player can take the MPD from beta's gateway.
	url := "http://" + b.CDN().PeerAddr() + engine.GatewayPrefix + it.InfoHash + "/" + engine.PresentationManifest
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/dash+xml" ||
		!strings.Contains(string(body), "<MPD") {
		t.Fatalf("GET %s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height",
		"-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	var probe struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			Width     int    `json:"width"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	var videos, audios int
	for _, s := range probe.Streams {
		switch s.CodecType {
		case "video":
			videos++
		case "audio":
			audios++
		}
	}
	if videos < 2 || audios < 1 {
		t.Errorf("ffprobe through beta's gateway saw %d video and %d audio streams: %s", videos, audios, out)
	}

	// The same file again: the same item, no new packaging.
	again := publishVideo(t, a, src)
	if again.InfoHash != it.InfoHash {
		t.Errorf("publishing again gave %s, first %s", again.InfoHash, it.InfoHash)
	}
	if es, _ := os.ReadDir(filepath.Join(a.DataDir(), VideosDir)); len(es) != 1 {
		t.Errorf("videos folder has %d entries after publishing one video twice", len(es))
	}
}
