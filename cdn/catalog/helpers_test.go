package catalog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
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

	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type keySigner struct{ priv ed25519.PrivateKey }

func (k keySigner) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }
func (k keySigner) Sign(m []byte) []byte         { return ed25519.Sign(k.priv, m) }

// node is one Shoal node as far as the catalog goes: a member table and a
// catalog on their own database and peer API server.
type node struct {
	t      *testing.T
	name   string
	signer keySigner
	dbPath string
	// serveCatalog, if set, replaces the catalog's own route: a member
	// that serves a bad listing.
	serveCatalog http.HandlerFunc
	onChange     func(node string)

	db     *storage.DB
	table  *membership.Table
	cat    *Catalog
	srv    *httptest.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newNode(t *testing.T, name string, opts ...func(*node)) *node {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: name, signer: keySigner{priv}, dbPath: filepath.Join(t.TempDir(), "shoal.db")}
	for _, o := range opts {
		o(n)
	}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	db, err := storage.Open(n.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", n.name)
	table, err := membership.New(db, n.signer, membership.Config{
		Network:      "test",
		Name:         n.name,
		Addresses:    []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Ports:        map[string]int{membership.PeerPort: srv.Listener.Addr().(*net.TCPAddr).Port},
		Interval:     50 * time.Millisecond,
		Fanout:       2,
		Pings:        2,
		SuspectAfter: 600 * time.Millisecond,
		RemoveAfter:  600 * time.Millisecond,
		Logger:       log,
	})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := New(db, table, Config{Interval: 200 * time.Millisecond, RetryAfter: 200 * time.Millisecond,
		OnChange: n.onChange, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	table.Routes(mux)
	if n.serveCatalog != nil {
		mux.HandleFunc("GET "+PathCatalog, n.serveCatalog)
	} else {
		cat.Routes(mux)
	}
	srv.Start()
	n.db, n.table, n.cat, n.srv = db, table, cat, srv
}

func (n *node) run() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Go(func() { n.table.Run(ctx) })
	n.wg.Go(func() { n.cat.Run(ctx) })
}

func (n *node) stop() {
	if n.table == nil {
		return
	}
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
		n.cancel = nil
	}
	n.srv.Close()
	n.cat.Close()
	n.table.Close()
	if err := n.db.Close(); err != nil {
		n.t.Error(err)
	}
	n.table = nil
}

func (n *node) id() string { return membership.NodeID(n.signer.PublicKey()) }

func (n *node) join(other *node) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.table.Join(ctx, other.srv.Listener.Addr().String()); err != nil {
		n.t.Fatal(err)
	}
}

// item makes an item whose info hash is derived from its name.
func item(name string) Item {
	sum := sha1.Sum([]byte(name))
	return Item{InfoHash: hex.EncodeToString(sum[:]), Name: name, Size: int64(len(name)) * 1000,
		Files: []File{{Path: name + ".bin", Size: int64(len(name)) * 1000}}, Kind: "file"}
}

// summary is a node's network catalog as "name:holder,holder" lines.
func (n *node) summary() string {
	var lines []string
	for _, e := range n.cat.Network() {
		var hs []string
		for _, h := range e.Holders {
			hs = append(hs, h.ID[:6])
		}
		slices.Sort(hs)
		lines = append(lines, e.Item.Name+":"+strings.Join(hs, ","))
	}
	return strings.Join(lines, " ")
}

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

// sameCatalog checks that every node shows want.
func sameCatalog(nodes []*node, want string) error {
	for _, n := range nodes {
		if got := n.summary(); got != want {
			return fmt.Errorf("%s shows %q, want %q", n.name, got, want)
		}
	}
	return nil
}
