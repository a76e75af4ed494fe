package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const movie = `{"segment_duration_ms": 2000, "bitrates_kbps": [500, 1000, 2000],
  "segment_sizes_bits": [[1000000, 2000000, 4000000], [1000000, 2000000, 4000000],
  [1000000, 2000000, 4000000], [1000000, 2000000, 4000000], [1000000, 2000000, 4000000],
  [1000000, 2000000, 4000000], [1000000, 2000000, 4000000], [1000000, 2000000, 4000000]]}`

const trace = `[{"duration_ms": 5000, "bandwidth_kbps": 3000, "latency_ms": 50},
  {"duration_ms": 3000, "bandwidth_kbps": 0, "latency_ms": 50}]`

func files(t *testing.T) (dir, m, tr string) {
	dir = t.TempDir()
	m = filepath.Join(dir, "movie.json")
	os.WriteFile(m, []byte(movie), 0o644)
	os.Mkdir(filepath.Join(dir, "traces"), 0o755)
	tr = filepath.Join(dir, "traces", "a.json")
	os.WriteFile(tr, []byte(trace), 0o644)
	os.WriteFile(filepath.Join(dir, "traces", "b.json"), []byte(trace), 0o644)
	return dir, m, tr
}

func TestRunTable(t *testing.T) {
	dir, m, _ := files(t)
	var out, errOut bytes.Buffer
	code := run([]string{"--movie", m, "--trace", filepath.Join(dir, "traces")}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"2 trace(s)", "throughput", "bolae", "shoal", "optimum", "QoE/segment", "QoE/time", "wall"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunOptimumTime(t *testing.T) {
	dir, m, _ := files(t)
	var out, errOut bytes.Buffer
	code := run([]string{"--movie", m, "--trace", filepath.Join(dir, "traces"), "--abr", "shoal,optimum,optimum-time", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if len(rep.Algorithms) != 3 || rep.Algorithms[2].Algorithm != "optimum-time" {
		t.Fatalf("report %+v", rep)
	}
	shoal, total, ratio := rep.Algorithms[0], rep.Algorithms[1], rep.Algorithms[2]
	// Each optimum is best at its own figure.
	if total.QoE < ratio.QoE-1e-9 || ratio.QoETime < total.QoETime-1e-9 {
		t.Errorf("optimum %.4f/%.4f, optimum-time %.4f/%.4f", total.QoE, total.QoETime, ratio.QoE, ratio.QoETime)
	}
	if ratio.QoETime < shoal.QoETime-1e-9 {
		t.Errorf("optimum-time %.4f below shoal %.4f", ratio.QoETime, shoal.QoETime)
	}
}

func TestRunJSONAndPlot(t *testing.T) {
	dir, m, tr := files(t)
	for _, plot := range []string{"p.svg", "p.png"} {
		var out, errOut bytes.Buffer
		path := filepath.Join(dir, plot)
		code := run([]string{"--movie", m, "--trace", tr, "--abr", "bolae,optimum", "--json", "--plot", path, "--buffer", "10"}, &out, &errOut)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var rep report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out.String())
		}
		if len(rep.Algorithms) != 2 || rep.Algorithms[1].Algorithm != "optimum" || rep.BufferS != 10 {
			t.Errorf("report %+v", rep)
		}
		if rep.Algorithms[1].QoE < rep.Algorithms[0].QoE-1e-9 {
			t.Errorf("optimum %.3f below bolae %.3f", rep.Algorithms[1].QoE, rep.Algorithms[0].QoE)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if plot == "p.svg" && !bytes.Contains(data, []byte("<polyline")) {
			t.Error("SVG has no lines")
		}
		if plot == "p.png" && !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Error("PNG is not a PNG")
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir, m, tr := files(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--trace", tr}, 2, "--movie FILE is required"},
		{[]string{"--movie", m}, 2, "--trace FILE|DIR is required"},
		{[]string{"--movie", m, "--trace", tr, "--abr", "pensieve"}, 2, `no algorithm "pensieve"`},
		{[]string{"--movie", m, "--trace", tr, "--buffer", "-3"}, 2, "--buffer -3"},
		{[]string{"--movie", m, "--trace", tr, "--plot", "x.pdf"}, 2, "want a .svg or .png"},
		{[]string{"--movie", m, "--trace", tr, "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--movie", m, "--trace", tr, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--movie", filepath.Join(dir, "none.json"), "--trace", tr}, 1, "no such file"},
		{[]string{"--movie", tr, "--trace", tr}, 1, "movie a.json"},
		{[]string{"--movie", m, "--trace", filepath.Join(dir, "traces"), "--plot", filepath.Join(dir, "p.svg")}, 1, "--plot draws one trace"},
	} {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		msg := errOut.String()
		if code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", c.args, code, msg, c.code, c.want)
		}
		if strings.Count(strings.TrimSpace(msg), "\n") > 0 {
			t.Errorf("%v: more than one line on stderr: %q", c.args, msg)
		}
	}
}
