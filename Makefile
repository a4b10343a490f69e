# zerotrust-operator. Every tool is pinned and installed with `go install` into ./bin on first
# use; kube-apiserver and etcd for tests come from hack/envtest-assets.sh (built from source,
# cached in ./bin). Go is the only prerequisite.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
# Helm 4, built from source like the other tools (cold, about 13 minutes on 2 cores with empty
# module and build caches; instant once bin/helm exists). test/chart lints and renders the chart.
HELM_VERSION ?= v4.3.2

# The image: its tag is the git version, never "latest". IMAGE_OUT is a tarball for
# `docker load -i` or `crane push`; IMG_ARCH (default the host's GOARCH) is its architecture.
IMG_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
IMG_ARCH ?= $(shell go env GOARCH)
IMAGE_OUT ?= $(LOCALBIN)/zerotrust-operator.tar

# Test flags: -race on everything; envtest suites find their API server via KUBEBUILDER_ASSETS.
GO_TEST_FLAGS ?= -race -count=1 -timeout 45m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, the operator's RBAC and its webhook configuration from markers.
	$(CONTROLLER_GEN) rbac:roleName=zerotrust-operator crd webhook paths="./api/...;./controllers/...;./internal/webhook/...;./internal/certs/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook
	mkdir -p charts/zerotrust-operator/crds charts/zerotrust-operator/files
	cp config/crd/bases/*.yaml charts/zerotrust-operator/crds/
	cp config/rbac/role.yaml charts/zerotrust-operator/files/role.yaml
	cp config/webhook/manifests.yaml charts/zerotrust-operator/files/webhook.yaml

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files differ from what is committed.
	@stale="$$(git diff --name-only -- api config charts; git ls-files --others --exclude-standard -- api config charts)"; \
	if [ -n "$$stale" ]; then \
		echo "generated files are stale; run 'make manifests generate' and commit:"; echo "$$stale"; exit 1; fi

.PHONY: envtest-assets
envtest-assets: ## Build (once) kube-apiserver and etcd into ./bin.
	@hack/envtest-assets.sh >/dev/null

.PHONY: test
test: verify-generated vet helm ## Unit and envtest integration tests, with -race. What CI runs.
	HELM="$(HELM)" KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test $(GO_TEST_FLAGS) ./...

##@ Build

.PHONY: build
build: ## Build the manager and kubectl-zt into ./bin.
	go build -o $(LOCALBIN)/manager .
	go build -o $(LOCALBIN)/kubectl-zt ./cmd/kubectl-zt

.PHONY: image
image: ## Image tarball IMAGE_OUT (bin/zerotrust-operator.tar), tagged with the git version; needs no container engine or registry.
	@if [ -z "$(IMG_VERSION)" ] || [ "$(IMG_VERSION)" = latest ]; then echo "IMG_VERSION must be a version from git, not '$(IMG_VERSION)'"; exit 1; fi
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMG_ARCH) go build -trimpath -ldflags "-s -w -X main.version=$(IMG_VERSION)" -o $(LOCALBIN)/image/manager .
	GOOS= GOARCH= go run ./hack/image -binary $(LOCALBIN)/image/manager -version $(IMG_VERSION) -out $(IMAGE_OUT)

.PHONY: krew
krew: ## kubectl-zt archives and the krew manifest bin/krew/zt.yaml (KREW_VERSION, default the v* git tag; KREW_URL_BASE).
	GOOS= GOARCH= go run ./hack/krew -out $(LOCALBIN)/krew \
		-version "$(or $(KREW_VERSION),$(shell git describe --tags --match 'v*' 2>/dev/null),v0.0.0-dev)" \
		$(if $(KREW_URL_BASE),-url-base "$(KREW_URL_BASE)")

.PHONY: run
run: manifests generate ## Run the operator against the current kubeconfig, or a local control plane.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go run ./cmd/localrun

.PHONY: bench
bench: ## Scale benchmark (BENCH_POLICIES, BENCH_OUT).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go run ./test/bench

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict on the chart (make test also renders it against an API server).
	$(HELM) lint --strict charts/zerotrust-operator

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: helm
helm: $(HELM)
$(HELM):
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
