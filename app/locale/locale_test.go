package locale_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	_ "fyne.io/fyne/v2/lang" // reads the locale while it is initialized

	_ "github.com/shoal-p2p/shoal/app/locale"
)

// Under LANG=C.UTF-8 (Debian's default in containers and on servers) a
// binary that imports this package and Fyne (as main does) starts without
// Fyne complaining about the locale: app/locale is initialized before Fyne's
// lang package reads it. The child is this test binary, whose imports are
// the two.
func TestLocaleMendedBeforeFyne(t *testing.T) {
	if os.Getenv("SHOAL_LOCALE_CHILD") != "" {
		return // the child: its package initialization is what is checked
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocaleMendedBeforeFyne$")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LANG=C.UTF-8", "SHOAL_LOCALE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "locale") {
		t.Errorf("the program complained about the locale:\n%s", out)
	}
}
