package app

import (
	"fmt"
	"strings"
	"time"
)

// formatBytes shows n in binary units with one decimal, dropping ".0":
// "512 B", "1.5 KiB", "12 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	s := strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(div)), ".0")
	return fmt.Sprintf("%s %ciB", s, "KMGTPE"[exp])
}

// formatRate shows a rate in bytes per second.
func formatRate(n int64) string { return formatBytes(n) + "/s" }

// formatAgo says how long ago something was, to the largest whole unit.
func formatAgo(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// formatRTT shows a round trip time with a precision that suits it.
func formatRTT(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	}
	return d.Round(10 * time.Millisecond).String()
}

// shortID is the start of a node id or an infohash, enough to tell them
// apart by eye.
func shortID(id string) string {
	const n = 10
	if len(id) <= n {
		return id
	}
	return id[:n] + "…"
}
