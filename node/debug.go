package node

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
)

// debugRoutes serve the Go runtime's profiles (pprof) behind the API token,
// for finding where a node spends its CPU: `go tool pprof` reads them, e.g.
//
//	curl -H "Authorization: Bearer $(cat DATA/api-token)" \
//	  "http://UI/api/v1/debug/pprof/profile?seconds=10" >cpu.pprof
//
// The block and mutex profiles record only while asked for: with
// ?seconds=N they switch sampling on for those seconds and give the delta.
func (a *controlAPI) debugRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/debug/pprof/profile", pprof.Profile)
	api("GET /api/v1/debug/pprof/trace", pprof.Trace)
	api("GET /api/v1/debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if s, _ := strconv.Atoi(r.URL.Query().Get("seconds")); s > 0 {
			switch name {
			case "block":
				runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
				defer runtime.SetBlockProfileRate(0)
			case "mutex":
				runtime.SetMutexProfileFraction(10)
				defer runtime.SetMutexProfileFraction(0)
			}
		}
		pprof.Handler(name).ServeHTTP(w, r)
	})
}
