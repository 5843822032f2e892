package files

import "net/http"

// routes lists the whole /files surface. Each endpoint also answers on its
// ".json" alias, as Mesos did before 0.25 and tools still call.
func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range []struct {
		name string
		fn   http.HandlerFunc
	}{
		{"browse", h.browse},
		{"read", h.read},
		{"download", h.download},
		{"debug", h.debug},
	} {
		mux.HandleFunc("GET /files/"+r.name, r.fn)
		mux.HandleFunc("GET /files/"+r.name+".json", r.fn)
	}
	return mux
}

// ServeHTTP serves the /files API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}
