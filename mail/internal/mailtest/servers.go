package mailtest

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-p2p/shoal/mail/mailstore"
	"github.com/shoal-p2p/shoal/storage"
)

// Server is a mail server as smtpd, imapd and pop3d make them.
type Server interface {
	Serve(context.Context, net.Listener) error
	Close() error
}

// Serve runs srv on a fresh 127.0.0.1 listener and returns its address and
// a stop function, which the end of the test calls too. Serve returning an
// error fails the test.
func Serve(t testing.TB, srv Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// Store is a mail store in a fresh bbolt file with one user, its password
// hashed at bcrypt's lowest cost; the file is closed when the test ends.
func Store(t testing.TB, user, password string) *mailstore.Store {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := mailstore.Open(db, mailstore.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddUser(context.Background(), user, password); err != nil {
		t.Fatal(err)
	}
	return st
}

// SyncBuffer is a bytes.Buffer that a server's logger writes while the
// test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
