package packager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/streaming/mpd"
)

// playerPage feeds the presentation to Chromium's Media Source Extensions
// the way the web client does, switching rendition at every segment (the
// new rendition's init segment first), and posts what the video element
// did to /report.
const playerPage = `<!doctype html><meta charset="utf-8"><video id="v" muted></video><script>
const report = (r) => fetch('/report', {method: 'POST', body: JSON.stringify(r)});
const get = async (u) => { const r = await fetch(u); if (!r.ok) throw new Error(u + ': ' + r.status); return r.arrayBuffer(); };
const append = (sb, data) => new Promise((ok, fail) => {
  sb.addEventListener('updateend', ok, {once: true});
  sb.addEventListener('error', () => fail(new Error('append failed')), {once: true});
  sb.appendBuffer(data);
});
async function feed(ms, track, switching) {
  const sb = ms.addSourceBuffer(track.type);
  let current = -1;
  for (let k = 0; k < track.reps[0].segments.length; k++) {
    const r = switching ? k % track.reps.length : 0;
    if (r !== current) { await append(sb, await get(track.reps[r].init)); current = r; }
    await append(sb, await get(track.reps[r].segments[k]));
  }
}
(async () => {
  const plan = await (await fetch('/plan.json')).json();
  const supported = plan.tracks.map((t) => MediaSource.isTypeSupported(t.type));
  const v = document.getElementById('v');
  const sizes = new Set();
  v.addEventListener('resize', () => sizes.add(v.videoWidth + 'x' + v.videoHeight));
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise((ok) => ms.addEventListener('sourceopen', ok, {once: true}));
  await Promise.all(plan.tracks.map((t) => feed(ms, t, t.video)));
  ms.endOfStream();
  v.playbackRate = 2;
  await v.play();
  await new Promise((ok, fail) => {
    v.addEventListener('ended', ok, {once: true});
    v.addEventListener('error', () => fail(new Error('media error ' + (v.error && v.error.message))), {once: true});
  });
  const q = v.getVideoPlaybackQuality();
  report({ok: true, supported, duration: v.duration, currentTime: v.currentTime,
    frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, sizes: [...sizes]});
})().catch((e) => report({ok: false, error: String(e)}));
</script>`

type playerTrack struct {
	Type  string `json:"type"`
	Video bool   `json:"video"`
	Reps  []struct {
		Init     string   `json:"init"`
		Segments []string `json:"segments"`
	} `json:"reps"`
}

type playerReport struct {
	OK          bool     `json:"ok"`
	Error       string   `json:"error"`
	Supported   []bool   `json:"supported"`
	Duration    float64  `json:"duration"`
	CurrentTime float64  `json:"currentTime"`
	Frames      int      `json:"frames"`
	Dropped     int      `json:"dropped"`
	Sizes       []string `json:"sizes"`
}

// TestChromiumPlays plays a packaged video in Chromium through Media Source
// Extensions, switching between all the renditions segment by segment: the
// codecs strings are accepted, the segments of different renditions join
// (aligned keyframes), and the video plays to its end.
func TestChromiumPlays(t *testing.T) {
	needFFmpeg(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	dir := t.TempDir()
	src := clip(t, dir, "play.mp4", 640, 360, "30", 6, true)
	res, err := Package(context.Background(), src, t.TempDir(), testOptions, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(res.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Tracks []playerTrack `json:"tracks"`
	}
	for _, set := range []struct {
		sets  []mpd.AdaptationSet
		video bool
	}{{m.Video, true}, {m.Audio, false}} {
		for _, as := range set.sets {
			tr := playerTrack{Video: set.video}
			for _, r := range as.Representations {
				tr.Type = fmt.Sprintf("%s; codecs=%q", r.MimeType, r.Codecs)
				rep := struct {
					Init     string   `json:"init"`
					Segments []string `json:"segments"`
				}{Init: "/media/" + r.Init}
				for _, s := range r.Segments {
					rep.Segments = append(rep.Segments, "/media/"+s.URL)
				}
				tr.Reps = append(tr.Reps, rep)
			}
			plan.Tracks = append(plan.Tracks, tr)
		}
	}

	reports := make(chan playerReport, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, playerPage)
	})
	mux.HandleFunc("GET /plan.json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(plan)
	})
	mux.Handle("GET /media/", http.StripPrefix("/media/", http.FileServer(http.Dir(res.Dir))))
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep playerReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			rep.Error = "bad report: " + err.Error()
		}
		select {
		case reports <- rep:
		default:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.Command(chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--mute-audio", "--autoplay-policy=no-user-gesture-required",
		"--user-data-dir="+t.TempDir(), srv.URL+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr tailBuffer
	stderr.max = 4 << 10
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// Chromium runs helper processes: stop its whole process group.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()

	var rep playerReport
	select {
	case rep = <-reports:
	case err := <-exited:
		t.Fatalf("chromium exited before reporting: %v\n%s", err, stderr.String())
	case <-ctx.Done():
		t.Fatalf("no report from chromium\n%s", stderr.String())
	}
	t.Logf("chromium: %+v", rep)
	if !rep.OK {
		t.Fatalf("playback failed: %s", rep.Error)
	}
	for i, ok := range rep.Supported {
		if !ok {
			t.Errorf("MediaSource does not support %s", plan.Tracks[i].Type)
		}
	}
	if d := m.Duration.Seconds(); rep.CurrentTime < d-0.3 || rep.Duration < d-0.3 {
		t.Errorf("played to %.2f s of %.2f s (MPD: %.2f s)", rep.CurrentTime, rep.Duration, d)
	}
	if rep.Frames < 6*30*8/10 {
		t.Errorf("only %d frames shown", rep.Frames)
	}
	// Chromium showed every rendition. videoWidth is the displayed width,
	// after the sample aspect ratio (426x240 at 640:639 shows 427 wide).
	for _, r := range m.Video[0].Representations {
		seen := false
		for _, s := range rep.Sizes {
			var w, h int
			if _, err := fmt.Sscanf(s, "%dx%d", &w, &h); err == nil && h == r.Height && w >= r.Width-2 && w <= r.Width+2 {
				seen = true
			}
		}
		if !seen {
			t.Errorf("chromium never showed the %dx%d rendition (saw %v)", r.Width, r.Height, rep.Sizes)
		}
	}
}
