package membership

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// keySigner is an ed25519 private key as a Signer.
type keySigner struct{ priv ed25519.PrivateKey }

func newSigner(t testing.TB) keySigner {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner{priv}
}

func (k keySigner) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k keySigner) Sign(m []byte) []byte         { return ed25519.Sign(k.priv, m) }

// logRecorder keeps every message logged, and shows them in the test output.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) contains(sub ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		ok := true
		for _, s := range sub {
			ok = ok && strings.Contains(m, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// testNode is one node: a table on its own database and HTTP server.
type testNode struct {
	t      *testing.T
	name   string
	signer keySigner
	dbPath string
	cfg    Config
	logs   *logRecorder

	db     *storage.DB
	table  *Table
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// fastConfig makes rounds quick enough for tests.
func fastConfig(name string) Config {
	return Config{
		Network:      "test",
		Name:         name,
		Interval:     50 * time.Millisecond,
		Fanout:       2,
		Pings:        2,
		SuspectAfter: 600 * time.Millisecond,
		RemoveAfter:  600 * time.Millisecond,
	}
}

func newNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	n := &testNode{t: t, name: cfg.Name, signer: newSigner(t), dbPath: filepath.Join(t.TempDir(), "shoal.db"),
		cfg: cfg, logs: &logRecorder{}}
	n.start()
	t.Cleanup(n.stop)
	return n
}

// start opens the node's database and table and serves its peer API on a
// fresh 127.0.0.1 port, without running the gossip loop.
func (n *testNode) start() {
	t := n.t
	t.Helper()
	db, err := storage.Open(n.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	cfg := n.cfg
	cfg.Addresses = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	cfg.Ports = map[string]int{PeerPort: srv.Listener.Addr().(*net.TCPAddr).Port}
	cfg.Logger = slog.New(n.logs)
	tb, err := New(db, n.signer, cfg)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	tb.Routes(mux)
	srv.Start()
	n.db, n.table, n.srv = db, tb, srv
}

// run starts the gossip loop.
func (n *testNode) run() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		n.table.Run(ctx)
	}()
}

// stop stops everything and closes the database; a stopped node can start
// again on the same database.
func (n *testNode) stop() {
	if n.table == nil {
		return
	}
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
	n.srv.Close()
	if err := n.table.Close(); err != nil {
		n.t.Error(err)
	}
	if err := n.db.Close(); err != nil {
		n.t.Error(err)
	}
	n.table = nil
}

func (n *testNode) id() string   { return n.signer.id() }
func (n *testNode) addr() string { return n.srv.Listener.Addr().String() }

func (k keySigner) id() string { return NodeID(k.PublicKey()) }

func (n *testNode) join(other *testNode) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.table.Join(ctx, other.addr()); err != nil {
		n.t.Fatal(err)
	}
}

// memberIDs are the ids in n's table, sorted.
func (n *testNode) memberIDs() []string {
	var ids []string
	for _, m := range n.table.Members() {
		ids = append(ids, m.Record.ID)
	}
	slices.Sort(ids)
	return ids
}

func idsOf(nodes ...*testNode) []string {
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.id())
	}
	slices.Sort(ids)
	return ids
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
