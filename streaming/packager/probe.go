package packager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrNotVideo is matched (errors.Is) by the error for a file that has no
// video stream or that ffprobe cannot read as media at all.
var ErrNotVideo = errors.New("not a video")

// Source is what the ladder is chosen from: the first video stream (and the
// first audio stream) of a file, as ffprobe reports them.
type Source struct {
	// Width and Height are the displayed size in pixels: the coded size with
	// the sample aspect ratio applied to the width and a 90° rotation
	// applied, as ffmpeg's decoder outputs it.
	Width  int `json:"width"`
	Height int `json:"height"`
	// FrameRate is frames per second; FrameRateRational the same as ffprobe
	// gives it ("30000/1001").
	FrameRate         float64 `json:"frame_rate"`
	FrameRateRational string  `json:"frame_rate_rational"`
	// VideoBitrate is the video stream's bitrate in bits/s, 0 when the
	// container does not say.
	VideoBitrate int           `json:"video_bitrate"`
	Duration     time.Duration `json:"duration_ns"`
	VideoCodec   string        `json:"video_codec"`
	// Interlaced is set when the video is coded as fields (ffprobe's
	// field_order tt, bb, tb or bt); it is deinterlaced before scaling.
	Interlaced bool `json:"interlaced,omitempty"`
	// HasAudio, AudioChannels and AudioSampleRate describe the first audio
	// stream.
	HasAudio        bool `json:"has_audio"`
	AudioChannels   int  `json:"audio_channels,omitempty"`
	AudioSampleRate int  `json:"audio_sample_rate,omitempty"`
}

type probeOutput struct {
	Streams []struct {
		CodecType         string `json:"codec_type"`
		CodecName         string `json:"codec_name"`
		Width             int    `json:"width"`
		Height            int    `json:"height"`
		SampleAspectRatio string `json:"sample_aspect_ratio"`
		AvgFrameRate      string `json:"avg_frame_rate"`
		RFrameRate        string `json:"r_frame_rate"`
		BitRate           string `json:"bit_rate"`
		Duration          string `json:"duration"`
		Channels          int    `json:"channels"`
		SampleRate        string `json:"sample_rate"`
		FieldOrder        string `json:"field_order"`
		Disposition       struct {
			AttachedPic int `json:"attached_pic"`
			StillImage  int `json:"still_image"`
		} `json:"disposition"`
		Tags struct {
			Rotate string `json:"rotate"`
		} `json:"tags"`
		SideDataList []struct {
			Rotation *float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

// Probe runs ffprobe on path (an absolute path) and describes its first
// video stream. A file without one, or one ffprobe cannot read, gives an
// error matching ErrNotVideo.
func Probe(ctx context.Context, ffprobe, path string) (Source, error) {
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-print_format", "json",
		"-show_format", "-show_streams", inputURL(path))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Source{}, fmt.Errorf("packager: probe %s: %w", path, ctx.Err())
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return Source{}, fmt.Errorf("packager: %s: %w, or it is damaged (ffprobe: %s)", path, ErrNotVideo, lastLine(stderr.String()))
		}
		return Source{}, fmt.Errorf("packager: run ffprobe: %w", err)
	}
	var out probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return Source{}, fmt.Errorf("packager: probe %s: ffprobe's output: %w", path, err)
	}
	return describe(path, out)
}

func describe(path string, out probeOutput) (Source, error) {
	var s Source
	video, audio := -1, -1
	for i, st := range out.Streams {
		switch st.CodecType {
		case "video":
			// Cover art in audio files is a one-picture "video" stream.
			if video < 0 && st.Disposition.AttachedPic == 0 && st.Disposition.StillImage == 0 {
				video = i
			}
		case "audio":
			if audio < 0 {
				audio = i
			}
		}
	}
	if video < 0 {
		return s, fmt.Errorf("packager: %s: %w (no video stream)", path, ErrNotVideo)
	}
	v := out.Streams[video]
	if v.Width <= 0 || v.Height <= 0 {
		return s, fmt.Errorf("packager: %s: %w (the video stream has no size)", path, ErrNotVideo)
	}
	s.VideoCodec = v.CodecName
	switch v.FieldOrder {
	case "tt", "bb", "tb", "bt":
		s.Interlaced = true
	}
	w, h := float64(v.Width), float64(v.Height)
	if n, d, ok := ratio(v.SampleAspectRatio); ok && n > 0 && d > 0 {
		w = w * float64(n) / float64(d)
	}
	s.Width, s.Height = int(math.Round(w)), int(math.Round(h))
	if rot := rotation(v.Tags.Rotate, v.SideDataList); rot == 90 || rot == 270 {
		s.Width, s.Height = s.Height, s.Width
	}

	s.FrameRateRational, s.FrameRate = frameRate(v.AvgFrameRate, v.RFrameRate)
	if s.FrameRate <= 0 {
		return s, fmt.Errorf("packager: %s: the video stream has no frame rate", path)
	}

	dur := parseSeconds(out.Format.Duration)
	if dur <= 0 {
		dur = parseSeconds(v.Duration)
	}
	if dur <= 0 {
		return s, fmt.Errorf("packager: %s: unknown duration (truncated or still being written?)", path)
	}
	s.Duration = dur

	s.VideoBitrate, _ = strconv.Atoi(v.BitRate)
	audioBitrate := 0
	if audio >= 0 {
		a := out.Streams[audio]
		s.HasAudio = true
		s.AudioChannels = a.Channels
		s.AudioSampleRate, _ = strconv.Atoi(a.SampleRate)
		audioBitrate, _ = strconv.Atoi(a.BitRate)
	}
	if s.VideoBitrate <= 0 {
		// Containers such as Matroska give only the overall bitrate.
		if total, _ := strconv.Atoi(out.Format.BitRate); total > audioBitrate {
			s.VideoBitrate = total - audioBitrate
		}
	}
	return s, nil
}

// frameRate picks the average frame rate, or the base rate when the average
// is unknown.
func frameRate(avg, base string) (string, float64) {
	for _, r := range []string{avg, base} {
		if n, d, ok := ratio(r); ok && n > 0 && d > 0 {
			f := float64(n) / float64(d)
			if f > 0 && f <= 240 {
				return r, f
			}
		}
	}
	return "", 0
}

// ratio reads "N/D" or "N:D".
func ratio(s string) (int64, int64, bool) {
	sep := "/"
	if strings.Contains(s, ":") {
		sep = ":"
	}
	a, b, ok := strings.Cut(s, sep)
	if !ok {
		return 0, 0, false
	}
	n, err1 := strconv.ParseInt(a, 10, 64)
	d, err2 := strconv.ParseInt(b, 10, 64)
	return n, d, err1 == nil && err2 == nil
}

// rotation is the display rotation in degrees, 0, 90, 180 or 270.
func rotation(tag string, side []struct {
	Rotation *float64 `json:"rotation"`
}) int {
	deg := 0.0
	if r, err := strconv.ParseFloat(tag, 64); err == nil {
		deg = r
	}
	for _, sd := range side {
		if sd.Rotation != nil {
			deg = *sd.Rotation
		}
	}
	r := int(math.Round(deg)) % 360
	if r < 0 {
		r += 360
	}
	return r
}

func parseSeconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// inputURL names a local file for ffmpeg so that no part of its name is
// read as an option or a protocol.
func inputURL(path string) string { return "file:" + path }

// lastLine is the last non-empty line of a tool's output, for errors.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "no message"
}
