package proxy

import (
	"bytes"
	"net"
	"strconv"
)

// Go's HTTP server resolves a request that carries both Content-Length and
// Transfer-Encoding by dropping Content-Length, as RFC 9112 6.3 allows, but
// such a request is the mark of a smuggling attempt and the proxy refuses
// it. The handler cannot see the dropped field, so the listener's
// connections follow the request framing and, in a header block with both
// fields, rename Content-Length to smuggleMark (same length, so nothing
// else moves). The handler answers 400 to a request with the mark.
const smuggleMark = "X-Smuggling-Cl"

type guardListener struct{ net.Listener }

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}

type framing int

const (
	inHeader framing = iota
	inFixed
	inChunkSize
	inChunkData
	inChunkEnd
	inTrailer
	passThrough
)

// guardConn follows HTTP/1.1 request framing on the bytes it reads.
type guardConn struct {
	net.Conn
	state framing
	left  int64  // bytes left of a fixed body or chunk
	hdr   []byte // header block (or chunk line) being gathered
	out   []byte // bytes ready for the reader
	rbuf  []byte
}

// headerLimit is where gathering stops and bytes flow unchecked: the
// server answers 431 to such a header block anyway.
const headerLimit = maxHeaderBytes + 8<<10

func (c *guardConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.state == passThrough {
			return c.Conn.Read(p)
		}
		if len(c.rbuf) < len(p) {
			c.rbuf = make([]byte, len(p))
		}
		n, err := c.Conn.Read(c.rbuf[:len(p)])
		c.feed(c.rbuf[:n])
		if err != nil && len(c.out) == 0 {
			if len(c.hdr) > 0 && c.state == inHeader {
				c.out, c.hdr = c.hdr, nil
				break
			}
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *guardConn) feed(b []byte) {
	for len(b) > 0 {
		switch c.state {
		case passThrough:
			c.out = append(c.out, b...)
			return
		case inHeader:
			c.hdr = append(c.hdr, b...)
			b = nil
			end := headerEnd(c.hdr)
			if end < 0 {
				if len(c.hdr) > headerLimit {
					c.out, c.hdr, c.state = append(c.out, c.hdr...), nil, passThrough
				}
				continue
			}
			block, rest := c.hdr[:end], c.hdr[end:]
			c.hdr = nil
			c.startBody(block)
			c.out = append(c.out, block...)
			b = rest
		case inFixed, inChunkData:
			n := int64(len(b))
			if n > c.left {
				n = c.left
			}
			c.out = append(c.out, b[:n]...)
			b = b[n:]
			c.left -= n
			if c.left == 0 {
				if c.state == inFixed {
					c.state = inHeader
				} else {
					c.state = inChunkEnd
				}
			}
		case inChunkSize, inChunkEnd, inTrailer:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				c.hdr = append(c.hdr, b...)
				c.out = append(c.out, b...)
				if len(c.hdr) > 4096 {
					c.state = passThrough
				}
				return
			}
			line := append(c.hdr, b[:i]...)
			c.hdr = nil
			c.out = append(c.out, b[:i+1]...)
			b = b[i+1:]
			line = bytes.TrimRight(line, "\r")
			switch c.state {
			case inChunkEnd:
				c.state = inChunkSize
			case inTrailer:
				if len(line) == 0 {
					c.state = inHeader
				}
			case inChunkSize:
				if semi := bytes.IndexByte(line, ';'); semi >= 0 {
					line = line[:semi]
				}
				size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
				switch {
				case err != nil || size < 0:
					c.state = passThrough // the server rejects the body
				case size == 0:
					c.state = inTrailer
				default:
					c.state, c.left = inChunkData, size
				}
			}
		}
	}
}

// headerEnd is the index just past the blank line ending a header block,
// or -1. Blank lines before the request line are skipped, as servers do.
func headerEnd(b []byte) int {
	start := 0
	for start < len(b) && (b[start] == '\r' || b[start] == '\n') {
		start++
	}
	if i := bytes.Index(b[start:], []byte("\r\n\r\n")); i >= 0 {
		return start + i + 4
	}
	if i := bytes.Index(b[start:], []byte("\n\n")); i >= 0 {
		return start + i + 2
	}
	return -1
}

// startBody reads a header block's framing, marks a smuggling attempt, and
// sets the state for what follows.
func (c *guardConn) startBody(block []byte) {
	var clAt = -1
	var cl int64 = -1
	te, chunked := false, false
	lines := bytes.Split(block, []byte("\n"))
	first := true
	off := 0
	for _, line := range lines {
		lineStart := off
		off += len(line) + 1
		t := bytes.TrimRight(line, "\r")
		if len(t) == 0 {
			continue
		}
		if first {
			first = false
			if bytes.HasPrefix(t, []byte("CONNECT ")) {
				c.state = passThrough
				return
			}
			continue
		}
		colon := bytes.IndexByte(t, ':')
		if colon < 0 {
			continue
		}
		name := string(bytes.TrimSpace(t[:colon]))
		value := bytes.TrimSpace(t[colon+1:])
		switch {
		case equalFold(name, "Content-Length"):
			clAt = lineStart + bytes.Index(line, []byte(name))
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil {
				cl = n
			}
		case equalFold(name, "Transfer-Encoding"):
			te = true
			chunked = bytes.HasSuffix(bytes.ToLower(value), []byte("chunked"))
		}
	}
	if te && clAt >= 0 {
		copy(block[clAt:], smuggleMark)
	}
	switch {
	case te && chunked:
		c.state = inChunkSize
	case te:
		c.state = passThrough // the server refuses it
	case cl > 0:
		c.state, c.left = inFixed, cl
	default:
		c.state = inHeader
	}
}

func equalFold(a, b string) bool {
	return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
}
