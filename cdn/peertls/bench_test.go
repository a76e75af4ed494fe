package peertls

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkCall is the cost of one small member call on one port: in
// clear, over TLS on a pooled connection, and over TLS with a handshake
// each time.
func BenchmarkCall(b *testing.B) {
	server, caller := newSigner(b), newSigner(b)
	addr := serve(b, server, 5*time.Second).String()
	cert, err := Certificate(caller, "caller")
	if err != nil {
		b.Fatal(err)
	}
	want := idOf(server.PublicKey())
	run := func(b *testing.B, c *http.Client, scheme string, fresh bool) {
		for b.Loop() {
			req, _ := http.NewRequestWithContext(WithPeer(b.Context(), want), http.MethodGet, scheme+"://"+addr+"/", nil)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if fresh {
				c.CloseIdleConnections()
			}
		}
	}
	cfg := ClientConfig{Timeout: 5 * time.Second, DialTimeout: 2 * time.Second}
	b.Run("plain", func(b *testing.B) { run(b, &http.Client{Timeout: 5 * time.Second}, "http", false) })
	b.Run("tls-pooled", func(b *testing.B) { run(b, NewClient(cert, idOf, cfg), "https", false) })
	b.Run("tls-handshake", func(b *testing.B) { run(b, NewClient(cert, idOf, cfg), "https", true) })
}
