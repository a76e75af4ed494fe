package proxy

import (
	"io"
	"net/http"
	"strconv"
	"sync"
)

// handlerTransport runs a ShoalOrigin as the cache's upstream: the handler
// writes into a pipe whose other end is the response body, so the cache
// streams and stores it as it would an origin's.
type handlerTransport struct{ h ShoalOrigin }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	rw := &pipeResponse{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer rw.finish()
		t.h.ServeShoal(rw, r)
	}()
	select {
	case <-rw.ready:
	case <-r.Context().Done():
		pr.CloseWithError(r.Context().Err())
		return nil, r.Context().Err()
	}
	resp := &http.Response{Status: strconv.Itoa(rw.code) + " " + http.StatusText(rw.code), StatusCode: rw.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: rw.sent, Body: pr, ContentLength: -1, Request: r}
	if n, err := strconv.ParseInt(rw.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	if r.Method == http.MethodHead || rw.code == http.StatusNotModified || rw.code == http.StatusNoContent {
		resp.ContentLength = 0
	}
	return resp, nil
}

// pipeResponse is the http.ResponseWriter a ShoalOrigin writes into.
type pipeResponse struct {
	header http.Header
	sent   http.Header
	code   int
	pw     *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	w.once.Do(func() {
		w.code, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

func (w *pipeResponse) finish() {
	w.WriteHeader(http.StatusOK)
	w.pw.Close()
}
