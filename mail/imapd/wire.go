package imapd

import (
	"net"
	"sync"
	"time"
)

// wire is a client connection whose writes a session can hold back and send
// together. go-imap's server flushes after every response line, so without
// it a FETCH of 10,000 messages is 10,000 small writes, each one a system
// call here and a wake-up at the client.
type wire struct {
	net.Conn

	mu   sync.Mutex
	held bool
	buf  []byte
	err  error
}

// wireFlushSize is how much a held wire gathers before it writes anyway.
const wireFlushSize = 64 << 10

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if !w.held {
		return w.Conn.Write(p)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= wireFlushSize {
		// The writer set its write deadline for this Write already.
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *wire) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.Conn.Write(w.buf)
	w.buf = w.buf[:0]
	if cap(w.buf) > 4*wireFlushSize {
		w.buf = nil
	}
	if err != nil {
		w.err = err
	}
	return err
}

// hold gathers writes until release.
func (w *wire) hold() {
	w.mu.Lock()
	w.held = true
	w.mu.Unlock()
}

// release sends what was gathered and lets later writes through.
func (w *wire) release() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = false
	w.Conn.SetWriteDeadline(time.Now().Add(time.Minute))
	defer w.Conn.SetWriteDeadline(time.Time{})
	return w.flushLocked()
}

type wireListener struct{ net.Listener }

func (l wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wire{Conn: c}, nil
}
