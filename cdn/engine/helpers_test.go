package engine

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// anacrolix does not cancel outgoing dials when its client closes;
		// a uTP dial to a peer that is gone lasts until its own timeout.
		goleak.IgnoreAnyFunction("github.com/anacrolix/torrent.(*Client).outgoingConnection"),
		goleak.IgnoreAnyFunction("github.com/anacrolix/go-libutp.(*Conn).waitForConnect"),
		goleak.IgnoreAnyFunction("github.com/anacrolix/go-libutp.(*Conn).waitForConnect.func1"),
	)
}

// testLog discards logs unless SHOAL_TEST_LOG is set (logging to t.Log is
// not possible: anacrolix goroutines log after a test ends).
func testLog() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testNode is one engine with its own database and data dir.
type testNode struct {
	*Engine
	t      *testing.T
	dir    string
	db     *storage.DB
	cfg    Config
	events *eventLog
}

type eventLog struct {
	mu     sync.Mutex
	events []string
	data   []any
}

func (l *eventLog) publish(typ string, data any) {
	l.mu.Lock()
	l.events = append(l.events, typ)
	l.data = append(l.data, data)
	l.mu.Unlock()
}

// progress returns the data of every EventProgress so far.
func (l *eventLog) progress() [][]Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]Status
	for i, e := range l.events {
		if e == EventProgress {
			out = append(out, l.data[i].([]Status))
		}
	}
	return out
}

func (l *eventLog) count(typ string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e == typ {
			n++
		}
	}
	return n
}

// newNode starts an engine on 127.0.0.1 (or bind), port 0, with fresh
// storage. edit may adjust the config.
func newNode(t *testing.T, edit func(*Config)) *testNode {
	t.Helper()
	return newNodeIn(t, t.TempDir(), edit)
}

// newNodeIn starts an engine on the data dir of an earlier one.
func newNodeIn(t *testing.T, dir string, edit func(*Config)) *testNode {
	t.Helper()
	n := &testNode{t: t, dir: dir, events: &eventLog{}}
	n.cfg = Config{
		DataDir: dir,
		Bind:    netip.MustParseAddr("127.0.0.1"),
		Log:     testLog(),
		Publish: n.events.publish,
	}
	if edit != nil {
		edit(&n.cfg)
	}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) start() {
	n.t.Helper()
	db, err := storage.Open(filepath.Join(n.dir, "shoal.db"))
	if err != nil {
		n.t.Fatal(err)
	}
	n.db = db
	cfg := n.cfg
	cfg.DB = db
	e, err := Open(context.Background(), cfg)
	if err != nil {
		db.Close()
		n.t.Fatal(err)
	}
	n.Engine = e
}

// stop closes the engine and its database, as a node shutting down does.
func (n *testNode) stop() {
	if n.Engine != nil {
		if err := n.Engine.Close(); err != nil {
			n.t.Errorf("close engine: %v", err)
		}
		n.Engine = nil
	}
	if n.db != nil {
		n.db.Close()
		n.db = nil
	}
}

// restart stops the node and starts it again on the same files (on a new
// port: the old one may be taken by then).
func (n *testNode) restart() {
	n.t.Helper()
	n.stop()
	n.start()
}

// addr is the node's BitTorrent address.
func (n *testNode) addr() netip.AddrPort {
	return netip.AddrPortFrom(n.cfg.Bind, uint16(n.Port()))
}

// writeFile writes size pseudo-random bytes (seeded, so reproducible).
func writeFile(t *testing.T, path string, size int, seed uint64) []byte {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status fetches an item's status or fails the test.
func (n *testNode) status(ih string) Status {
	n.t.Helper()
	st, err := n.Status(ih)
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

// wait waits for a download to complete.
func wait(t *testing.T, d *Download, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		st, _ := d.Status()
		t.Fatalf("download %s: %v (state %s, %d/%d bytes, %d peers)", d.InfoHash(), err, st.State, st.Completed, st.Size, st.Peers)
	}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d published", path, len(got), len(want))
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
