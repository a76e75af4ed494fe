package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/streaming/player"
)

// badGateway is a real HTTP server in front of a member's gateway that
// spoils the answers for media segments as mode says.
func badGateway(t *testing.T, bind, upstream, mode string) string {
	t.Helper()
	ln, err := net.Listen("tcp", bind+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+upstream+r.URL.RequestURI(), nil)
		for _, h := range []string{"Range", "Cache-Control", engine.HeaderFetch} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		ctype := resp.Header.Get("Content-Type")
		if strings.Contains(r.URL.Path, "chunk") && resp.StatusCode == http.StatusOK {
			switch mode {
			case "wrong bytes":
				body[len(body)/2] ^= 0xff
			case "wrong length":
				body = append(body, make([]byte, 100)...)
			case "wrong type":
				ctype = "text/html; charset=utf-8"
			}
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestWatchRefusesWrongGatewayAnswers: a member's gateway (a real HTTP
// server in front of alpha's) answers media segments with wrong bytes of
// the right length, with the wrong length, or with the wrong type. Beta's
// own copy is paused, so the player asks that member first, then alpha.
// The player refuses each wrong answer (piece hashes, Content-Length,
// Content-Type), records it, asks alpha instead, and hands the renderer
// only the files' own bytes.
func TestWatchRefusesWrongGatewayAnswers(t *testing.T) {
	needFFmpeg(t)
	a, b, it := videoMembers(t, 6)
	fetch(t, b, it.InfoHash)
	if _, err := b.ItemAction(it.InfoHash, ActionPause); err != nil {
		t.Fatal(err)
	}
	// only-if-cached: the holder serves, a node whose copy is paused says
	// 504 at once.
	for _, tc := range []struct {
		name string
		n    *Node
		want int
	}{{"alpha", a, http.StatusOK}, {"beta", b, http.StatusGatewayTimeout}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+tc.n.CDN().PeerAddr()+engine.GatewayPrefix+it.InfoHash+"/"+engine.PresentationManifest, nil)
		req.Header.Set("Cache-Control", "only-if-cached")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("only-if-cached on %s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}

	for i, mode := range []string{"wrong bytes", "wrong length", "wrong type"} {
		t.Run(strings.ReplaceAll(mode, " ", "-"), func(t *testing.T) {
			bad := badGateway(t, "127.0.0."+strconv.Itoa(10+i), a.CDN().PeerAddr(), mode)
			src := &cdnSegments{n: b, ih: it.InfoHash, peers: func() (watchers, holders []gatewayPeer) {
				return nil, []gatewayPeer{{"mallory", bad}, {"alpha", a.CDN().PeerAddr()}}
			}}
			ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
			defer cancel()
			s, err := player.Open(ctx, src, player.Config{Rendition: 0, BufferTarget: 4 * time.Second, BufferMax: 4 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
			ladder := s.Manifest().Video[0].Ladder()
			want := 0
			for {
				c, err := s.Next(ctx, player.Video)
				if errors.Is(err, player.ErrEnded) {
					break
				}
				if err != nil {
					t.Fatalf("after segment %d: %v (last error %q)", want, err, s.State().Error)
				}
				if c.Init {
					continue
				}
				raw, err := os.ReadFile(filepath.Join(it.Path, filepath.FromSlash(ladder[c.Rendition].Segments[c.Segment].URL)))
				if err != nil {
					t.Fatal(err)
				}
				if c.Segment != want || !bytes.Equal(raw, c.Data) {
					t.Fatalf("chunk of segment %d (want %d): %d bytes, equal to the file: %v", c.Segment, want, len(c.Data), bytes.Equal(raw, c.Data))
				}
				s.Report(c.Start, true, false)
				want++
			}
			var caught bool
			for _, r := range s.State().History {
				switch {
				case r.Error != "" && r.From == "member mallory":
					caught = true
				case r.Error == "" && r.From != "member alpha":
					t.Errorf("segment %d (%s) was kept from %q", r.Segment, r.Track, r.From)
				}
				for _, why := range r.Refused {
					caught = caught || strings.HasPrefix(why, "member mallory: ")
				}
			}
			if !caught {
				t.Errorf("no record of mallory's wrong answer: %+v", s.State().History)
			}
		})
	}
}
