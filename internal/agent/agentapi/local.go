package agentapi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LocalSocket finds the status socket of the agent on this machine: the one of the node
// named like the host, else the only agent socket under dir (DefaultSocketDir). With
// several and none named like the host, the error lists them.
func LocalSocket(dir, hostname string) (string, error) {
	if hostname != "" {
		p := filepath.Join(dir, hostname, "agent.sock")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*", "agent.sock"))
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", errors.New("no node agent on this machine (no socket under " + dir + "): is `trellis node run` running?")
	}
	var nodes []string
	for _, m := range matches {
		nodes = append(nodes, filepath.Base(filepath.Dir(m)))
	}
	slices.Sort(nodes)
	return "", fmt.Errorf("several node agents on this machine (%s) and none named %q: give --node-name", strings.Join(nodes, ", "), hostname)
}
