package naming

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dig runs Debian's dig against addr. It skips the test where dig is
// missing, except in CI (CI set), where dig must be installed.
func dig(t *testing.T, port uint16, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("dig not installed (apt-get install dnsutils)")
		}
		t.Fatal("dig not installed; CI needs dnsutils")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append([]string{"@127.0.0.1", "-p", strconv.Itoa(int(port)), "+time=3", "+tries=2"}, args...)
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDig(t *testing.T) {
	ms := testMembers()
	for i := range 40 {
		ms[0].Records = append(ms[0].Records, Record{Name: "big", Type: "TXT", Value: fmt.Sprintf(`"%02d %s"`, i, strings.Repeat("z", 40))})
	}
	s := startService(t, Config{}, &memberList{ms: ms}, holders{"movie": {"id-bob", "id-alice"}})
	port := s.Addr().Port()

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"alice.shoal", "A", "+short"}, "127.0.0.11\n"},
		{[]string{"alice.shoal", "AAAA", "+short", "+tcp"}, "fd00::11\n"},
		{[]string{"_shoal-peer._tcp.bob.shoal", "SRV", "+short"}, "0 0 7481 bob.shoal.\n"},
		{[]string{"carol.shoal", "TXT", "+short"}, "\"id=id-carol\"\n"},
		{[]string{"bob.shoal", "MX", "+short"}, "10 bob.shoal.\n"},
		{[]string{"www.alice.shoal", "A", "+short"}, "alice.shoal.\n127.0.0.11\n"},
		{[]string{"movie.cdn.shoal", "A", "+short"}, "127.0.0.11\n127.0.0.12\n"},
	} {
		if got := dig(t, port, tc.args...); got != tc.want {
			t.Errorf("dig %s:\n got %q\nwant %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	out := dig(t, port, "nobody.shoal", "A")
	for _, want := range []string{"status: NXDOMAIN", "flags: qr aa rd ra", ";; AUTHORITY SECTION:\nshoal.\t\t\t30\tIN\tSOA\t"} {
		if !strings.Contains(out, want) {
			t.Errorf("dig nobody.shoal lacks %q:\n%s", want, out)
		}
	}
	// 40 TXT records do not fit in UDP: dig sees TC and retries over TCP.
	out = dig(t, port, "big.alice.shoal", "TXT", "+noedns")
	if !strings.Contains(out, "Truncated, retrying in TCP mode") || !strings.Contains(out, "ANSWER: 40") {
		t.Errorf("dig big TXT: no TCP retry with all 40 answers:\n%s", out)
	}
	out = dig(t, port, "big.alice.shoal", "TXT", "+ignore", "+bufsize=1232")
	if !strings.Contains(out, " tc ") || !strings.Contains(out, "udp: 1232") {
		t.Errorf("dig big TXT +ignore: want TC and our EDNS buffer size:\n%s", out)
	}
	// Outside names without upstreams: SERVFAIL, at once.
	if out := dig(t, port, "www.example.org", "A"); !strings.Contains(out, "status: SERVFAIL") {
		t.Errorf("offline outside name:\n%s", out)
	}
}
