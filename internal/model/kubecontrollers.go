package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// KubeControllersConfiguration configures Calico's kube-controllers; the only instance is
// named "default". Trellis accepts and stores it (a calicoctl backup holds one) but does not
// use it: its own controller (`trellis controller`) takes flags, and every field set is
// reported by UnusedFields.
// +kubebuilder:resource:scope=Cluster,categories={calico}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KubeControllersConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              KubeControllersConfigurationSpec   `json:"spec,omitempty"`
	Status            KubeControllersConfigurationStatus `json:"status,omitempty"`
}

// KubeControllersConfigurationSpec is the spec of a KubeControllersConfiguration.
type KubeControllersConfigurationSpec struct {
	LogSeverityScreen      string            `json:"logSeverityScreen,omitempty"`
	HealthChecks           string            `json:"healthChecks,omitempty"`
	EtcdV3CompactionPeriod *metav1.Duration  `json:"etcdV3CompactionPeriod,omitempty"`
	PrometheusMetricsPort  *int              `json:"prometheusMetricsPort,omitempty"`
	DebugProfilePort       *int32            `json:"debugProfilePort,omitempty"`
	Controllers            ControllersConfig `json:"controllers"`
}

// ControllersConfig enables and configures each of kube-controllers' controllers (nil:
// disabled).
type ControllersConfig struct {
	Node             *NodeControllerConfig         `json:"node,omitempty"`
	Policy           *ReconcilerConfig             `json:"policy,omitempty"`
	WorkloadEndpoint *ReconcilerConfig             `json:"workloadEndpoint,omitempty"`
	ServiceAccount   *ReconcilerConfig             `json:"serviceAccount,omitempty"`
	Namespace        *ReconcilerConfig             `json:"namespace,omitempty"`
	LoadBalancer     *LoadBalancerControllerConfig `json:"loadBalancer,omitempty"`
	Migration        *MigrationControllerConfig    `json:"policyMigration,omitempty"`
}

// MigrationControllerConfig enables the migration of old-style policy names.
type MigrationControllerConfig struct {
	PolicyNameMigrator string `json:"enabled,omitempty"`
}

// ReconcilerConfig is the configuration of a controller that only has a reconciler period.
type ReconcilerConfig struct {
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// NodeControllerConfig configures the node controller.
type NodeControllerConfig struct {
	ReconcilerPeriod *metav1.Duration        `json:"reconcilerPeriod,omitempty"`
	SyncLabels       string                  `json:"syncLabels,omitempty"`
	HostEndpoint     *AutoHostEndpointConfig `json:"hostEndpoint,omitempty"`
	LeakGracePeriod  *metav1.Duration        `json:"leakGracePeriod,omitempty"`
}

// AutoHostEndpointConfig configures automatic host endpoints.
type AutoHostEndpointConfig struct {
	AutoCreate                string                     `json:"autoCreate,omitempty"`
	CreateDefaultHostEndpoint string                     `json:"createDefaultHostEndpoint,omitempty"`
	Templates                 []AutoHostEndpointTemplate `json:"templates,omitempty"`
}

// AutoHostEndpointTemplate describes host endpoints created for the nodes it selects.
type AutoHostEndpointTemplate struct {
	GenerateName     string            `json:"generateName,omitempty"`
	InterfaceCIDRs   []string          `json:"interfaceCIDRs,omitempty"`
	InterfacePattern string            `json:"interfacePattern,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	NodeSelector     string            `json:"nodeSelector,omitempty"`
}

// LoadBalancerControllerConfig configures load-balancer IP assignment.
type LoadBalancerControllerConfig struct {
	AssignIPs string `json:"assignIPs,omitempty"`
}

// KubeControllersConfigurationStatus is what kube-controllers reports: the configuration it
// runs with and the environment variables that override it.
type KubeControllersConfigurationStatus struct {
	RunningConfig   *KubeControllersConfigurationSpec `json:"runningConfig,omitempty"`
	EnvironmentVars map[string]string                 `json:"environmentVars,omitempty"`
}

// Values of the Enabled/Disabled fields and of assignIPs.
const (
	Enabled                = "Enabled"
	Disabled               = "Disabled"
	AssignIPsAllServices   = "AllServices"
	AssignIPsRequestedOnly = "RequestedServicesOnly"
)

// ClusterInformation describes the cluster (a GUID, the Calico version, whether the
// datastore is ready); the only instance is named "default". Calico's components write it;
// Trellis accepts and stores it (a calicoctl backup holds one) but does not use it.
// +kubebuilder:resource:scope=Cluster,categories={calico}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterInformation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ClusterInformationSpec `json:"spec,omitempty"`
}

// ClusterInformationSpec is the spec of a ClusterInformation.
type ClusterInformationSpec struct {
	ClusterGUID    string `json:"clusterGUID,omitempty"`
	ClusterType    string `json:"clusterType,omitempty"`
	CalicoVersion  string `json:"calicoVersion,omitempty"`
	DatastoreReady *bool  `json:"datastoreReady,omitempty"`
	Variant        string `json:"variant,omitempty"`
}
