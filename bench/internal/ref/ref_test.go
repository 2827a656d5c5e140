package ref

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "GET %s: read the body", url)
	return resp.StatusCode, string(b)
}

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		cfg      Config
		wantSize int
	}{
		{Config{}, DefaultBodySize},
		{Config{BodySize: 1}, 1},
		{Config{BodySize: 1000, Delay: 20 * time.Millisecond}, 1000},
		{Config{Delay: 5 * time.Millisecond, GoTimer: true}, DefaultBodySize},
	} {
		h := New(tc.cfg)
		srv := httptest.NewServer(h)
		for i := range 3 {
			start := time.Now()
			code, body := get(t, srv.URL+"/x?i="+strconv.Itoa(i))
			assert.GreaterOrEqual(t, time.Since(start), tc.cfg.Delay, "%+v: time to answer; want at least the delay", tc.cfg)
			assert.Equal(t, 200, code, "%+v: GET status", tc.cfg)
			assert.Len(t, body, tc.wantSize, "%+v: GET body", tc.cfg)
			assert.True(t, strings.HasSuffix(body, "\n"), "%+v: GET body ends in a newline", tc.cfg)
		}
		code, body := get(t, srv.URL+CountPath)
		assert.Equal(t, 200, code, "%+v: GET %s status", tc.cfg, CountPath)
		assert.Equal(t, "3", body, "%+v: GET %s body", tc.cfg, CountPath)
		assert.EqualValues(t, 3, h.Count(), "%+v: Count(); the count request is not counted", tc.cfg)
		srv.Close()
	}
}

func TestPreciseWait(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, time.Millisecond, 15 * time.Millisecond} {
		start := time.Now()
		preciseWait(d)
		assert.GreaterOrEqual(t, time.Since(start), d, "preciseWait(%s): time to return", d)
	}
}
