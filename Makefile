# Thin wrappers over scripts/; every target works on a fresh clone as root.
.PHONY: setup build test test-integration e2e lint bench demo fuzz kube crds image manifests conformance

setup:            ## install system packages and build bin/trellis
	scripts/setup.sh

build:            ## build bin/trellis and its CNI links
	scripts/build.sh

test:             ## the whole test suite (what CI runs)
	scripts/test.sh

test-integration: ## only the tests that need root (kernel, etcd cluster)
	TRELLIS_TEST_ONLY_ROOT=1 scripts/test.sh

# staticcheck is pinned and fetched through the module proxy by `go run`, so a fresh clone
# needs nothing installed. 2026.2.2 (v0.8.2) supports the go 1.26 of go.mod.
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:             ## gofmt, go vet, staticcheck, go mod tidy
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$unformatted" ] || { echo "gofmt would change: $$unformatted" >&2; exit 1; }
	go vet ./...
	go run $(STATICCHECK) ./...
	go mod tidy -diff
	go test -count=1 -run '^TestCheckedIn$$' ./internal/manifests/

bench:            ## Go benchmarks of the pure core (see bench/ for the root-only runs)
	go test -run '^$$' -bench . -benchmem ./internal/selector/ ./internal/policy/...

fuzz:             ## two minutes of each fuzz target
	scripts/fuzz.sh 2m

demo:             ## set up, then run the quick-start demo
	scripts/setup.sh
	scripts/demo.sh

kube:             ## build kube-apiserver, kubectl, kubelet, ... v1.37.1 into $${TRELLIS_KUBE_CACHE:-/var/cache/trellis/kube}
	scripts/kube.sh

crds:             ## regenerate deploy/crds from internal/model (controller-tools v0.23.0)
	go -C internal/crdgen run ./gen

image: build      ## localhost/trellis:latest and localhost/trellis-pause:latest as bin/trellis-images.tar
	bin/trellis image build --output bin/trellis-images.tar

manifests:        ## regenerate deploy/trellis.yaml (`trellis manifests` with its defaults)
	go test -count=1 -run '^TestCheckedIn$$' ./internal/manifests/ -args -update

# Not part of `make test` or CI: about 22 minutes with warm caches (docs/conformance.md).
conformance: build ## upstream suites in a Kubernetes lab: [SUITES="netpol network services dns cnp"] [ROUTING=bgp|vxlan] [PROCS=4]
	SUITES="$(SUITES)" ROUTING="$(ROUTING)" PROCS="$(PROCS)" scripts/conformance.sh
