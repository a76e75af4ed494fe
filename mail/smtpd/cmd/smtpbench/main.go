// Command smtpbench runs the relay server on the node's own mail store
// (mailstore on a real bbolt database), for measuring durable accepts with
// Postfix's smtp-source: every message is committed (fsynced) into the
// recipient's INBOX before the 250 that answers its DATA.
//
// The sender's domain is outside the group and allowed (smtp-source cannot
// sign), so each message still goes through the DKIM check, finds no
// signature and is stored with dkim=none. Recipients must be of -domain.
//
//	smtpbench -listen 127.0.0.1:7425 -db /tmp/bench.db -domain bob.shoal -users bob
//
// It prints the listening address, serves until SIGINT or SIGTERM, then
// prints the number of messages in the INBOXes, counted from the database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/shoal-p2p/shoal/mail/mailstore"
	"github.com/shoal-p2p/shoal/mail/smtpd"
	"github.com/shoal-p2p/shoal/storage"
	"golang.org/x/crypto/bcrypt"
)

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
	flag.Parse()
	if *dbPath == "" {
		return errors.New("-db is required")
	}
	db, err := storage.Open(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := mailstore.Open(db, mailstore.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		return err
	}
	var names []string
	for _, u := range strings.Split(*users, ",") {
		u = strings.ToLower(strings.TrimSpace(u))
		if err := st.AddUser(context.Background(), u, "smtpbench-unused"); err != nil {
			return err
		}
		names = append(names, u)
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
	stored := 0
	for _, u := range names {
		uids, uerr := st.UIDs(context.Background(), u, "INBOX")
		if uerr != nil {
			return errors.Join(err, uerr)
		}
		stored += len(uids)
	}
	fmt.Println("stored", stored)
	return err
}
