package cni

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellisnet/trellis/internal/model"
)

// podView is the part of a stored Pod the plugin reads: metadata (labels, annotations),
// the service account and the containers' ports.
//
// Why not corev1.Pod: the plugin is a fresh process per call, and the first decode of a
// corev1.Pod makes encoding/json build its codecs for the whole PodSpec type tree (volumes,
// probes, security contexts, ...): 1-2 ms of a ~12 ms ADD. The view decodes the same stored
// JSON (unknown fields are ignored) into a few small types.
type podView struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              podViewSpec `json:"spec"`
}

type podViewSpec struct {
	ServiceAccountName string             `json:"serviceAccountName,omitempty"`
	Containers         []podViewContainer `json:"containers,omitempty"`
}

type podViewContainer struct {
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
}

// podViewKind is the registered Pod kind (same key, same storage) with podView as its Go
// type, for reading only: it is never registered and never written through.
var podViewKind = func() *model.Kind {
	view := *model.KindPod
	view.New = func() model.Object {
		return &podView{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	}
	return &view
}()
