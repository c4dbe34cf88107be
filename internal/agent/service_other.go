//go:build !linux

package agent

// KernelServiceHost returns an empty ServiceHost: health-check node ports and conntrack
// flushing need Linux.
func KernelServiceHost(string) ServiceHost { return ServiceHost{} }
