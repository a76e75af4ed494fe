// Command benchtool is the client-server reference of `make bench`
// (.ci/bench-cdn.sh): an HTTP file server whose upload is capped at a rate
// shared by all its connections, the way a node's BitTorrent upload is capped
// by [cdn] upload_kib_s. N clients fetching one file from it together finish
// after about N·F/u — the measured counterpart of the bound D_cs.
//
//	benchtool capserve -addr 127.0.0.1:0 -rate 8388608 -dir DIR
//
// prints "listening on HOST:PORT" once it serves DIR, then runs until killed.
// It is a benchmark tool, not part of Shoal; it imports only the standard
// library.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 || os.Args[1] != "capserve" {
		log.Fatal("usage: benchtool capserve -addr HOST:PORT -rate BYTES_PER_S -dir DIR")
	}
	fs := flag.NewFlagSet("capserve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	rate := fs.Int64("rate", 8<<20, "upload cap in bytes/s, shared by all connections")
	dir := fs.String("dir", ".", "folder to serve")
	fs.Parse(os.Args[2:])
	if *rate <= 0 {
		log.Fatal("capserve: -rate must be positive")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("capserve: %v", err)
	}
	b := newBucket(float64(*rate), 256<<10)
	files := http.FileServer(http.Dir(*dir))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Hiding ReaderFrom keeps net/http from using sendfile, so
			// every byte goes through the bucket.
			files.ServeHTTP(cappedWriter{w, b}, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(srv.Serve(ln))
}

// bucket is a token bucket: rate bytes/s, at most burst saved up. A writer
// reserves its bytes and sleeps off the debt, so concurrent writers share
// the rate in the order they ask.
type bucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) take(n int) {
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	debt := -b.tokens
	b.mu.Unlock()
	if debt > 0 {
		time.Sleep(time.Duration(debt / b.rate * float64(time.Second)))
	}
}

// cappedWriter passes writes on in chunks of at most 32 KiB, each paid for.
type cappedWriter struct {
	http.ResponseWriter
	b *bucket
}

func (c cappedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), 32<<10)]
		c.b.take(len(chunk))
		n, err := c.ResponseWriter.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}
