package model

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// KubeControllersConfiguration configures Calico's kube-controllers; the only instance is
// named "default". Trellis accepts and stores it (a calicoctl backup holds one) but does not
// use it: its own controller (`trellis controller`) takes flags, and every field set is
// reported by UnusedFields.
// +kubebuilder:resource:scope=Cluster,shortName={kcc},categories={calico}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KubeControllersConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the desired configuration.
	Spec KubeControllersConfigurationSpec `json:"spec,omitempty"`
	// Status is what kube-controllers reports it runs with.
	Status KubeControllersConfigurationStatus `json:"status,omitempty"`
}

// KubeControllersConfigurationSpec is the spec of a KubeControllersConfiguration.
type KubeControllersConfigurationSpec struct {
	// LogSeverityScreen is the lowest severity kube-controllers logs to its screen.
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`
	// HealthChecks turns kube-controllers' health checks on (Enabled) or off (Disabled).
	HealthChecks string `json:"healthChecks,omitempty"`
	// EtcdV3CompactionPeriod is how often kube-controllers compacts an etcd datastore.
	EtcdV3CompactionPeriod *metav1.Duration `json:"etcdV3CompactionPeriod,omitempty"`
	// PrometheusMetricsPort is the port of kube-controllers' metrics (0: off).
	PrometheusMetricsPort *int `json:"prometheusMetricsPort,omitempty"`
	// DebugProfilePort is the port of kube-controllers' profiling endpoint (0: off).
	DebugProfilePort *int32 `json:"debugProfilePort,omitempty"`
	// Controllers enables and configures each controller.
	Controllers ControllersConfig `json:"controllers"`
}

// ControllersConfig enables and configures each of kube-controllers' controllers (nil:
// disabled).
type ControllersConfig struct {
	// Node is the node controller (removes the data of deleted nodes).
	Node *NodeControllerConfig `json:"node,omitempty"`
	// Policy is the policy controller.
	Policy *ReconcilerConfig `json:"policy,omitempty"`
	// WorkloadEndpoint is the workload endpoint controller.
	WorkloadEndpoint *ReconcilerConfig `json:"workloadEndpoint,omitempty"`
	// ServiceAccount is the service account controller.
	ServiceAccount *ReconcilerConfig `json:"serviceAccount,omitempty"`
	// Namespace is the namespace controller.
	Namespace *ReconcilerConfig `json:"namespace,omitempty"`
	// LoadBalancer is the LoadBalancer IP assignment controller.
	LoadBalancer *LoadBalancerControllerConfig `json:"loadBalancer,omitempty"`
	// Migration is the migration of old-style policy names.
	Migration *MigrationControllerConfig `json:"policyMigration,omitempty"`
}

// MigrationControllerConfig enables the migration of old-style policy names.
type MigrationControllerConfig struct {
	// PolicyNameMigrator turns the migration on (Enabled) or off (Disabled).
	PolicyNameMigrator string `json:"enabled,omitempty"`
}

// ReconcilerConfig is the configuration of a controller that only has a reconciler period.
type ReconcilerConfig struct {
	// ReconcilerPeriod is how often the controller reconciles everything.
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// NodeControllerConfig configures the node controller.
type NodeControllerConfig struct {
	// ReconcilerPeriod is how often the controller reconciles everything.
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
	// SyncLabels copies Kubernetes node labels to Calico nodes (Enabled) or not (Disabled).
	SyncLabels string `json:"syncLabels,omitempty"`
	// HostEndpoint configures automatic host endpoints.
	HostEndpoint *AutoHostEndpointConfig `json:"hostEndpoint,omitempty"`
	// LeakGracePeriod is how long an address may look leaked before it is released.
	LeakGracePeriod *metav1.Duration `json:"leakGracePeriod,omitempty"`
}

// AutoHostEndpointConfig configures automatic host endpoints.
type AutoHostEndpointConfig struct {
	// AutoCreate creates host endpoints for nodes (Enabled) or not (Disabled).
	AutoCreate string `json:"autoCreate,omitempty"`
	// CreateDefaultHostEndpoint also creates the all-interfaces host endpoint of each node.
	CreateDefaultHostEndpoint string `json:"createDefaultHostEndpoint,omitempty"`
	// Templates describe further host endpoints to create.
	Templates []AutoHostEndpointTemplate `json:"templates,omitempty"`
}

// AutoHostEndpointTemplate describes host endpoints created for the nodes it selects.
type AutoHostEndpointTemplate struct {
	// GenerateName is the start of the created host endpoints' names.
	GenerateName string `json:"generateName,omitempty"`
	// InterfaceCIDRs selects interfaces by their addresses.
	InterfaceCIDRs []string `json:"interfaceCIDRs,omitempty"`
	// InterfacePattern selects interfaces by a name pattern.
	InterfacePattern string `json:"interfacePattern,omitempty"`
	// Labels are given to the created host endpoints.
	Labels map[string]string `json:"labels,omitempty"`
	// NodeSelector selects the nodes that get such host endpoints.
	NodeSelector string `json:"nodeSelector,omitempty"`
}

// LoadBalancerControllerConfig configures load-balancer IP assignment.
type LoadBalancerControllerConfig struct {
	// AssignIPs assigns addresses to every LoadBalancer service (AllServices) or only to
	// those that ask (RequestedServicesOnly).
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
	// Spec describes the cluster.
	Spec ClusterInformationSpec `json:"spec,omitempty"`
}

// ClusterInformationSpec is the spec of a ClusterInformation.
type ClusterInformationSpec struct {
	// ClusterGUID identifies the cluster.
	ClusterGUID string `json:"clusterGUID,omitempty"`
	// ClusterType lists the kind of cluster (for example "k8s,bgp,kdd").
	ClusterType string `json:"clusterType,omitempty"`
	// CalicoVersion is the version of Calico that wrote it.
	CalicoVersion string `json:"calicoVersion,omitempty"`
	// DatastoreReady says whether Calico's components may use the datastore.
	DatastoreReady *bool `json:"datastoreReady,omitempty"`
	// Variant is the Calico product variant.
	Variant string `json:"variant,omitempty"`
}
