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
	// LogSeverityScreen is the lowest severity kube-controllers logs to the screen (Debug,
	// Info, Warning, Error, Fatal).
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`
	// HealthChecks enables (Enabled) or disables (Disabled) the health checks.
	HealthChecks string `json:"healthChecks,omitempty"`
	// EtcdV3CompactionPeriod is how often kube-controllers compacts an etcd datastore (0:
	// never).
	EtcdV3CompactionPeriod *metav1.Duration `json:"etcdV3CompactionPeriod,omitempty"`
	// PrometheusMetricsPort serves Prometheus metrics on this port (0: off).
	PrometheusMetricsPort *int `json:"prometheusMetricsPort,omitempty"`
	// DebugProfilePort serves Go profiles on this port (0: off).
	DebugProfilePort *int32 `json:"debugProfilePort,omitempty"`
	// Controllers enables and configures each controller.
	Controllers ControllersConfig `json:"controllers"`
}

// ControllersConfig enables and configures each of kube-controllers' controllers (nil:
// disabled).
type ControllersConfig struct {
	// Node configures the node controller (node cleanup, label sync, host endpoints).
	Node *NodeControllerConfig `json:"node,omitempty"`
	// Policy configures the network policy controller.
	Policy *ReconcilerConfig `json:"policy,omitempty"`
	// WorkloadEndpoint configures the workload endpoint controller.
	WorkloadEndpoint *ReconcilerConfig `json:"workloadEndpoint,omitempty"`
	// ServiceAccount configures the service account controller.
	ServiceAccount *ReconcilerConfig `json:"serviceAccount,omitempty"`
	// Namespace configures the namespace controller.
	Namespace *ReconcilerConfig `json:"namespace,omitempty"`
	// LoadBalancer configures the load-balancer IP controller.
	LoadBalancer *LoadBalancerControllerConfig `json:"loadBalancer,omitempty"`
	// Migration configures the policy name migration controller.
	Migration *MigrationControllerConfig `json:"policyMigration,omitempty"`
}

// MigrationControllerConfig enables the migration of old-style policy names.
type MigrationControllerConfig struct {
	// PolicyNameMigrator enables (Enabled) or disables (Disabled) the migration.
	PolicyNameMigrator string `json:"enabled,omitempty"`
}

// ReconcilerConfig is the configuration of a controller that only has a reconciler period.
type ReconcilerConfig struct {
	// ReconcilerPeriod is how often the controller reconciles in full.
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// NodeControllerConfig configures the node controller.
type NodeControllerConfig struct {
	// ReconcilerPeriod is how often the controller reconciles in full.
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
	// SyncLabels copies Kubernetes node labels to Calico nodes (Enabled or Disabled).
	SyncLabels string `json:"syncLabels,omitempty"`
	// HostEndpoint configures automatic host endpoints.
	HostEndpoint *AutoHostEndpointConfig `json:"hostEndpoint,omitempty"`
	// LeakGracePeriod is how long an IP address may look leaked before it is released.
	LeakGracePeriod *metav1.Duration `json:"leakGracePeriod,omitempty"`
}

// AutoHostEndpointConfig configures automatic host endpoints.
type AutoHostEndpointConfig struct {
	// AutoCreate creates host endpoints for nodes (Enabled or Disabled).
	AutoCreate string `json:"autoCreate,omitempty"`
	// CreateDefaultHostEndpoint creates the default all-interfaces host endpoint of each
	// node (Enabled or Disabled).
	CreateDefaultHostEndpoint string `json:"createDefaultHostEndpoint,omitempty"`
	// Templates describe further host endpoints to create.
	Templates []AutoHostEndpointTemplate `json:"templates,omitempty"`
}

// AutoHostEndpointTemplate describes host endpoints created for the nodes it selects.
type AutoHostEndpointTemplate struct {
	// GenerateName is the suffix of the names of the host endpoints created.
	GenerateName string `json:"generateName,omitempty"`
	// InterfaceCIDRs select the node addresses the host endpoints get.
	InterfaceCIDRs []string `json:"interfaceCIDRs,omitempty"`
	// InterfacePattern is a regular expression selecting the node interfaces.
	InterfacePattern string `json:"interfacePattern,omitempty"`
	// Labels are put on the host endpoints created.
	Labels map[string]string `json:"labels,omitempty"`
	// NodeSelector selects the nodes the template applies to.
	NodeSelector string `json:"nodeSelector,omitempty"`
}

// LoadBalancerControllerConfig configures load-balancer IP assignment.
type LoadBalancerControllerConfig struct {
	// AssignIPs says which services get addresses: AllServices or RequestedServicesOnly.
	AssignIPs string `json:"assignIPs,omitempty"`
}

// KubeControllersConfigurationStatus is what kube-controllers reports: the configuration it
// runs with and the environment variables that override it.
type KubeControllersConfigurationStatus struct {
	// RunningConfig is the configuration kube-controllers runs with.
	RunningConfig *KubeControllersConfigurationSpec `json:"runningConfig,omitempty"`
	// EnvironmentVars are the environment variables that override the configuration.
	EnvironmentVars map[string]string `json:"environmentVars,omitempty"`
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
	// ClusterGUID identifies the cluster.
	ClusterGUID string `json:"clusterGUID,omitempty"`
	// ClusterType lists the cluster's kinds of installation, comma-separated (k8s, bgp, ...).
	ClusterType string `json:"clusterType,omitempty"`
	// CalicoVersion is the version of Calico running in the cluster.
	CalicoVersion string `json:"calicoVersion,omitempty"`
	// DatastoreReady says whether Calico components may use the datastore.
	DatastoreReady *bool `json:"datastoreReady,omitempty"`
	// Variant is the Calico product variant (Calico, Enterprise).
	Variant string `json:"variant,omitempty"`
}
