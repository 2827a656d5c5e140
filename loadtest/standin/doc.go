// Package standin starts the stand-ins of load-test scenarios in
// containers, with testcontainers-go, and returns their base URL. It lives
// apart from package loadtest so that scenarios which never use a container
// do not link the Docker client.
//
// A stand-in is described by a Container: an image to run, a folder with a
// Dockerfile to build, or a Go main package to build on the host as a static
// binary and package FROM scratch (nothing is ever pulled for it). Start
// starts it, waits until its health path answers, registers its removal
// with the test, and returns "http://host:port". Several containers for one
// scenario — the service and what it needs — share a network of their own
// and reach each other by name. New wraps the same as a loadtest.StandIn:
//
//	var containerStandIn = standin.New("container", standin.Container{
//		Main:    "./cmd/orders",      // built with CGO_ENABLED=0, packaged FROM scratch
//		Port:    8080,
//		Health:  "/healthz",
//		PassEnv: []string{"ORDERS_*"}, // the host's ORDERS_* knobs reach the container
//	})
//
//	loadtest.Run(t, loadtest.Scenario{
//		...
//		StandIns: []loadtest.StandIn{containerStandIn, localStandIn},
//	})
//
// Where Docker cannot be reached, Start returns an error wrapping
// loadtest.ErrUnavailable, and the harness goes on with the next stand-in.
// Every other failure is an error with the evidence in it: the build output
// of an image that does not build, the last logs of a container that exits
// or never gets healthy. Every container, network and image made here
// carries the label [Label], so leftovers can be removed with
//
//	docker rm -f $(docker ps -aq --filter label=org.steadyload.standin)
//
// It works with Ryuk (the testcontainers reaper) on or off; where no
// registry is reachable, set TESTCONTAINERS_RYUK_DISABLED=true.
package standin
