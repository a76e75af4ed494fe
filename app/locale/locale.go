// Package locale mends the process's locale before Fyne reads it.
//
// Fyne's lang package reads the user's locale while it is initialized,
// through github.com/jeandeaual/go-locale, which knows "C" and "POSIX" as
// "no locale" but not "C.UTF-8", the default of Debian containers and many
// servers: it passes on "C", which is no language tag, and every run of
// shoal, even `shoal help`, began with three lines of "Fyne error: Error
// parsing user locale C". Importing this package from main sets LANGUAGE
// to "en" in that case (gettext ignores LANGUAGE under the C locale, so
// nothing else changes), which go-locale reads instead.
//
// It works through the order of package initialization (the Go spec: the
// first package in import-path order whose imports are all initialized
// goes first): this package imports only os and strings, so it is ready
// before golang.org/x/text/language, which Fyne's lang package needs, and
// its path sorts before that one. TestLocaleMendedBeforeFyne checks it
// holds in a binary that imports both.
package locale

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		if base, _, _ := strings.Cut(v, "."); base == "C" || base == "POSIX" {
			if v != base { // go-locale itself knows plain "C" and "POSIX"
				os.Setenv("LANGUAGE", "en")
			}
		}
		return
	}
}
