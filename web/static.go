package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed static
var staticFiles embed.FS

// asset is an embedded static file, with its ETag.
type asset struct {
	content     []byte
	contentType string
	etag        string
}

// loadAssets reads the embedded static files once.
func loadAssets() (map[string]asset, error) {
	entries, err := fs.ReadDir(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	assets := make(map[string]asset, len(entries))
	for _, e := range entries {
		b, err := fs.ReadFile(staticFiles, "static/"+e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		assets[e.Name()] = asset{
			content:     b,
			contentType: mime.TypeByExtension(path.Ext(e.Name())),
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
	}
	return assets, nil
}

// serveAsset answers GET /assets/{name}. Browsers revalidate with the ETag.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.content))
}
