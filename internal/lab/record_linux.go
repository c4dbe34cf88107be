package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"
)

// podRecord is what the controller keeps on disk about a realised pod, so that a restarted
// controller can run CNI DEL for a pod deleted while it was down.
type podRecord struct {
	Namespace   string    `json:"namespace"`
	Pod         string    `json:"pod"`
	UID         types.UID `json:"uid"`
	Node        string    `json:"node"`
	NetNS       string    `json:"netns"`
	ContainerID string    `json:"containerID"`
}

func podRecordDir(name string) string { return filepath.Join(Dir(name), "pods") }

func (rt *podRuntime) recordPath() string {
	return filepath.Join(podRecordDir(rt.c.name), rt.netns+".json")
}

func (rt *podRuntime) saveRecord() error {
	rec := podRecord{Namespace: rt.namespace, Pod: rt.pod, UID: rt.uid, Node: rt.node.Name, NetNS: rt.netns, ContainerID: rt.containerID}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode pod record %s: %w", rt.key(), err)
	}
	if err := os.MkdirAll(podRecordDir(rt.c.name), 0o755); err != nil {
		return fmt.Errorf("write pod record %s: %w", rt.key(), err)
	}
	if err := os.WriteFile(rt.recordPath(), data, 0o644); err != nil {
		return fmt.Errorf("write pod record %s: %w", rt.key(), err)
	}
	return nil
}

func (rt *podRuntime) removeRecord() {
	_ = os.Remove(rt.recordPath())
}

// adoptRecords loads the pods a previous controller realised; they are marked adopted:
// torn down when their pod is gone, realised again (taking over namespace and addresses)
// when it is still there.
func (c *Controller) adoptRecords() {
	entries, err := os.ReadDir(podRecordDir(c.name))
	if err != nil {
		return
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(podRecordDir(c.name), e.Name()))
		if err != nil {
			continue
		}
		var rec podRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			c.log.Warn("skip unreadable pod record", "file", e.Name(), "err", err)
			continue
		}
		node, ok := c.state.Node(rec.Node)
		if !ok {
			continue
		}
		rt := &podRuntime{c: c, namespace: rec.Namespace, pod: rec.Pod, uid: rec.UID, node: node,
			netns: rec.NetNS, containerID: rec.ContainerID, adopted: true}
		c.pods[rt.key()] = rt
	}
}
