package queue_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/storage"
)

// smartHost is a go-smtp server that wants STARTTLS and AUTH PLAIN and
// records what it is given.
type smartHost struct {
	mu    sync.Mutex
	user  string
	from  string
	rcpts []string
	data  []byte
}

type smartSession struct {
	h     *smartHost
	authd bool
}

func (s *smartSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smartSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "relayuser" || pass != "relaypass" {
			return errors.New("bad credentials")
		}
		s.h.mu.Lock()
		s.h.user = user
		s.h.mu.Unlock()
		s.authd = true
		return nil
	}), nil
}
func (s *smartSession) Reset()        {}
func (s *smartSession) Logout() error { return nil }
func (s *smartSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authd {
		return smtp.ErrAuthRequired
	}
	s.h.mu.Lock()
	s.h.from = from
	s.h.mu.Unlock()
	return nil
}
func (s *smartSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.h.mu.Lock()
	s.h.rcpts = append(s.h.rcpts, to)
	s.h.mu.Unlock()
	return nil
}
func (s *smartSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.h.mu.Lock()
	s.h.data = b
	s.h.mu.Unlock()
	return err
}

func TestSmartHostForOutsideDomains(t *testing.T) {
	zone := mailtest.NewZone(t)
	zone.Add(t, "smart.example. 60 IN A 127.0.0.1")
	serverTLS, clientTLS := mailtest.TLSConfig(t, "smart.example")
	h := &smartHost{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smartSession{h: h}, nil }))
	srv.Domain = "smart.example"
	srv.TLSConfig = serverTLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)

	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev := &events{}
	boxes := mailtest.NewMailboxes(map[string]string{"alice": "pw"})
	q, err := queue.Open(db, queue.Options{
		Domain: "alice.shoal", Resolver: zone.NetipResolver(), Mailboxes: boxes, Scale: 1e-5, OnEvent: ev.add,
		SmartHost: &queue.SmartHost{Host: "smart.example", Port: p, User: "relayuser", Password: "relaypass", TLSConfig: clientTLS},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	if _, err := q.Enqueue(ctx, "alice@alice.shoal", []string{"eve@example.com"}, []byte("From: alice@alice.shoal\r\nSubject: out\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	var got queue.Event
	mailtest.Eventually(t, wait, func() bool {
		var ok bool
		got, ok = ev.find(queue.EventDelivered, "eve@example.com")
		return ok
	}, "not delivered through the smart host")
	h.mu.Lock()
	defer h.mu.Unlock()
	if got.Host != "smart.example" || h.user != "relayuser" || h.from != "alice@alice.shoal" || len(h.rcpts) != 1 || string(h.data) == "" {
		t.Fatalf("smart host saw user %q from %q rcpts %q, event %+v", h.user, h.from, h.rcpts, got)
	}
}

func TestOutsideDomainWithoutSmartHostBounces(t *testing.T) {
	zone := mailtest.NewZone(t)
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev := &events{}
	boxes := mailtest.NewMailboxes(map[string]string{"alice": "pw"})
	q, err := queue.Open(db, queue.Options{Domain: "alice.shoal", Resolver: zone.NetipResolver(), Mailboxes: boxes, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := q.Enqueue(ctx, "alice@alice.shoal", []string{"eve@example.com"}, []byte("From: alice@alice.shoal\r\nSubject: out\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	mailtest.Eventually(t, wait, func() bool { return len(boxes.Inbox("alice")) == 1 }, "no bounce for an outside domain")
	if e, _ := ev.find(queue.EventBounced, "eve@example.com"); e.Reason == "" {
		t.Fatalf("bounce event %+v", e)
	}
}
