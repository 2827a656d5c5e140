//go:build loadtest

// The example scenarios: the seed's OrderProcessorUser as a closed model
// with think time, and the same mix at a fixed arrival rate. Run them with
// `make loadtest`, or against a real host:
//
//	go test -tags loadtest -count=1 -v -run TestOrdersSteadyRate . \
//		-loadtest.host=https://orders.example.com -loadtest.duration=5m
package steadyload_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/orders"
	"github.com/steadyload/steadyload/loadtest"
	"github.com/steadyload/steadyload/loadtest/standin"
)

// mix is the everyday usage of the orders service: mostly new orders, some
// order look-ups, a few profile reads.
var mix = []loadtest.Task{
	{Name: "POST /orders", Weight: 3, Do: placeOrder},
	{Name: "GET /orders/{id}", Weight: 2, Do: getOrder},
	{Name: "GET /users/{id}", Weight: 1, Do: getProfile},
}

// TestOrderProcessor is the seed's OrderProcessorUser: 5 users placing
// orders with 1-5 s of think time.
func TestOrderProcessor(t *testing.T) {
	loadtest.Run(t, loadtest.Scenario{
		Users:    5,
		Wait:     loadtest.Between(1*time.Second, 5*time.Second),
		Tasks:    mix,
		OnStart:  firstOrder,
		StandIns: standIns(),
	})
}

// TestOrdersSteadyRate is the same mix at a fixed 10 requests per second,
// whatever the latency: the shape to gate on.
func TestOrdersSteadyRate(t *testing.T) {
	loadtest.Run(t, loadtest.Scenario{
		Rate:     10,
		Tasks:    mix,
		OnStart:  firstOrder,
		StandIns: standIns(),
	})
}

// standIns are the targets used when -loadtest.host is not given: the
// service in a container where Docker answers, else in-process.
func standIns() []loadtest.StandIn {
	return []loadtest.StandIn{containerStandIn, localStandIn}
}

// containerStandIn runs the example service in a container: cmd/orders
// built on the host as a static binary and packaged FROM scratch (nothing
// is pulled), with the host's ORDERS_* knobs passed through.
var containerStandIn = standin.New("container", standin.Container{
	Main:    "./cmd/orders",
	Port:    8080,
	Health:  "/healthz",
	PassEnv: []string{"ORDERS_*"},
})

// localStandIn runs the example service in-process, with the knobs of the
// ORDERS_* environment variables (e.g. ORDERS_LATENCY_SCALE=1.6).
var localStandIn = loadtest.StandIn{
	Env: "local",
	Start: func(tb testing.TB) (string, error) {
		cfg, err := orders.ConfigFromEnv()
		if err != nil {
			return "", err
		}
		srv := httptest.NewServer(orders.New(cfg).Handler())
		tb.Cleanup(srv.Close)
		return srv.URL, nil
	},
}

// userOrders is each user's state: the orders it placed.
type userOrders struct{ ids []string }

func newOrder(u *loadtest.User) orders.Order {
	return orders.Order{
		UserID:    fmt.Sprintf("user%d", u.ID),
		Items:     []orders.Item{{ProductID: fmt.Sprintf("prod%c", 'A'+u.Rand.IntN(26)), Quantity: 1 + u.Rand.IntN(3)}},
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	}
}

// firstOrder gives every user one order to look up.
func firstOrder(ctx context.Context, u *loadtest.User) error {
	u.Data = &userOrders{}
	return placeOrder(ctx, u)
}

func placeOrder(ctx context.Context, u *loadtest.User) error {
	resp, err := u.Do(ctx, loadtest.Request{
		Method: "POST", Path: "/orders", JSON: newOrder(u), Expect: []int{201},
	})
	if err != nil {
		return err
	}
	var o orders.Order
	if err := resp.DecodeJSON(&o); err != nil {
		return err
	}
	if o.ID == "" {
		return &loadtest.CheckError{Err: fmt.Errorf("order created without an id")}
	}
	st := u.Data.(*userOrders)
	if len(st.ids) < 100 {
		st.ids = append(st.ids, o.ID)
	}
	return nil
}

func getOrder(ctx context.Context, u *loadtest.User) error {
	st := u.Data.(*userOrders)
	if len(st.ids) == 0 {
		return placeOrder(ctx, u)
	}
	id := st.ids[u.Rand.IntN(len(st.ids))]
	_, err := u.Do(ctx, loadtest.Request{
		Path: "/orders/" + id,
		Check: func(r *loadtest.Response) error {
			var o orders.Order
			if err := r.DecodeJSON(&o); err != nil {
				return err
			}
			if o.ID != id {
				return fmt.Errorf("asked for order %s, got %q", id, o.ID)
			}
			return nil
		},
	})
	return err
}

func getProfile(ctx context.Context, u *loadtest.User) error {
	_, err := u.Get(ctx, fmt.Sprintf("/users/user%d", u.ID))
	return err
}
