package imapd

import (
	"net"
	"testing"
	"time"
)

func TestWireHoldsUntilRelease(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := &wire{Conn: a}
	got := make(chan string, 4)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	w.Write([]byte("direct\r\n"))
	if s := <-got; s != "direct\r\n" {
		t.Fatalf("unheld write: %q", s)
	}
	w.hold()
	w.Write([]byte("* 1 FETCH\r\n"))
	w.Write([]byte("* 2 FETCH\r\n"))
	select {
	case s := <-got:
		t.Fatalf("a held write went out: %q", s)
	case <-time.After(50 * time.Millisecond):
	}
	if err := w.release(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "* 1 FETCH\r\n* 2 FETCH\r\n" {
		t.Fatalf("released: %q", s)
	}
	// A write error is kept and returned from then on.
	b.Close()
	w.hold()
	w.Write([]byte("lost"))
	if err := w.release(); err == nil {
		t.Fatal("release to a closed peer succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after a failed flush succeeded")
	}
}
