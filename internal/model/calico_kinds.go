package model

// calicoKinds are the projectcalico.org/v3 kinds. Each type is declared in its own file.
// Short names follow calicoctl.
func calicoKinds() []*Kind {
	c := func(kind, plural string, namespaced bool, newObj func() Object, short ...string) *Kind {
		return &Kind{Group: GroupCalico, Version: VersionCalico, Kind: kind, Plural: plural,
			Short: short, Namespaced: namespaced, New: newObj}
	}
	return []*Kind{
		c("NetworkPolicy", "networkpolicies", true, func() Object {
			return &NetworkPolicy{TypeMeta: typeMeta(APIVersionCalico, "NetworkPolicy")}
		}, "networkpolicy", "policy", "policies", "pol", "pols", "np", "nps", "netpol", "netpols"),
		c("GlobalNetworkPolicy", "globalnetworkpolicies", false, func() Object {
			return &GlobalNetworkPolicy{TypeMeta: typeMeta(APIVersionCalico, "GlobalNetworkPolicy")}
		}, "gnp", "gnps", "globalpolicy", "globalpolicies"),
		c("StagedNetworkPolicy", "stagednetworkpolicies", true, func() Object {
			return &StagedNetworkPolicy{TypeMeta: typeMeta(APIVersionCalico, "StagedNetworkPolicy")}
		}, "snp", "snps"),
		c("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", false, func() Object {
			return &StagedGlobalNetworkPolicy{TypeMeta: typeMeta(APIVersionCalico, "StagedGlobalNetworkPolicy")}
		}, "sgnp", "sgnps"),
		c("StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", true, func() Object {
			return &StagedKubernetesNetworkPolicy{TypeMeta: typeMeta(APIVersionCalico, "StagedKubernetesNetworkPolicy")}
		}, "sknp", "sknps"),
		c("Tier", "tiers", false, func() Object {
			return &Tier{TypeMeta: typeMeta(APIVersionCalico, "Tier")}
		}),
		c("NetworkSet", "networksets", true, func() Object {
			return &NetworkSet{TypeMeta: typeMeta(APIVersionCalico, "NetworkSet")}
		}, "netset", "netsets"),
		c("GlobalNetworkSet", "globalnetworksets", false, func() Object {
			return &GlobalNetworkSet{TypeMeta: typeMeta(APIVersionCalico, "GlobalNetworkSet")}
		}, "gns", "globalnetset", "globalnetsets"),
		c("HostEndpoint", "hostendpoints", false, func() Object {
			return &HostEndpoint{TypeMeta: typeMeta(APIVersionCalico, "HostEndpoint")}
		}, "hep", "heps"),
		c("WorkloadEndpoint", "workloadendpoints", true, func() Object {
			return &WorkloadEndpoint{TypeMeta: typeMeta(APIVersionCalico, "WorkloadEndpoint")}
		}, "wep", "weps"),
		c("Profile", "profiles", false, func() Object {
			return &Profile{TypeMeta: typeMeta(APIVersionCalico, "Profile")}
		}, "pro", "pros"),
		c("IPPool", "ippools", false, func() Object {
			return &IPPool{TypeMeta: typeMeta(APIVersionCalico, "IPPool")}
		}, "ipp", "ipps", "pool", "pools"),
		c("IPReservation", "ipreservations", false, func() Object {
			return &IPReservation{TypeMeta: typeMeta(APIVersionCalico, "IPReservation")}
		}, "ipr", "iprs", "ipres"),
		c("IPAMConfiguration", "ipamconfigurations", false, func() Object {
			return &IPAMConfiguration{TypeMeta: typeMeta(APIVersionCalico, "IPAMConfiguration")}
		}, "ipamconfig", "ipamconfigs"),
		c("BGPConfiguration", "bgpconfigurations", false, func() Object {
			return &BGPConfiguration{TypeMeta: typeMeta(APIVersionCalico, "BGPConfiguration")}
		}, "bgpconfig", "bgpconfigs"),
		c("BGPPeer", "bgppeers", false, func() Object {
			return &BGPPeer{TypeMeta: typeMeta(APIVersionCalico, "BGPPeer")}
		}, "bgpp", "bgpps"),
		c("BGPFilter", "bgpfilters", false, func() Object {
			return &BGPFilter{TypeMeta: typeMeta(APIVersionCalico, "BGPFilter")}
		}, "bgpfilter", "bgpf", "bgpfs"),
		c("Node", "nodes", false, func() Object {
			return &Node{TypeMeta: typeMeta(APIVersionCalico, "Node")}
		}, "no", "nos", "calinode"),
		c("FelixConfiguration", "felixconfigurations", false, func() Object {
			return &FelixConfiguration{TypeMeta: typeMeta(APIVersionCalico, "FelixConfiguration")}
		}, "felixconfig", "felixconfigs"),
		c("KubeControllersConfiguration", "kubecontrollersconfigurations", false, func() Object {
			return &KubeControllersConfiguration{TypeMeta: typeMeta(APIVersionCalico, "KubeControllersConfiguration")}
		}, "kubecontrollersconfig", "kubecontrollersconfigs", "kcc", "kccs"),
		c("ClusterInformation", "clusterinformations", false, func() Object {
			return &ClusterInformation{TypeMeta: typeMeta(APIVersionCalico, "ClusterInformation")}
		}, "clusterinfo", "clusterinfos"),
	}
}
