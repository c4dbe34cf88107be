//go:build tools

// Package tools pins the module versions the project builds on while the packages that
// import them are being written, so that no concurrent `go mod tidy` drops them.
package tools

import (
	_ "github.com/containernetworking/cni/libcni"
	_ "github.com/containernetworking/cni/pkg/skel"
	_ "github.com/containernetworking/cni/pkg/types/100"
	_ "github.com/containernetworking/plugins/pkg/ip"
	_ "github.com/containernetworking/plugins/pkg/ns"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/osrg/gobgp/v4/pkg/server"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/util/validation/field"
	_ "sigs.k8s.io/knftables"
	_ "sigs.k8s.io/yaml"
)
