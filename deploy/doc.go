// Package deploy holds what runs the scenarios where production lives, and
// the tests that check it:
//
//   - image/: the Dockerfiles of `make image`, the example scenarios' test
//     binary and the steadyload command, each FROM scratch;
//   - base/ and overlays/: the Kubernetes manifests (kustomize), a
//     Deployment for the run without end, a CronJob for the nightly run
//     and an Indexed Job for sharded runs with a merge step.
//
// The tests build and run the image with Docker, and render every overlay
// with kustomize and validate it with kubeconform -strict; each skips,
// saying why, where its tools are absent. docs/deploy.md describes it all.
package deploy
