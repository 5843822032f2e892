package files_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/agent/files"
	"github.com/google/go-cmp/cmp"
)

// setup attaches a sandbox with some files under its real path and an alias,
// next to a secret outside it that symlinks inside try to reach.
func setup(t *testing.T) (*files.Handler, string, string) {
	t.Helper()
	base := t.TempDir()
	sandbox := filepath.Join(base, "sandbox")
	secret := filepath.Join(base, "secret")
	must(t, os.MkdirAll(filepath.Join(sandbox, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("hello world\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(sandbox, "stderr"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(sandbox, "sub", "page.html"), []byte("<p>hi</p>"), 0o644))
	must(t, os.WriteFile(secret, []byte("TOP SECRET"), 0o644))
	must(t, os.Symlink(secret, filepath.Join(sandbox, "escape-abs")))
	must(t, os.Symlink("../secret", filepath.Join(sandbox, "escape-rel")))
	must(t, os.Symlink("stdout", filepath.Join(sandbox, "inside-link")))
	h := files.New(nil)
	must(t, h.Attach(sandbox, sandbox))
	must(t, h.Attach("/frameworks/f1/executors/e1/runs/latest", sandbox))
	return h, sandbox, secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, h http.Handler, endpoint string, q url.Values) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, endpoint+"?"+q.Encode(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const alias = "/frameworks/f1/executors/e1/runs/latest"

func TestBrowse(t *testing.T) {
	h, sandbox, _ := setup(t)
	for _, endpoint := range []string{"/files/browse", "/files/browse.json"} {
		rec := get(t, h, endpoint, url.Values{"path": {alias}})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", endpoint, rec.Code, rec.Body)
		}
		var got []files.FileInfo
		must(t, json.Unmarshal(rec.Body.Bytes(), &got))
		var paths []string
		modes := map[string]string{}
		for _, fi := range got {
			paths = append(paths, fi.Path)
			modes[filepath.Base(fi.Path)] = fi.Mode
		}
		want := []string{alias + "/escape-abs", alias + "/escape-rel", alias + "/inside-link", alias + "/stderr", alias + "/stdout", alias + "/sub"}
		if diff := cmp.Diff(want, paths); diff != "" {
			t.Errorf("%s paths (-want +got):\n%s", endpoint, diff)
		}
		wantModes := map[string]string{
			"stdout": "-rw-r--r--", "stderr": "-rw-------", "sub": "drwxr-xr-x",
			"inside-link": "-rw-r--r--", // followed: stays inside
			"escape-abs":  "lrwxrwxrwx", // not followed: leads outside
			"escape-rel":  "lrwxrwxrwx",
		}
		if diff := cmp.Diff(wantModes, modes); diff != "" {
			t.Errorf("%s modes (-want +got):\n%s", endpoint, diff)
		}
		me, _ := user.Current()
		for _, fi := range got {
			if filepath.Base(fi.Path) == "stdout" {
				if fi.Size != 12 || fi.Nlink != 1 || fi.Mtime == 0 || fi.UID != me.Username || fi.GID == "" {
					t.Errorf("stdout entry %+v", fi)
				}
			}
		}
	}
	// The real path works too, and a file gives a one-entry list.
	rec := get(t, h, "/files/browse", url.Values{"path": {sandbox + "/sub/page.html"}})
	var got []files.FileInfo
	must(t, json.Unmarshal(rec.Body.Bytes(), &got))
	if len(got) != 1 || got[0].Path != sandbox+"/sub/page.html" || got[0].Size != 9 {
		t.Errorf("browse of a file: %s", rec.Body)
	}
}

func TestErrors(t *testing.T) {
	h, sandbox, _ := setup(t)
	tests := []struct {
		endpoint string
		q        url.Values
		code     int
	}{
		{"/files/browse", url.Values{}, 400},
		{"/files/browse", url.Values{"path": {"/not/attached"}}, 404},
		{"/files/browse", url.Values{"path": {alias + "/missing"}}, 404},
		{"/files/browse", url.Values{"path": {alias + "/../../../../etc"}}, 400},
		{"/files/browse", url.Values{"path": {alias + "/escape-abs"}}, 404},
		{"/files/read", url.Values{"path": {alias + "/escape-rel"}, "offset": {"0"}}, 404},
		{"/files/download", url.Values{"path": {alias + "/escape-abs"}}, 404},
		{"/files/read", url.Values{"path": {alias + "/stdout"}, "offset": {"x"}}, 400},
		{"/files/read", url.Values{"path": {alias + "/stdout"}, "offset": {"-2"}}, 400},
		{"/files/read", url.Values{"path": {alias + "/stdout"}, "offset": {"0"}, "length": {"-5"}}, 400},
		{"/files/read", url.Values{"path": {alias + "/sub"}, "offset": {"0"}}, 400},
		{"/files/read", url.Values{"path": {alias + "/nope"}, "offset": {"0"}}, 404},
		{"/files/download", url.Values{"path": {alias + "/sub"}}, 400},
		{"/files/download", url.Values{"path": {sandbox + "/nope"}}, 404},
		{"/files/nothing", url.Values{}, 404},
	}
	for _, tc := range tests {
		rec := get(t, h, tc.endpoint, tc.q)
		if rec.Code != tc.code {
			t.Errorf("%s %v: %d %q, want %d", tc.endpoint, tc.q, rec.Code, rec.Body, tc.code)
		}
		if strings.Contains(rec.Body.String(), "SECRET") {
			t.Errorf("%s %v leaked the secret", tc.endpoint, tc.q)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/files/browse?path=/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestRead(t *testing.T) {
	h, _, _ := setup(t)
	big := strings.Repeat("0123456789", 10000) // 100,000 bytes
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "big"), []byte(big), 0o644))
	must(t, h.Attach("/big", filepath.Join(dir, "big"))) // a single file
	tests := []struct {
		path, offset, length string
		want                 files.ReadResult
	}{
		{alias + "/stdout", "-1", "", files.ReadResult{Offset: 12}},
		{alias + "/stdout", "", "", files.ReadResult{Offset: 12}},
		{alias + "/stdout", "0", "", files.ReadResult{Data: "hello world\n"}},
		{alias + "/stdout", "6", "5", files.ReadResult{Data: "world", Offset: 6}},
		{alias + "/stdout", "6", "-1", files.ReadResult{Data: "world\n", Offset: 6}},
		{alias + "/stdout", "100", "", files.ReadResult{Offset: 12}},
		{alias + "/inside-link", "0", "5", files.ReadResult{Data: "hello"}},
		{"/big", "0", "", files.ReadResult{Data: big[:files.ReadCap]}},
		{"/big", "99990", "1000000", files.ReadResult{Data: big[99990:], Offset: 99990}},
	}
	for _, endpoint := range []string{"/files/read", "/files/read.json"} {
		for _, tc := range tests {
			q := url.Values{"path": {tc.path}}
			if tc.offset != "" {
				q.Set("offset", tc.offset)
			}
			if tc.length != "" {
				q.Set("length", tc.length)
			}
			rec := get(t, h, endpoint, q)
			if rec.Code != http.StatusOK {
				t.Fatalf("%v: %d %s", q, rec.Code, rec.Body)
			}
			var got files.ReadResult
			must(t, json.Unmarshal(rec.Body.Bytes(), &got))
			if got.Offset != tc.want.Offset || got.Data != tc.want.Data {
				t.Errorf("%s %v: offset %d data %d bytes, want offset %d data %d bytes",
					endpoint, q, got.Offset, len(got.Data), tc.want.Offset, len(tc.want.Data))
			}
		}
	}
}

func TestDownload(t *testing.T) {
	h, _, _ := setup(t)
	rec := get(t, h, "/files/download", url.Values{"path": {alias + "/sub/page.html"}})
	if rec.Code != http.StatusOK || rec.Body.String() != "<p>hi</p>" {
		t.Fatalf("download: %d %q", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := rec.Header().Get("Content-Disposition"); cd != "attachment; filename=page.html" {
		t.Errorf("Content-Disposition %q", cd)
	}
	rec = get(t, h, "/files/download.json", url.Values{"path": {alias + "/stdout"}})
	if rec.Code != http.StatusOK || rec.Body.String() != "hello world\n" ||
		rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Errorf("download stdout: %d %q %q", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
}

func TestAttachDetachDebug(t *testing.T) {
	h, sandbox, _ := setup(t)
	rec := get(t, h, "/files/debug", nil)
	var got map[string]string
	must(t, json.Unmarshal(rec.Body.Bytes(), &got))
	want := map[string]string{sandbox: sandbox, alias: sandbox}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("debug (-want +got):\n%s", diff)
	}
	h.Detach(alias + "/") // trailing slash is the same path
	if rec := get(t, h, "/files/browse", url.Values{"path": {alias}}); rec.Code != http.StatusNotFound {
		t.Errorf("browse after Detach: %d", rec.Code)
	}
	for _, bad := range [][2]string{{"", sandbox}, {"/a/../b", sandbox}, {"/x", "relative"}} {
		if err := h.Attach(bad[0], bad[1]); err == nil {
			t.Errorf("Attach(%q, %q) succeeded", bad[0], bad[1])
		}
	}
	// A nested attachment wins over its parent.
	other := t.TempDir()
	must(t, os.WriteFile(filepath.Join(other, "only-here"), nil, 0o644))
	must(t, h.Attach(sandbox+"/sub", other))
	if rec := get(t, h, "/files/read", url.Values{"path": {sandbox + "/sub/only-here"}, "offset": {"0"}}); rec.Code != 200 {
		t.Errorf("nested attachment: %d", rec.Code)
	}
}

// FuzzResolve checks that no requested path reaches outside the attached
// directory, whatever the path and through whichever symlink.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		alias, alias + "/stdout", alias + "/../secret", alias + "/escape-abs", alias + "/escape-rel",
		alias + "/sub/../../secret", "/", "//", "/frameworks", alias + "/./stdout", alias + "/sub/..%2f..%2fsecret",
		"relative/path", "\x00", alias + "/escape-rel/x", alias + "//escape-abs",
	} {
		f.Add(s)
	}
	base := f.TempDir()
	sandbox := filepath.Join(base, "sandbox")
	if err := os.MkdirAll(filepath.Join(sandbox, "sub"), 0o755); err != nil {
		f.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("ok"), 0o644)
	_ = os.WriteFile(filepath.Join(base, "secret"), []byte("TOP SECRET"), 0o644)
	_ = os.Symlink(filepath.Join(base, "secret"), filepath.Join(sandbox, "escape-abs"))
	_ = os.Symlink("../secret", filepath.Join(sandbox, "escape-rel"))
	_ = os.Symlink("..", filepath.Join(sandbox, "sub", "up"))
	h := files.New(nil)
	if err := h.Attach(alias, sandbox); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		for _, endpoint := range []string{"/files/read", "/files/download", "/files/browse"} {
			q := url.Values{"path": {p}, "offset": {"0"}}
			rec := get(t, h, endpoint, q)
			body := rec.Body.String()
			if strings.Contains(body, "SECRET") || strings.Contains(body, "/secret\"") {
				t.Fatalf("%s?path=%q reached outside the sandbox: %d %q", endpoint, p, rec.Code, body)
			}
			if rec.Code >= 500 {
				t.Fatalf("%s?path=%q: %d %q", endpoint, p, rec.Code, body)
			}
		}
	})
}

func TestModeString(t *testing.T) {
	// Through real files: setuid/setgid/sticky render as ls does.
	dir := t.TempDir()
	tests := []struct {
		mode fs.FileMode
		want string
	}{
		{0o755 | fs.ModeSetuid, "-rwsr-xr-x"},
		{0o644 | fs.ModeSetgid, "-rw-r-Sr--"},
		{0o1777 & 0o777, "-rwxrwxrwx"},
	}
	h := files.New(nil)
	must(t, h.Attach("/d", dir))
	for i, tc := range tests {
		p := filepath.Join(dir, strconv.Itoa(i))
		must(t, os.WriteFile(p, nil, 0o600))
		must(t, os.Chmod(p, tc.mode))
		rec := get(t, h, "/files/browse", url.Values{"path": {"/d/" + strconv.Itoa(i)}})
		var got []files.FileInfo
		must(t, json.Unmarshal(rec.Body.Bytes(), &got))
		if len(got) != 1 || got[0].Mode != tc.want {
			t.Errorf("mode %v: %s, want %s", tc.mode, rec.Body, tc.want)
		}
	}
	sticky := filepath.Join(dir, "sticky")
	must(t, os.Mkdir(sticky, 0o755))
	must(t, os.Chmod(sticky, 0o777|fs.ModeSticky))
	rec := get(t, h, "/files/browse", url.Values{"path": {"/d"}})
	if !strings.Contains(rec.Body.String(), `"drwxrwxrwt"`) {
		t.Errorf("sticky dir not rendered drwxrwxrwt: %s", rec.Body)
	}
}
