package deploy

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// overlays are the folders of deploy/ that kustomize builds.
var overlays = []string{"overlays/continuous", "overlays/nightly", "overlays/sharded"}

// tool returns the path of a command installed by `make deploy-tools`
// (PATH, else GOPATH/bin); where it is missing, t skips, or fails when
// STEADYLOAD_REQUIRE_DEPLOY_TOOLS is set.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if os.Getenv("STEADYLOAD_REQUIRE_DEPLOY_TOOLS") != "" {
		t.Fatalf("STEADYLOAD_REQUIRE_DEPLOY_TOOLS is set but %s is not installed (make deploy-tools)", name)
	}
	t.Skipf("%s not installed (make deploy-tools): the manifests are not checked", name)
	return ""
}

func schemaDir(t *testing.T, kustomize string) string {
	t.Helper()
	info, err := buildinfo.ReadFile(kustomize)
	if err != nil {
		t.Fatalf("read the build information of %s: %v", kustomize, err)
	}
	version := ""
	for _, d := range info.Deps {
		if d.Path == "sigs.k8s.io/kustomize/kyaml" {
			version = d.Version
			if d.Replace != nil {
				version = d.Replace.Version
			}
		}
	}
	if version == "" {
		t.Fatalf("%s was not built with sigs.k8s.io/kustomize/kyaml", kustomize)
	}
	out, err := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/kustomize/kyaml@"+version).Output()
	if err != nil {
		t.Fatalf("go mod download sigs.k8s.io/kustomize/kyaml@%s: %v", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download sigs.k8s.io/kustomize/kyaml@%s: no folder in %s", version, out)
	}
	bundles, _ := filepath.Glob(filepath.Join(mod.Dir, "openapi", "kubernetesapi", "data", "*.json.gz"))
	if len(bundles) != 1 {
		t.Fatalf("sigs.k8s.io/kustomize/kyaml@%s: want one OpenAPI bundle in openapi/kubernetesapi/data, found %q", version, bundles)
	}
	b, err := readOpenAPIBundle(bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n, err := writeStrictSchemas(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d strict schemas of Kubernetes %s from sigs.k8s.io/kustomize/kyaml@%s", n, b.Coverage.Ceiling, version)
	return dir
}

// kubeconform validates the YAML stream in against the schemas of dir in
// strict mode, and returns its output and whether it passed.
func kubeconform(t *testing.T, bin, dir string, in []byte) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, "-strict", "-summary", "-output", "text",
		"-schema-location", filepath.Join(dir, "{{.ResourceKind}}{{.KindSuffix}}{{.StrictSuffix}}.json"), "-")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("kubeconform: %v\n%s", err, out)
	}
	return string(out), err == nil
}

// TestManifests builds every overlay with kustomize and validates the
// output with kubeconform -strict against the Kubernetes schemas, then
// checks what every workload must have: the image's unprivileged user,
// a read-only root, no capabilities, modest resources, and only flags the
// harness defines.
func TestManifests(t *testing.T) {
	kustomize, kc := tool(t, "kustomize"), tool(t, "kubeconform")
	dir := schemaDir(t, kustomize)

	// The schemas have teeth: an unknown field, a wrong type and a missing
	// required field are each refused.
	bad := []struct{ what, doc, want string }{
		{"an unknown field",
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"selector":{},"template":{"spec":{"containers":[{"name":"c","image":"i","readOnlyRootFileSystem":true}]}}}}`,
			"readOnlyRootFileSystem"},
		{"a wrong type",
			`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"},"spec":{"completions":"four","template":{"spec":{"containers":[{"name":"c"}]}}}}`,
			"completions"},
		{"no required field",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"image":"i"}]}}`,
			"name"},
	}
	for _, b := range bad {
		out, ok := kubeconform(t, kc, dir, []byte(b.doc))
		if ok || !strings.Contains(out, b.want) {
			t.Errorf("kubeconform on a manifest with %s = (passed %v) %s; want a failure naming %q", b.what, ok, out, b.want)
		}
	}

	for _, o := range overlays {
		t.Run(filepath.Base(o), func(t *testing.T) {
			out, err := exec.Command(kustomize, "build", o).Output()
			if err != nil {
				var stderr []byte
				if e, ok := err.(*exec.ExitError); ok {
					stderr = e.Stderr
				}
				t.Fatalf("kustomize build %s: %v\n%s", o, err, stderr)
			}
			docs := checkWorkloads(t, out)
			log, ok := kubeconform(t, kc, dir, out)
			want := fmt.Sprintf("%d resources found parsing stdin - Valid: %d, Invalid: 0, Errors: 0, Skipped: 0", docs, docs)
			if !ok || !strings.Contains(log, want) {
				t.Errorf("kubeconform -strict on kustomize build %s (passed %v):\n%s\nwant %q", o, ok, log, want)
			}
		})
	}
}

// harnessFlags are the -loadtest.* flags the manifests may pass.
var harnessFlags = []string{
	"host", "env", "location", "duration", "segment", "listen", "out", "baseline", "history-dir",
	"history", "require-baseline", "auth-header", "auth-header-env", "webhook", "shard", "run-id",
}

// checkWorkloads reports every container of the YAML stream that runs
// with privileges, without resources, or with a flag the harness lacks,
// and returns how many documents the stream holds.
func checkWorkloads(t *testing.T, stream []byte) int {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	docs, workloads := 0, 0
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode kustomize output: %v", err)
		}
		docs++
		kind, _ := doc["kind"].(string)
		name, _ := dig(doc, "metadata", "name").(string)
		var pod map[string]any
		switch kind {
		case "Deployment", "Job":
			pod, _ = dig(doc, "spec", "template", "spec").(map[string]any)
		case "CronJob":
			pod, _ = dig(doc, "spec", "jobTemplate", "spec", "template", "spec").(map[string]any)
		default:
			continue
		}
		workloads++
		where := kind + " " + name
		if dig(pod, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: securityContext.runAsNonRoot is not true", where)
		}
		if dig(pod, "automountServiceAccountToken") != false {
			t.Errorf("%s: automountServiceAccountToken is not false", where)
		}
		var containers []any
		for _, key := range []string{"initContainers", "containers"} {
			list, _ := pod[key].([]any)
			containers = append(containers, list...)
		}
		for _, c := range containers {
			c := c.(map[string]any)
			cw := where + " container " + c["name"].(string)
			if dig(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Errorf("%s: readOnlyRootFilesystem is not true", cw)
			}
			if dig(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("%s: allowPrivilegeEscalation is not false", cw)
			}
			if drop, _ := dig(c, "securityContext", "capabilities", "drop").([]any); !slices.Contains(drop, any("ALL")) {
				t.Errorf("%s: capabilities.drop = %v; want ALL", cw, drop)
			}
			for _, r := range []string{"requests", "limits"} {
				for _, k := range []string{"cpu", "memory"} {
					if dig(c, "resources", r, k) == nil {
						t.Errorf("%s: no resources.%s.%s", cw, r, k)
					}
				}
			}
			args, _ := c["args"].([]any)
			for _, a := range args {
				a, _ := a.(string)
				flag, ok := strings.CutPrefix(a, "-loadtest.")
				if !ok {
					continue
				}
				flag, _, _ = strings.Cut(flag, "=")
				if !slices.Contains(harnessFlags, flag) {
					t.Errorf("%s: flag -loadtest.%s is not one of the harness's", cw, flag)
				}
			}
		}
	}
	if workloads == 0 {
		t.Error("no Deployment, Job or CronJob in the output")
	}
	return docs
}

// dig returns the value at path in nested maps, or nil.
func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
