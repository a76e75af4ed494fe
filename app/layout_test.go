package app

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/shoal-p2p/shoal"

// layer gives each top-level folder its place in DESIGN.md's dependency
// direction: main -> app -> node -> {cdn, naming, mail, streaming} -> storage.
// A package may import project packages of a higher layer only, or its own
// folder's sub-packages.
var layer = map[string]int{
	"":          0, // main
	"app":       1,
	"node":      2,
	"cdn":       3,
	"naming":    3,
	"mail":      3,
	"streaming": 3,
	"storage":   4,
	"assets":    4,
}

// pkgFile is one Go file of a package and the imports it declares.
type pkgFile struct {
	pkg, file string // pkg relative to the module ("" for main), file base name
	imports   []string
}

func top(pkg string) string { return strings.SplitN(pkg, "/", 2)[0] }

// violations checks files against the rules of DESIGN.md.
func violations(files []pkgFile) []string {
	var out []string
	for _, f := range files {
		where := filepath.Join(f.pkg, f.file)
		from, ok := layer[top(f.pkg)]
		if !ok {
			out = append(out, where+": top-level folder "+top(f.pkg)+" is not in DESIGN.md")
			continue
		}
		for _, imp := range f.imports {
			if strings.HasPrefix(imp, "fyne.io/fyne/v2/app") && !(f.pkg == "" && f.file == "main.go") {
				out = append(out, where+": only main.go may import "+imp)
			}
			if strings.HasPrefix(imp, "fyne.io/") && f.pkg != "" && (top(f.pkg) != "app" || f.pkg == "app/cli" || strings.HasPrefix(f.pkg, "app/cli/")) {
				out = append(out, where+": only main and app (not app/cli) may import "+imp)
			}
			rel, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			rel = strings.TrimPrefix(rel, "/")
			if top(rel) == top(f.pkg) && f.pkg != "" {
				continue // a folder's own sub-packages
			}
			to, known := layer[top(rel)]
			if !known || to <= from {
				out = append(out, where+": "+describe(f.pkg)+" must not import "+describe(rel))
			}
		}
	}
	return out
}

func describe(pkg string) string {
	if pkg == "" {
		return "main"
	}
	return pkg
}

func TestImportsFollowTheDesign(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var files []pkgFile
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath, Dir                    string
			GoFiles, TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, name := range append(append(p.GoFiles, p.TestGoFiles...), p.XTestGoFiles...) {
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			pf := pkgFile{pkg: rel, file: name}
			for _, is := range f.Imports {
				path, _ := strconv.Unquote(is.Path.Value)
				pf.imports = append(pf.imports, path)
			}
			files = append(files, pf)
		}
	}
	if len(files) < 10 {
		t.Fatalf("found only %d files; go list saw too little", len(files))
	}
	for _, v := range violations(files) {
		t.Error(v)
	}
}

// TestViolationsAreFound keeps the checker honest: each case breaks a rule.
func TestViolationsAreFound(t *testing.T) {
	bad := []pkgFile{
		{"storage", "x.go", []string{module + "/node"}},
		{"cdn/engine", "x.go", []string{module + "/naming"}},
		{"node", "x.go", []string{module + "/app"}},
		{"app", "x.go", []string{"fyne.io/fyne/v2/app"}},
		{"", "cli.go", []string{"fyne.io/fyne/v2/app"}},
		{"naming", "x.go", []string{"fyne.io/fyne/v2/widget"}},
		{"app/cli", "x.go", []string{"fyne.io/fyne/v2"}},
		{"assets", "x.go", []string{module + "/storage"}},
		{"tools", "x.go", nil},
	}
	for _, f := range bad {
		if v := violations([]pkgFile{f}); len(v) == 0 {
			t.Errorf("%s/%s importing %v: no violation found", f.pkg, f.file, f.imports)
		}
	}
	good := []pkgFile{
		{"", "main.go", []string{"fyne.io/fyne/v2/app", module + "/app", module + "/node"}},
		{"app", "x.go", []string{"fyne.io/fyne/v2/widget", module + "/node", module + "/assets"}},
		{"cdn/engine", "x.go", []string{module + "/storage", module + "/cdn/catalog"}},
		{"node", "x.go", []string{module + "/cdn/engine", module + "/naming", module + "/storage"}},
	}
	if v := violations(good); len(v) > 0 {
		t.Errorf("allowed imports flagged: %v", v)
	}
}

// TestRootHoldsOnlyTheBuild: the repository root holds main.go, the build's
// files and the folders; everything else lives in a folder of DESIGN.md.
func TestRootHoldsOnlyTheBuild(t *testing.T) {
	allowed := map[string]bool{"main.go": true, "FyneApp.toml": true, "go.mod": true, "go.sum": true, "Makefile": true, "README.md": true}
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 5 {
		t.Fatalf("the root has only %d entries; is .. the root?", len(entries))
	}
	for _, e := range entries {
		if !e.IsDir() && !allowed[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s at the repository root: only %v and folders belong there", e.Name(), allowed)
		}
	}
}
