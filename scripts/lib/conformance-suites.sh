# The suites of scripts/conformance.sh (sourced, not run): what each one selects, what it
# skips by name and why (docs/conformance.md lists the same), and how it is run and counted.
#
# Each run_SUITE writes $OUT/SUITE.junit.xml; suite_counts reads it. The caller defines BIN,
# KUBECTL, OUT, PROCS, KUBECONFIG_FILE, ROOT and say.

ALL_SUITES="netpol network services dns cnp"

suite_known() { case " $ALL_SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

# Skips are single specs or one feature's specs, each with its reason in docs/conformance.md.
declare -A FOCUS SKIP
# netpol: [sig-network] Netpol, without the three SCTP-connectivity specs (this kernel has
# no SCTP module: sockets fail with "protocol not supported").
FOCUS[netpol]='\[sig-network\] Netpol '
SKIP[netpol]='\[Feature:SCTPConnectivity\]'
# network: every [sig-network] [Conformance] spec.
FOCUS[network]='\[sig-network\].*\[Conformance\]'
SKIP[network]=''
# services: [sig-network] Services specs that are not Conformance (those are in network)
# and need no cloud load balancer, no SCTP and no disruption of nodes or control plane.
FOCUS[services]='\[sig-network\] Services '
# By name: "should be rejected for evicted pods": the lab's kubelets run without local
# storage isolation (cAdvisor cannot stat the per-node containerd filesystem inside the
# node's private mount namespace), so no pod is ever evicted for its ephemeral storage.
SKIP[services]='\[Conformance\]|\[Feature:LoadBalancer\]|\[Disruptive\]|SCTP|should be rejected for evicted pods \(no endpoints exist\)'
# dns: [sig-network] DNS specs that are not Conformance (those are in network) and edit no
# CoreDNS ConfigMap (there is no CoreDNS: trellis dns serve answers cluster.local).
FOCUS[dns]='\[sig-network\] DNS'
# By name: "should support configurable pod resolv.conf" runs /coredns from the agnhost
# image, a CoreDNS 1.6.2 release binary upstream's Dockerfile downloads from GitHub; the
# images built here have none.
SKIP[dns]='\[Conformance\]|configMap|\[Feature:|should support configurable pod resolv\.conf'

# run_e2e SUITE: e2e.test through the ginkgo CLI, unmodified, with the suite's focus and skip.
run_e2e() {
	local suite=$1
	local args=(--procs="$PROCS" --timeout=2h --no-color --poll-progress-after=5m
		--output-dir="$OUT" --junit-report="$suite.junit.xml" --focus="${FOCUS[$suite]}")
	[ -z "${SKIP[$suite]}" ] || args+=(--skip="${SKIP[$suite]}")
	"$BIN/ginkgo" "${args[@]}" "$BIN/e2e.test" -- \
		--provider=skeleton --kubeconfig="$KUBECONFIG_FILE" --report-dir="$OUT/$suite"
}
run_netpol() { run_e2e netpol; }
run_network() { run_e2e network; }
run_services() { run_e2e services; }
run_dns() { run_e2e dns; }

# cnp: network-policy-api v0.3.0's conformance tests, unmodified, with the ClusterNetworkPolicy
# conformance profile and every feature (standard and experimental), from the nested module
# internal/conformance/npapi (its TestTrellisProfile is upstream's TestConformanceProfiles
# plus the suite's SkipTests option, so that the report lists skipped tests as skipped).
# Writes the conformance report (NPEP-137) to $OUT/cnp-report.yaml. The SCTP server
# containers of its base StatefulSets are removed at run time (see npapi_strip_sctp).
# Skipped: the four SCTP tests, and eight whose every failed probe here is an SCTP one
# ("protocol not supported"; they mix SCTP into TCP and UDP checks), each verified in a run.
CNP_SCTP_TESTS='CNPAdminTierEgressSCTP,CNPAdminTierIngressSCTP,CNPBaselineTierEgressSCTP,CNPBaselineTierIngressSCTP'
CNP_SCTP_TESTS+=',CNPAdminTierEgressInlineCIDRPeers,CNPAdminTierGress,CNPAdminTierPortRange'
CNP_SCTP_TESTS+=',CNPBaselineTierEgressInlineCIDRPeers,CNPBaselineTierGress,CNPBaselineTierPortRange'
# The same for the experimental node-peer tests: their deny-egress step probes SCTP too.
CNP_SCTP_TESTS+=',CNPAdminTierEgressNodePeers,CNPBaselineTierEgressNodePeers'
run_cnp() {
	local mod=$ROOT/internal/conformance/npapi
	npapi_strip_sctp &
	local stripper=$! rc=0
	(
		cd "$mod"
		KUBECONFIG=$KUBECONFIG_FILE go test -count=1 -timeout 60m -json -run '^TestTrellisProfile$' . -args \
			--conformance-profiles=ClusterNetworkPolicy --all-features --cleanup-base-resources=true \
			--trellis.skip-tests="$CNP_SCTP_TESTS" --report-output="$OUT/cnp-report.yaml" \
			--organization=trellisnet --project=trellis --url=https://github.com/trellisnet/trellis \
			--version="$(git -C "$ROOT" describe --always --dirty)" --contact=https://github.com/trellisnet/trellis/issues \
			--additional-info="make conformance SUITES=cnp (docs/conformance.md)"
	) >"$OUT/cnp.json" || rc=$?
	kill "$stripper" 2>/dev/null || true
	wait "$stripper" 2>/dev/null || true
	# The test output to the log (stderr), the JUnit report to its file.
	local sctp
	sctp=$(echo "$CNP_SCTP_TESTS" | sed 's/[^,]*/TestTrellisProfile\/&/g')
	go -C "$mod" run ./junit -depth 2 -skipped "$sctp" -reason "no SCTP in this kernel" \
		<"$OUT/cnp.json" >"$OUT/cnp.junit.xml" || rc=1
	return "$rc"
}

# cnp_prepare installs network-policy-api v0.3.0's experimental-channel ClusterNetworkPolicy
# CRD (the suite runs the experimental tests too) when the lab has none, then restarts the
# node agents: an agent watches the kinds whose CRD it found when it listed. Trellis's
# manifests carry that CRD, so a lab installed from them needs neither.
cnp_prepare() {
	local mod=$ROOT/internal/conformance/npapi k=("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE")
	"${k[@]}" get crd clusternetworkpolicies.policy.networking.k8s.io >/dev/null 2>&1 && return 0
	say "cnp: installing network-policy-api v0.3.0's experimental-channel CRD (the lab has none) and restarting the agents"
	local dir
	dir=$(go -C "$mod" list -m -f '{{.Dir}}' sigs.k8s.io/network-policy-api) || return 1
	"${k[@]}" apply --server-side -f "$dir/config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml" &&
		"${k[@]}" -n trellis-system rollout restart daemonset/trellis-node &&
		"${k[@]}" -n trellis-system rollout status daemonset/trellis-node --timeout=180s
}

# npapi_strip_sctp removes, while the cnp suite runs, the containers of its base
# StatefulSets that serve SCTP (env SERVE_SCTP_PORT_*), and deletes pods of the old
# template, so that the base pods become ready on a kernel without SCTP. This is the one
# deviation from the unmodified suite that issue #14 allows.
npapi_strip_sctp() {
	local k=("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE")
	while sleep 2; do
		"${k[@]}" get statefulsets -A -o json 2>/dev/null | jq -r '
			.items[] | select(.metadata.namespace | startswith("network-policy-conformance-"))
			| . as $s | [.spec.template.spec.containers | to_entries[]
				| select([.value.env[]?.name] | any(startswith("SERVE_SCTP_PORT"))) | .key]
			| select(length > 0) | reverse
			| "\($s.metadata.namespace) \($s.metadata.name) \(map("{\"op\":\"remove\",\"path\":\"/spec/template/spec/containers/\(.)\"}") | join(","))"' |
			while read -r ns name ops; do
				"${k[@]}" -n "$ns" patch statefulset "$name" --type=json -p "[$ops]" >/dev/null &&
					"${k[@]}" -n "$ns" delete pods -l "$(npapi_selector "$ns" "$name")" --wait=false >/dev/null
			done
	done
}

npapi_selector() {
	"$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" -n "$1" get statefulset "$2" -o json |
		jq -r '.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(",")'
}

# suite_counts SUITE JUNIT prints "N passed, M failed, K skipped": the suite's specs, counted
# from the JUnit report (specs the focus left out are not counted; specs the suite skips by
# name and specs skipped at run time are).
suite_counts() {
	local junit=$2
	[ -f "$junit" ] || { echo "0 passed, 1 failed, 0 skipped (no JUnit report)"; return; }
	local passed failed skipped
	passed=$(grep -c '<testcase[^>]*status="passed"' "$junit" || true)
	failed=$(grep -Ec '<testcase[^>]*status="(failed|panicked|timedout|interrupted|aborted)"' "$junit" || true)
	skipped=$(grep -c '<testcase[^>]*status="skipped"' "$junit" || true)
	if [ -n "${FOCUS[$1]:-}" ]; then
		# Ginkgo reports every spec of e2e.test; the suite's are those its focus selects.
		passed=$(grep '<testcase name="\[It\] ' "$junit" | grep 'status="passed"' | grep -Ec -- "${FOCUS[$1]}" || true)
		failed=$(grep '<testcase name="\[It\] ' "$junit" | grep -E 'status="(failed|panicked|timedout|interrupted|aborted)"' | grep -Ec -- "${FOCUS[$1]}" || true)
		skipped=$(grep '<testcase name="\[It\] ' "$junit" | grep 'status="skipped"' | grep -Ec -- "${FOCUS[$1]}" || true)
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
}
