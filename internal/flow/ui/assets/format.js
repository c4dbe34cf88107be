// How flows read: endpoint names, the policy that decided, counts and times. Shared by
// the table, the graph and the trace panel so that they name things alike.

// endpointKey names an endpoint in the graph and in data attributes: "ns/name" for a
// workload, its address for anything outside the cluster.
export function endpointKey(e) {
  if (!e.name) {
    return e.ip;
  }
  return e.namespace ? `${e.namespace}/${e.name}` : e.name;
}

// flowID tells flows apart, as the aggregation key and the interval do on the server:
// the same flow read twice (two polls) has the same ID.
export function flowID(f) {
  return JSON.stringify([f.start, f.end, f.source, f.destination, f.protocol, f.action, f.reporter, f.node,
    f.policies, f.pending]);
}

export function isExternal(e) {
  return !e.name;
}

// hostPort is "ip:port", with brackets around an IPv6 address.
export function hostPort(host, port) {
  if (!port) {
    return host;
  }
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function hasPendingDeny(f) {
  return (f.pending ?? []).some((h) => h.action === "deny");
}

// decidingHit is the policy hit that gave the verdict: the last one that did not pass
// the packet on to the next tier.
export function decidingHit(f) {
  const hits = f.policies ?? [];
  for (let i = hits.length - 1; i >= 0; i--) {
    if (hits[i].action !== "pass") {
      return hits[i];
    }
  }
  return hits.at(-1);
}

export function qualifiedName(namespace, name) {
  return namespace ? `${namespace}/${name}` : name;
}

// ruleRef is `rule 2`, `rule 2 "name"`, or for rule -1 what decided instead.
export function ruleRef(rule, ruleName, tier) {
  if (rule === undefined || rule === null || rule < 0) {
    return tier ? "end of tier" : "final verdict";
  }
  return ruleName ? `rule ${rule} "${ruleName}"` : `rule ${rule}`;
}

// hitText is "tier / ns/name, rule N".
export function hitText(h) {
  const where = [h.tier, qualifiedName(h.namespace, h.name)].filter(Boolean).join(" / ");
  return `${where}, ${ruleRef(h.rule, h.ruleName, h.tier)}`;
}

// hitCanonical is a hit as Calico's flow logs write it: tier|kind|ns/name|action|rule.
export function hitCanonical(h) {
  return [h.tier ?? "", h.kind, qualifiedName(h.namespace, h.name), h.action, h.rule].join("|");
}

export function verdictWord(verdict) {
  return { allow: "allowed", deny: "denied", pass: "passed" }[verdict] ?? String(verdict ?? "unknown");
}

const counts = new Intl.NumberFormat("en-US");

export function formatCount(n) {
  return counts.format(n ?? 0);
}

export function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n ?? 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const pad = (n) => String(n).padStart(2, "0");

// formatTime is the local time of day of an RFC 3339 time, HH:MM:SS.
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return String(iso ?? "");
  }
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function timeOf(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}
