package livemetrics

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// pushgatewayBin is Debian's Pushgateway (package prometheus-pushgateway).
const pushgatewayBin = "prometheus-pushgateway"

// startPushgateway starts a Pushgateway of its own on a free loopback
// port, keeping pushes in memory only, for the test's length; it returns
// its address. Without the binary the test skips, or fails when
// RequireEnv is set.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath(pushgatewayBin)
	if err != nil {
		skipOrFail(t, fmt.Errorf("Pushgateway not installed (%w): apt-get install prometheus-pushgateway", err))
	}
	var errs []string
	for range 3 { // a free port can be taken between its choice and the start
		addr, err := freePort()
		require.NoError(t, err)
		var out bytes.Buffer
		cmd := exec.Command(bin, "--web.listen-address="+addr, "--persistence.file=", "--log.level=warn")
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		if err := waitReady(addr, exited); err != nil {
			stop()
			errs = append(errs, fmt.Sprintf("%v: %s", err, strings.TrimSpace(out.String())))
			continue
		}
		t.Cleanup(stop)
		return addr
	}
	skipOrFail(t, fmt.Errorf("Pushgateway did not start: %s", strings.Join(errs, "; ")))
	return ""
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady waits up to 10 s for the Pushgateway at addr to say it is
// ready, or for it to exit.
func waitReady(addr string, exited <-chan error) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if resp, err := client.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready on %s after 10s", addr)
}

// pushed reads what the Pushgateway at addr shows on its /metrics, in
// the exposition accept names.
func pushed(t *testing.T, addr, accept string) map[string]*dto.MetricFamily {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return decode(t, bytes.NewReader(body), expfmt.ResponseFormat(resp.Header))
}

// TestPushgateway: the figures reach a real Pushgateway at the last
// segment only, grouped by job and test (a subtest's name with its
// slash), every series as /metrics serves it; and again, replaced, at
// every segment when asked to.
func TestPushgateway(t *testing.T) {
	gw := startPushgateway(t)
	job := map[string]string{"job": Job, "instance": ""}

	// With user information, which goes into basic authentication.
	p := newPart(t, Config{PushURL: "http://ci:s3cret@" + gw, RunID: "r-42", Version: "v1.2.3"})
	feed(p) // the segment is not the last: nothing pushed
	_, found := pushed(t, gw, acceptText)["steadyload_requests_total"]
	require.False(t, found, "pushed before the last segment")

	seg := testSegment()
	seg.Last = true
	p.now = func() time.Time { return t0.Add(time.Hour + 500*time.Millisecond) }
	p.Write(seg)
	for _, v := range seg.Verdicts {
		assert.NotContains(t, v.Text, "live metrics", "push failed")
	}
	mfs := pushed(t, gw, acceptText)
	checkFigures(t, mfs, job, 2) // feed's segment and the last

	assert.Contains(t, mfs, "push_time_seconds")

	t.Run("every segment", func(t *testing.T) {
		info := testInfo()
		info.Test = "TestSoak/every segment"
		p, err := New(info, Config{PushURL: gw, PushEverySegment: true})
		require.NoError(t, err)
		defer p.Close()
		group := map[string]string{"job": Job, "instance": "", "test": info.Test}
		for i := range 3 {
			p.Outcome(pipeline.Outcome{Task: 1, Latency: time.Millisecond})
			seg := &pipeline.Segment{Index: i, Run: &result.Run{}}
			p.Write(seg)
			require.False(t, seg.Failed(), "segment %d: %v", i, seg.Verdicts)
			mfs := pushed(t, gw, acceptText)
			assert.Equal(t, float64(i+1), value(series(mfs, "steadyload_requests_total", merge(group, map[string]string{"task": post}))), "segment %d", i)
			assert.Equal(t, float64(i+1), value(series(mfs, "steadyload_segments_total", merge(group, map[string]string{"verdict": "pass"}))), "segment %d", i)
		}
		// The first test's group is untouched.
		assert.Equal(t, 7.0, value(series(pushed(t, gw, acceptText), "steadyload_requests_total", merge(job, labels("task", getOrder)))))
	})
}

// TestPushFails: a Pushgateway that cannot be reached is a failed
// verdict naming it, without the password of its URL.
func TestPushFails(t *testing.T) {
	addr, err := freePort() // nothing listens there now
	require.NoError(t, err)
	p := newPart(t, Config{PushURL: "http://ci:s3cret@" + addr})
	seg := &pipeline.Segment{Run: &result.Run{}, Last: true}
	p.Write(seg)
	require.True(t, seg.Failed())
	require.Len(t, seg.Verdicts, 1)
	assert.Contains(t, seg.Verdicts[0].Text, "live metrics: push to Pushgateway http://"+addr+": ")
	assert.NotContains(t, seg.Verdicts[0].Text, "s3cret")

	none := newPart(t, Config{})
	assert.ErrorContains(t, none.Push(), "no Pushgateway URL")
}
