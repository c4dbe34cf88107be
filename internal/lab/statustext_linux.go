package lab

import (
	"fmt"
	"io"
	"text/tabwriter"
)

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteStatus prints a Report as `lab status` shows it: the processes, the nodes, BGP
// sessions and external hosts, then the pods.
func WriteStatus(w io.Writer, r Report) {
	fmt.Fprintf(w, "lab %s (routing %s)\n", r.Name, r.Routing)
	if r.Kube != nil {
		writeKubeStatus(w, r)
		writePodsAndPeers(w, r)
		return
	}
	fmt.Fprintf(w, "datastore: pid %d, alive %s, restarts %d\ncontroller: pid %d, alive %s, restarts %d\n", r.Datastore.PID,
		yesNo(r.Datastore.Alive), r.Datastore.Restarts, r.Controller.PID, yesNo(r.Controller.Alive), r.Controller.Restarts)
	if r.Supervisor.Alive {
		fmt.Fprintf(w, "supervisor: pid %d, restarts the datastore and the controller when they exit\n\n", r.Supervisor.PID)
	} else {
		fmt.Fprintf(w, "supervisor: not running: nothing restarts a crashed datastore or controller; run 'trellis lab up --name %s'\n\n", r.Name)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNAMESPACE\tADDRESS\tAGENT PID\tALIVE\tREADY")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", n.Name, n.Namespace, n.Address, n.AgentPID, yesNo(n.AgentAlive), yesNo(n.AgentReady))
	}
	tw.Flush()
	fmt.Fprintln(w)
	writePodsAndPeers(w, r)
}

// writePodsAndPeers prints the BGP sessions, the external hosts and the pods.
func writePodsAndPeers(w io.Writer, r Report) {
	writeBGPPeers(w, r)
	writeExternalProtocols(w, r)
	if r.PodsError != "" {
		fmt.Fprintf(w, "pods: %s\n", r.PodsError)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tPOD\tNODE\tIP\tPHASE\tREADY\tRESTARTS")
	for _, p := range r.Pods {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", p.Namespace, p.Name, p.Node, p.IP, p.Phase, yesNo(p.Ready), p.Restarts)
	}
	tw.Flush()
}

// writeBGPPeers prints each node's BGP sessions; nothing when there are none.
func writeBGPPeers(w io.Writer, r Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := false
	for _, n := range r.Nodes {
		for _, p := range n.BGPPeers {
			if !header {
				fmt.Fprintln(tw, "NODE\tBGP PEER\tAS\tSTATE\tUPTIME\tRECEIVED\tACCEPTED\tADVERTISED")
				header = true
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\n", n.Name, p.Address, p.ASNumber, p.State, p.Uptime, p.Received, p.Accepted, p.Advertised)
		}
	}
	tw.Flush()
	if header {
		fmt.Fprintln(w)
	}
}

// writeExternalProtocols prints the external hosts with their BIRD protocols; nothing
// when there are none.
func writeExternalProtocols(w io.Writer, r Report) {
	if len(r.Externals) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXTERNAL\tNAMESPACE\tADDRESS\tBIRD\tPROTOCOL\tSTATE\tSINCE\tINFO")
	for _, e := range r.Externals {
		bird := "-"
		if e.RouterPID != 0 {
			bird = fmt.Sprintf("pid %d alive %s", e.RouterPID, yesNo(e.RouterAlive))
		}
		if len(e.Protocols) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t\t\t%s\n", e.Name, e.Namespace, e.Address, bird, e.RouterError)
		}
		for i, p := range e.Protocols {
			if i > 0 {
				fmt.Fprintf(tw, "\t\t\t\t%s\t%s\t%s\t%s\n", p.Name, p.State, p.Since, p.Info)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Namespace, e.Address, bird, p.Name, p.State, p.Since, p.Info)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}
