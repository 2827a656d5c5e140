package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/steadyload/steadyload/internal/pipeline"
)

// attempts is how many times one message is posted before it waits for
// the next segment.
const attempts = 3

// deliver posts the firing messages of fire, then the resolved ones of
// resolve, within the configured time; what went through is marked in
// the entries, what did not is a warning on the segment.
func (p *Part) deliver(seg *pipeline.Segment, name string, fire, resolve []string) {
	if len(fire)+len(resolve) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	type post struct {
		key    string
		status string
	}
	var posts []post
	for _, k := range fire {
		posts = append(posts, post{k, Firing})
	}
	for _, k := range resolve {
		posts = append(posts, post{k, Resolved})
	}
	for i, ps := range posts {
		if ctx.Err() != nil {
			seg.Warnf("alert: %d of %d message(s) to %s not sent within %s; they are tried again at the next segment", len(posts)-i, len(posts), p.where(), p.cfg.Timeout)
			return
		}
		e := p.entries[ps.key]
		m := p.message(e, ps.status, name)
		if err := p.post(ctx, m); err != nil {
			seg.Warnf("alert: %s %s of %s not sent to %s: %v; tried again at the next segment", ps.status, e.Kind, m.subject(), p.where(), err)
			continue
		}
		if p.info.Logf != nil {
			p.info.Logf("loadtest: alert: %s", m.Text)
		}
		switch ps.status {
		case Firing:
			e.Sent = true
		case Resolved:
			delete(p.entries, ps.key)
		}
	}
}

// post sends m, again after a network error, a 429 or a 5xx, waiting
// p.retry, then twice as long, while ctx lasts.
func (p *Part) post(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wait := p.retry
	for try := 1; ; try++ {
		err = p.once(ctx, body)
		var perm permanent
		if err == nil || errors.As(err, &perm) || try == attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%d attempt(s); out of time)", err, try)
		case <-t.C:
		}
		wait *= 2
	}
}

// permanent is an answer that retrying will not change.
type permanent struct{ error }

// once posts body once. Its errors do not name the URL.
func (p *Part) once(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.hook.String(), bytes.NewReader(body))
	if err != nil {
		return permanent{errors.New("cannot make the request")}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", p.cfg.Timeout)
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("status %s", resp.Status)
	default:
		return permanent{fmt.Errorf("status %s", resp.Status)}
	}
}

// where names the webhook without its path, which may be a secret.
func (p *Part) where() string {
	return p.hook.Scheme + "://" + p.hook.Host
}

// subject names what m is about: its test, task and metric.
func (m Message) subject() string {
	s := m.Test
	for _, x := range []string{m.Task, m.Metric} {
		if x != "" {
			s += " " + x
		}
	}
	return s
}
