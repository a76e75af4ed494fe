package node

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/shoal-p2p/shoal/streaming/player"
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

// videoMembers starts alpha and beta, joined, publishes a clip of seconds
// on alpha and waits until beta's catalog lists it.
func videoMembers(t *testing.T, seconds float64) (a, b *Node, it engine.Item) {
	t.Helper()
	a = startVideoMember(t, "alpha", "127.0.0.2")
	b = startVideoMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(a) == 2 && aliveMembers(b) == 2
	})
	it = publishVideo(t, a, testClip(t, 640, 360, seconds))
	waitFor(t, "beta's catalog to list the video", func() bool {
		e, ok := b.CDN().Catalog.Get(it.InfoHash)
		return ok && len(e.Holders) > 0
	})
	return a, b, it
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

// renderer takes a session's chunks through the control API, as the web
// client does.
type renderer struct {
	t     *testing.T
	n     *Node
	id    string
	inits map[string][]byte // by track
}

type chunk struct {
	init              bool
	generation        int
	segment           int
	rendition         int
	start, duration   float64
	codecs, mimeType  string
	data              []byte
	ended, nothingYet bool
}

func (r *renderer) next(track string) chunk {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+r.n.UIAddress()+"/api/v1/watch/"+r.id+"/next?track="+track+"&wait=20", nil)
	req.Header.Set("Authorization", "Bearer "+r.n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	h := resp.Header
	switch resp.StatusCode {
	case http.StatusNoContent:
		return chunk{ended: h.Get("X-Shoal-Ended") == "1", nothingYet: h.Get("X-Shoal-Ended") != "1"}
	case http.StatusOK:
	default:
		r.t.Fatalf("next %s: %s %s", track, resp.Status, data)
	}
	num := func(k string) float64 {
		var f float64
		fmt.Sscan(h.Get(k), &f)
		return f
	}
	return chunk{init: h.Get("X-Shoal-Init") == "1", generation: int(num("X-Shoal-Generation")),
		segment: int(num("X-Shoal-Segment")), rendition: int(num("X-Shoal-Rendition")),
		start: num("X-Shoal-Start"), duration: num("X-Shoal-Duration"),
		codecs: h.Get("X-Shoal-Codecs"), mimeType: h.Get("X-Shoal-Mime"), data: data}
}

// post sends a JSON body to the session's route and returns its state.
func (r *renderer) post(route, body string) (int, map[string]any) {
	r.t.Helper()
	resp, out := call(r.t, r.n, http.MethodPost, "/api/v1/watch/"+r.id+"/"+route, r.n.token, body)
	return resp.StatusCode, out
}

// framePTS decodes one media segment after its init segment with ffprobe
// and returns its video frames' presentation times in seconds.
func framePTS(t *testing.T, init, media []byte) []float64 {
	t.Helper()
	f := filepath.Join(t.TempDir(), "seg.mp4")
	os.WriteFile(f, append(append([]byte(nil), init...), media...), 0o600)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", f).Output()
	if err != nil {
		t.Fatalf("ffprobe a segment: %v", err)
	}
	var pts []float64
	for _, l := range strings.Fields(string(out)) {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSuffix(l, ","), &v); err == nil {
			pts = append(pts, v)
		}
	}
	return pts
}

// TestWatchOnAnotherMember: a video published on alpha is watched on beta
// through beta's control API. The segments come from the network (the
// swarm or alpha's gateway) until beta holds a copy, in order; after a
// switch of rendition the decoded frames go on where they stopped; a seek
// starts a new generation at the right segment; the QoE counts the switch.
func TestWatchOnAnotherMember(t *testing.T) {
	needFFmpeg(t)
	_, b, it := videoMembers(t, 8)

	// Bad requests change nothing.
	if resp, _ := call(t, b, http.MethodPost, "/api/v1/watch", b.token, `{"infohash": "not-a-hash"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad infohash: %s", resp.Status)
	}
	if resp, _ := call(t, b, http.MethodPost, "/api/v1/watch", b.token, `{"infohash": "`+it.InfoHash+`", "abr": "magic"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown ABR: %s", resp.Status)
	}
	if resp, _ := call(t, b, http.MethodGet, "/api/v1/watch/0123", b.token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown session: %s", resp.Status)
	}
	if len(b.Watchings()) != 0 {
		t.Fatalf("sessions after bad requests: %v", b.Watchings())
	}

	resp, w := call(t, b, http.MethodPost, "/api/v1/watch", b.token,
		`{"infohash": "`+it.InfoHash+`", "rendition": 0, "buffer_target": 4, "buffer_max": 4}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/watch: %s %v", resp.Status, w)
	}
	r := &renderer{t: t, n: b, id: w["id"].(string), inits: map[string][]byte{}}
	state := w["state"].(map[string]any)
	top := len(state["renditions"].([]any)) - 1
	if top < 1 {
		t.Fatalf("renditions: %v", state["renditions"])
	}

	const switchAt = 2 // see TestSessionPlaysInOrderAcrossASwitch
	var lastPTS float64 = -1
	want := 0
	for {
		c := r.next("video")
		if c.nothingYet {
			t.Fatalf("no chunk in 20 s")
		}
		if c.ended {
			break
		}
		if c.init {
			r.inits["video"] = c.data
			if !strings.HasPrefix(c.codecs, "avc1") || c.mimeType != "video/mp4" {
				t.Errorf("init of rendition %d: codecs %q mime %q", c.rendition, c.codecs, c.mimeType)
			}
			continue
		}
		if c.segment != want {
			t.Fatalf("segment %d, want %d", c.segment, want)
		}
		if c.segment >= switchAt && c.rendition != top || c.segment < switchAt && c.rendition != 0 {
			t.Errorf("segment %d in rendition %d", c.segment, c.rendition)
		}
		pts := framePTS(t, r.inits["video"], c.data)
		if len(pts) == 0 {
			t.Fatalf("segment %d decodes to no frames", c.segment)
		}
		if lastPTS >= 0 && (pts[0] < lastPTS || pts[0]-lastPTS > 0.05) {
			t.Errorf("segment %d (rendition %d) starts at %.3f s, the previous ended at %.3f s", c.segment, c.rendition, pts[0], lastPTS)
		}
		lastPTS = pts[len(pts)-1]
		if c.segment == switchAt-1 {
			if code, out := r.post("rendition", fmt.Sprintf(`{"rendition": %d}`, top)); code != http.StatusOK {
				t.Fatalf("rendition: %d %v", code, out)
			}
		}
		if code, out := r.post("position", fmt.Sprintf(`{"position": %g, "playing": true}`, c.start)); code != http.StatusOK {
			t.Fatalf("position: %d %v", code, out)
		}
		want++
	}
	if want < 4 {
		t.Fatalf("the video ended after %d segments", want)
	}
	for {
		if c := r.next("audio"); c.ended {
			break
		} else if c.nothingYet {
			t.Fatal("no audio chunk in 20 s")
		}
	}

	// Seek back: a new generation, its init first, then the segment there.
	if code, out := r.post("seek", `{"position": 3}`); code != http.StatusOK {
		t.Fatalf("seek: %d %v", code, out)
	}
	if code, _ := r.post("seek", `{"position": 3600}`); code != http.StatusBadRequest {
		t.Errorf("a seek past the end: %d", code)
	}
	if c := r.next("video"); !c.init || c.generation != 1 {
		t.Fatalf("after the seek: init %v generation %d", c.init, c.generation)
	}
	if c := r.next("video"); c.init || c.start > 3 || c.start+c.duration <= 3 {
		t.Fatalf("after the seek: segment %d at %g s", c.segment, c.start)
	}

	ws, err := b.Watched(r.id)
	if err != nil {
		t.Fatal(err)
	}
	// Beta had no copy at first; once the gateway has fetched the whole
	// (small) item, later segments are read from beta's own copy.
	if h := ws.State.History; len(h) == 0 || h[0].From == "here" {
		t.Errorf("the first segment came from beta's own copy, which it did not have")
	}
	for _, rec := range ws.State.History {
		if rec.From != "here" && rec.From != "swarm" && !strings.HasPrefix(rec.From, "member ") {
			t.Errorf("segment %d (%s) came from %q", rec.Segment, rec.Track, rec.From)
		}
	}
	if q := ws.State.QoE; !q.Started || q.Switches != 1 || q.Rebuffers != 0 {
		t.Errorf("QoE %+v", q)
	}
	if resp, _ := call(t, b, http.MethodDelete, "/api/v1/watch/"+r.id, b.token, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE: %s", resp.Status)
	}
	if resp, _ := call(t, b, http.MethodGet, "/api/v1/watch/"+r.id, b.token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a stopped session: %s", resp.Status)
	}
}

// TestWatchFallsBackToAMembersGateway: when this node's own copy cannot
// serve (the item is paused here), segments come from the gateway of the
// member that holds the video.
func TestWatchFallsBackToAMembersGateway(t *testing.T) {
	needFFmpeg(t)
	_, b, it := videoMembers(t, 6)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, err := b.Watch(ctx, it.InfoHash, WatchOptions{BufferTarget: 2, BufferMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := b.WatchSession(ws.ID)
	if _, err := s.Next(ctx, "video"); err != nil { // the init: beta now has the item
		t.Fatal(err)
	}
	waitFor(t, "beta to hold the item", func() bool { _, err := b.Item(it.InfoHash); return err == nil })
	if _, err := b.ItemAction(it.InfoHash, ActionPause); err != nil {
		t.Fatal(err)
	}
	if err := s.Seek(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	for {
		c, err := s.Next(ctx, "video")
		if err != nil {
			t.Fatalf("after pausing the item here: %v (state %+v)", err, s.State().Error)
		}
		if !c.Init {
			break
		}
	}
	var from string
	for _, r := range s.State().History {
		if r.Track == "video" {
			from = r.From
		}
	}
	if from != "member alpha" {
		t.Errorf("the segment after the pause came from %q, want member alpha", from)
	}
}

// TestWatchGoesOnWhenThePublisherLeaves: alpha publishes a video, gamma
// holds a copy, beta (its downloads capped, so it is still fetching) plays
// it; alpha stops in the middle, and playback reaches the end in order,
// from gamma.
func TestWatchGoesOnWhenThePublisherLeaves(t *testing.T) {
	needFFmpeg(t)
	a := startVideoMember(t, "alpha", "127.0.0.2")
	g := startVideoMember(t, "gamma", "127.0.0.4", a.CDN().PeerAddr())
	b := startCappedMember(t, "beta", "127.0.0.3", 192, a.CDN().PeerAddr())
	waitFor(t, "the three nodes to see each other", func() bool {
		return aliveMembers(a) == 3 && aliveMembers(b) == 3 && aliveMembers(g) == 3
	})
	it := publishVideo(t, a, testClip(t, 640, 360, 8))
	waitFor(t, "gamma's catalog to list the video", func() bool { _, ok := g.CDN().Catalog.Get(it.InfoHash); return ok })
	fetch(t, g, it.InfoHash)
	waitFor(t, "beta's catalog to list gamma as a holder", func() bool {
		e, ok := b.CDN().Catalog.Get(it.InfoHash)
		return ok && len(e.Holders) == 2
	})

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	ws, err := b.Watch(ctx, it.InfoHash, WatchOptions{BufferTarget: 4, BufferMax: 4})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := b.WatchSession(ws.ID)
	want := 0
	for {
		c, err := s.Next(ctx, "video")
		if errors.Is(err, player.ErrEnded) {
			break
		}
		if err != nil {
			t.Fatalf("after segment %d: %v (last error %q)", want, err, s.State().Error)
		}
		if c.Init {
			continue
		}
		if c.Segment != want {
			t.Fatalf("segment %d, want %d", c.Segment, want)
		}
		if want == 1 {
			a.Close()
		}
		s.Report(c.Start, true, false)
		want++
	}
	if n := len(s.Manifest().Video[0].Representations[0].Segments); want != n {
		t.Fatalf("played %d of %d segments", want, n)
	}
	var from []string
	for _, r := range s.State().History {
		from = append(from, r.From)
	}
	t.Logf("sources: %v", from)
}
