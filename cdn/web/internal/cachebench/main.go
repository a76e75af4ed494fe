// Command cachebench runs the proxy's cache for cdn/web/bench.sh: in front
// of one origin as a reverse proxy (for the http-cache-tests suite), as the
// forward proxy (for wrk), or as a plain origin of fixed-size objects.
//
//	cachebench reverse -listen 127.0.0.1:8001 -origin http://localhost:8000 -dir DIR
//	cachebench forward -listen 127.0.0.1:8002 -dir DIR
//	cachebench origin  -listen 127.0.0.1:8003
//
// The origin serves /obj/N: N bytes, fresh for an hour, with an ETag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-p2p/shoal/cdn/web/httpcache"
	"github.com/shoal-p2p/shoal/cdn/web/proxy"
	"github.com/shoal-p2p/shoal/storage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cachebench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: cachebench reverse|forward|origin [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	origin := fs.String("origin", "", "origin URL (reverse)")
	dir := fs.String("dir", "", "folder for the database and bodies")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	switch args[0] {
	case "origin":
		return serve(ctx, ln, http.HandlerFunc(objects))
	case "reverse", "forward":
		if *dir == "" {
			return errors.New("-dir is required")
		}
		db, err := storage.Open(filepath.Join(*dir, "shoal.db"))
		if err != nil {
			return err
		}
		defer db.Close()
		copts := httpcache.Options{DB: db, Dir: filepath.Join(*dir, "cache"), MaxBytes: 256 << 20}
		if args[0] == "forward" {
			p, err := proxy.New(proxy.Options{Cache: copts})
			if err != nil {
				return err
			}
			return p.Serve(ctx, ln)
		}
		u, err := url.Parse(*origin)
		if err != nil || !u.IsAbs() {
			return fmt.Errorf("-origin %q is not an absolute URL", *origin)
		}
		copts.Upstream = &http.Transport{ResponseHeaderTimeout: 30 * time.Second, MaxIdleConnsPerHost: 64}
		c, err := httpcache.Open(copts)
		if err != nil {
			return err
		}
		defer c.Close()
		return serve(ctx, ln, httpcache.Reverse(u, c))
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func objects(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/obj/"))
	if err != nil || n < 0 || n > 64<<20 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("ETag", fmt.Sprintf(`"obj-%d"`, n))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.Write(make([]byte, n))
}
