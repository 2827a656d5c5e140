package promquery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakePrometheus answers /api/v1/query_range with a matrix of two series
// for "up2", an empty matrix for "none" and a bad_data error otherwise;
// it records the Authorization header it was sent.
func fakePrometheus(t *testing.T, auth *string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		*auth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		var body any
		switch r.Form.Get("query") {
		case "up2":
			body = map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": []any{
				map[string]any{"metric": map[string]string{"instance": "a"}, "values": [][]any{{100, "1"}, {101, "2"}}},
				map[string]any{"metric": map[string]string{"instance": "b"}, "values": [][]any{{100, "10"}, {101, "NaN"}}},
			}}}
		case "none":
			body = map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": []any{}}}
		default:
			w.WriteHeader(http.StatusBadRequest)
			body = map[string]any{"status": "error", "errorType": "bad_data", "error": "parse error"}
		}
		require.NoError(t, json.NewEncoder(w).Encode(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSamples(t *testing.T) {
	var auth string
	srv := fakePrometheus(t, &auth)
	t.Setenv("PROM_TOKEN", "s3cret-token")
	q, err := New(Config{URL: srv.URL, Auth: Auth{Env: "PROM_TOKEN"}, Queries: []Query{
		{Name: "two", Expr: "up2"}, {Name: "empty", Expr: "none"}, {Name: "broken", Expr: "up2{"},
	}})
	require.NoError(t, err, "New")
	t0 := time.Unix(90, 0)
	got, warnings := q.Samples(t.Context(), t0, time.Unix(100, 0), time.Unix(101, 0), time.Second)
	assert.Equal(t, "Bearer s3cret-token", auth, "Authorization header")
	require.Len(t, got, 2, "samples %+v", got)
	assert.Equal(t, "two", got[0].Signal)
	assert.Equal(t, 11.0, got[0].Value, "first point: the sum of the series")
	assert.Equal(t, 10*time.Second, got[0].Offset, "first point's offset from t0")
	assert.Equal(t, 2.0, got[1].Value, "second point: the NaN left out")
	require.Len(t, warnings, 2, "warnings %q", warnings)
	assert.Contains(t, warnings[0], `query "empty" (none) returned nothing`)
	assert.Contains(t, warnings[1], `query "broken"`)
	assert.Contains(t, warnings[1], "parse error")
	_, again := q.Samples(t.Context(), t0, time.Unix(100, 0), time.Unix(101, 0), time.Second)
	assert.Empty(t, again, "warnings the second time; want each given once")
}

func TestSamplesUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	q, err := New(Config{URL: url})
	require.NoError(t, err, "New")
	got, warnings := q.Samples(t.Context(), time.Unix(0, 0), time.Unix(100, 0), time.Unix(160, 0), time.Second)
	assert.Empty(t, got, "samples")
	require.Len(t, warnings, 1, "warnings %q; want one for the Prometheus, not one per query", warnings)
	assert.Contains(t, warnings[0], "prometheus "+url+":")
	assert.Contains(t, warnings[0], "the load goes on")
}

func TestBasicAuthFromFile(t *testing.T) {
	var auth string
	srv := fakePrometheus(t, &auth)
	file := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(file, []byte("pa55word\n"), 0o600))
	q, err := New(Config{URL: srv.URL, Auth: Auth{User: "load", File: file}, Queries: []Query{{Name: "two", Expr: "up2"}}})
	require.NoError(t, err, "New")
	q.Samples(t.Context(), time.Unix(0, 0), time.Unix(100, 0), time.Unix(101, 0), time.Second)
	assert.Equal(t, "Basic bG9hZDpwYTU1d29yZA==", auth, "Authorization header of load:pa55word")
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "ftp://x"}, `prometheus URL "ftp://x"`},
		{Config{URL: "http://x", Queries: []Query{{Name: "", Expr: "up"}}}, "query 0: no name"},
		{Config{URL: "http://x", Queries: []Query{{Name: "a", Expr: " "}}}, `query "a": no expression`},
		{Config{URL: "http://x", Queries: []Query{{Name: "a", Expr: "up"}, {Name: "a", Expr: "up"}}}, `query "a": the name is used twice`},
		{Config{URL: "http://x", Auth: Auth{Env: "A", File: "f"}}, "pick one"},
		{Config{URL: "http://x", Auth: Auth{User: "u"}}, `user "u" has no password`},
	} {
		err := tc.cfg.Check()
		if assert.Error(t, err, "%+v.Check()", tc.cfg) {
			assert.Contains(t, err.Error(), tc.want, fmt.Sprintf("%+v.Check()", tc.cfg))
		}
	}
	_, err := New(Config{URL: "http://x", Auth: Auth{Env: "STEADYLOAD_TEST_UNSET_VAR"}})
	assert.ErrorContains(t, err, "environment variable STEADYLOAD_TEST_UNSET_VAR is not set")
	assert.NoError(t, Config{URL: "http://x", Queries: DefaultQueries}.Check(), "DefaultQueries")
}
