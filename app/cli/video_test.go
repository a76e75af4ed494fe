package cli

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIPublishVideo: 'shoal publish --video' packages a clip on the
// running node with packaging and hashing progress and prints a video
// item; a file that is not a video gets the node's reason and exit 1.
func TestCLIPublishVideo(t *testing.T) {
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (Debian package ffmpeg)", p)
		}
	}
	dir := t.TempDir()
	startCLINode(t, dir, "--name", "cli-video")
	clip := filepath.Join(t.TempDir(), "garden.mp4")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("make a clip: %v\n%s", err, out)
	}

	code, out, errOut := shoal(t, "publish", "--video", clip, "--data", dir)
	if code != 0 {
		t.Fatalf("publish --video: %d %q", code, errOut)
	}
	if !strings.Contains(out, "published garden (") || !strings.Contains(out, ", video)") || !strings.Contains(out, "infohash ") {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "packaging") || !strings.Contains(errOut, "hashing") {
		t.Errorf("no packaging and hashing progress on stderr: %q", errOut)
	}

	notVideo := filepath.Join(dir, "shoal.toml")
	code, _, errOut = shoal(t, "publish", "--video", notVideo, "--data", dir)
	if code != 1 || !strings.Contains(errOut, "not a video") {
		t.Errorf("publish --video of a config file: %d %q", code, errOut)
	}
	code, out, _ = shoal(t, "ls", "--data", dir)
	if code != 0 || strings.Count(out, "garden") != 1 || strings.Contains(out, "shoal.toml") {
		t.Errorf("items after the refused publish: %q", out)
	}
}
