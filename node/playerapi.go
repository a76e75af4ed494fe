package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/shoal-p2p/shoal/streaming/player"
)

// playerRoutes are the control API's routes for watch sessions.
func (a *controlAPI) playerRoutes(api func(string, http.HandlerFunc)) {
	api("POST /api/v1/watch", a.postWatch)
	api("GET /api/v1/watch", a.getWatchings)
	api("GET /api/v1/watch/{id}", a.getWatching)
	api("DELETE /api/v1/watch/{id}", a.deleteWatching)
	api("GET /api/v1/watch/{id}/next", a.getWatchNext)
	api("POST /api/v1/watch/{id}/position", a.postWatchPosition)
	api("POST /api/v1/watch/{id}/seek", a.postWatchSeek)
	api("POST /api/v1/watch/{id}/rendition", a.postWatchRendition)
}

// postWatch starts a session: {"infohash", "abr", "rendition"}.
func (a *controlAPI) postWatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		InfoHash string `json:"infohash"`
		WatchOptions
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	ws, err := a.n.Watch(ctx, req.InfoHash, req.WatchOptions)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, ws)
}

func (a *controlAPI) getWatchings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.Watchings())
}

func (a *controlAPI) getWatching(w http.ResponseWriter, r *http.Request) {
	ws, err := a.n.Watched(r.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, ws)
}

func (a *controlAPI) deleteWatching(w http.ResponseWriter, r *http.Request) {
	ws, err := a.n.StopWatching(r.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, ws)
}

// maxNextWait bounds ?wait= of the segment feed.
const maxNextWait = 20 * time.Second

// getWatchNext hands the renderer the next chunk of ?track=video|audio,
// waiting up to ?wait=SECONDS (default 10) for it. The body is the chunk's
// bytes; headers describe it (X-Shoal-Init, -Generation, -Segment,
// -Rendition, -Representation, -Start, -Duration, -Codecs, -Mime). 204
// means nothing came in time, with X-Shoal-Ended: 1 when the track is over.
func (a *controlAPI) getWatchNext(w http.ResponseWriter, r *http.Request) {
	s, err := a.n.WatchSession(r.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	track := r.URL.Query().Get("track")
	if track == "" {
		track = player.Video
	}
	wait := 10 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("node: wait %q is not a number of seconds", v))
			return
		}
		wait = min(time.Duration(secs*float64(time.Second)), maxNextWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	c, err := s.Next(ctx, track)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch {
	case errors.Is(err, player.ErrEnded):
		h.Set("X-Shoal-Ended", "1")
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.Is(err, context.DeadlineExceeded):
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.Is(err, player.ErrStopped):
		writeError(w, http.StatusGone, err)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
		return
	}
	init := "0"
	if c.Init {
		init = "1"
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Shoal-Init", init)
	h.Set("X-Shoal-Generation", strconv.Itoa(c.Generation))
	h.Set("X-Shoal-Segment", strconv.Itoa(c.Segment))
	h.Set("X-Shoal-Rendition", strconv.Itoa(c.Rendition))
	h.Set("X-Shoal-Representation", c.Represent)
	h.Set("X-Shoal-Start", strconv.FormatFloat(c.Start.Seconds(), 'f', -1, 64))
	h.Set("X-Shoal-Duration", strconv.FormatFloat(c.Duration.Seconds(), 'f', -1, 64))
	h.Set("X-Shoal-Codecs", c.Codecs)
	h.Set("X-Shoal-Mime", c.MimeType)
	h.Set("Content-Length", strconv.Itoa(len(c.Data)))
	w.WriteHeader(http.StatusOK)
	w.Write(c.Data)
}

// postWatchPosition takes a renderer's report: {"position": seconds,
// "playing": bool, "stalled": bool}.
func (a *controlAPI) postWatchPosition(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Position float64 `json:"position"`
		Playing  bool    `json:"playing"`
		Stalled  bool    `json:"stalled"`
	}
	s, ok := a.session(w, r, &req)
	if !ok {
		return
	}
	if err := s.Report(seconds(req.Position), req.Playing, req.Stalled); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.State())
}

// postWatchSeek moves playback: {"position": seconds}.
func (a *controlAPI) postWatchSeek(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Position float64 `json:"position"`
	}
	s, ok := a.session(w, r, &req)
	if !ok {
		return
	}
	if err := s.Seek(seconds(req.Position)); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.State())
}

// postWatchRendition fixes the video rendition, or -1 for automatic:
// {"rendition": n}.
func (a *controlAPI) postWatchRendition(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Rendition int `json:"rendition"`
	}
	s, ok := a.session(w, r, &req)
	if !ok {
		return
	}
	if err := s.SetRendition(req.Rendition); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.State())
}

// session finds the request's session and decodes its JSON body into req.
func (a *controlAPI) session(w http.ResponseWriter, r *http.Request, req any) (*player.Session, bool) {
	s, err := a.n.WatchSession(r.PathValue("id"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return nil, false
	}
	if err := decodeJSON(w, r, req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return nil, false
	}
	return s, true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
