// Command smtpbench runs the relay server on a real bbolt database, for
// measuring durable accepts with Postfix's smtp-source: every message is
// committed (fsynced) before the 250 that answers its DATA.
//
// The sender's domain is outside the group and allowed (smtp-source cannot
// sign), so each message still goes through the DKIM check, finds no
// signature and is stored with dkim=none. Recipients must be of -domain.
//
//	smtpbench -listen 127.0.0.1:7425 -db /tmp/bench.db -domain bob.shoal -users bob
//
// It prints the listening address, serves until SIGINT or SIGTERM, then
// prints the number of messages stored.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/shoal-p2p/shoal/mail/smtpd"
	"github.com/shoal-p2p/shoal/storage"
)

// store is a minimal mail store on bbolt: one bucket of messages, one
// commit per delivery (or combined commits with -batch).
type store struct {
	db    *storage.DB
	users map[string]bool
	batch bool
	n     atomic.Uint64
}

var inbox = []byte("bench.inbox")

func (s *store) Deliver(_ context.Context, user string, raw []byte) (uint32, error) {
	if !s.users[user] {
		return 0, fmt.Errorf("no user %s", user)
	}
	seq := s.n.Add(1)
	put := func(tx *storage.Tx) error {
		b, err := tx.CreateBucketIfNotExists(inbox)
		if err != nil {
			return err
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return b.Put(k[:], raw)
	}
	if s.batch {
		return uint32(seq), s.db.Batch(put)
	}
	return uint32(seq), s.db.Update(put)
}

func (s *store) AppendSent(ctx context.Context, user string, raw []byte) (uint32, error) {
	return s.Deliver(ctx, user, raw)
}

func (s *store) Authenticate(context.Context, string, string) error {
	return errors.New("smtpbench: no logins")
}

func (s *store) HasUser(_ context.Context, user string) (bool, error) { return s.users[user], nil }

// noKeys answers every TXT lookup with "not found".
type noKeys struct{}

func (noKeys) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smtpbench:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	dbPath := flag.String("db", "", "bbolt database file (required)")
	domain := flag.String("domain", "bob.shoal", "the domain mail is accepted for")
	users := flag.String("users", "bob", "comma-separated users of -domain")
	batch := flag.Bool("batch", false, "combine concurrent commits (bbolt Batch) instead of one Update each")
	flag.Parse()
	if *dbPath == "" {
		return errors.New("-db is required")
	}
	db, err := storage.Open(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	st := &store{db: db, users: map[string]bool{}, batch: *batch}
	for _, u := range strings.Split(*users, ",") {
		st.users[strings.ToLower(strings.TrimSpace(u))] = true
	}
	relay, err := smtpd.NewRelay(smtpd.RelayOptions{
		Domains: []string{*domain}, Mailboxes: st, Resolver: noKeys{}, AllowOutside: true,
		Limits: smtpd.Limits{MaxRecipients: 1000},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println("listening", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = relay.Serve(ctx, ln)
	fmt.Println("stored", st.n.Load())
	return err
}
