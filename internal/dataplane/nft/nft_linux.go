package nft

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"

	"sigs.k8s.io/knftables"
)

// ErrNFTMissing is returned when no usable nft (>= 1.0.1) is installed.
var ErrNFTMissing = errors.New("nft 1.0.1 or newer is required: apt-get install nftables")

var versionRE = regexp.MustCompile(`nftables v(\d+)\.(\d+)\.(\d+)`)

// CheckNFT verifies that the nft binary exists and is at least 1.0.1, and returns its
// version. The error names the fix.
func CheckNFT(ctx context.Context) (string, error) {
	path, err := exec.LookPath("nft")
	if err != nil {
		return "", fmt.Errorf("find nft: %w", ErrNFTMissing)
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run %s --version: %v: %w", path, err, ErrNFTMissing)
	}
	return parseVersion(string(out))
}

func parseVersion(out string) (string, error) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("parse nft version %q: %w", out, ErrNFTMissing)
	}
	v := [3]int{}
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	if v[0] < 1 || (v[0] == 1 && v[1] == 0 && v[2] < 1) {
		return m[0], fmt.Errorf("nft version %d.%d.%d is too old: %w", v[0], v[1], v[2], ErrNFTMissing)
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), nil
}

// NewKernel checks nft and returns a knftables.Interface for the inet table name in the
// calling thread's network namespace; every later call must run in that namespace too
// (NewKernelIn arranges this).
func NewKernel(ctx context.Context, table string) (knftables.Interface, error) {
	if _, err := CheckNFT(ctx); err != nil {
		return nil, err
	}
	// Listing through netlink: `nft list` fetches every set's elements and every rule,
	// which takes tens of seconds at 10k policies; the applier only needs names.
	nft, err := knftables.New(knftables.InetFamily, table, knftables.UseNetlink)
	if err != nil {
		return nil, fmt.Errorf("open nftables table inet %s: %w", table, err)
	}
	return &kernelNFT{Interface: nft, table: table}, nil
}
