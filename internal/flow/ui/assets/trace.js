// The trace panel: why policy decides the selected flow, asked of the server (POST
// api/v1/trace with the flow) and told as sentences, one per side, with the raw fields
// of the report beside them.

import { el } from "./dom.js";
import { endpointKey, formatTime, hitText, hostPort, qualifiedName, ruleRef, verdictWord } from "./format.js";

const TRACE = "api/v1/trace";
const SIDES = [
  { key: "egress", title: "Egress, at the source", reporter: "src", where: "at the source" },
  { key: "ingress", title: "Ingress, at the destination", reporter: "dst", where: "at the destination" },
];
const FIELDS = ["verdict", "endpoint", "reason", "tier", "policy", "namespace", "kind", "profile", "rule", "ruleName", "logged", "passed"];

// explain tells one side's decision d as a sentence, e.g. "denied at the destination:
// end of tier default (no policy in the tier allowed it)".
export function explain(where, d) {
  const v = verdictWord(d.verdict);
  switch (d.reason) {
    case "rule":
      return `${v} ${where}: ${ruleRef(d.rule, d.ruleName, d.tier)} of ${d.kind || "policy"} ${qualifiedName(d.namespace, d.policy)} in tier ${d.tier}`;
    case "end of tier":
      return `${v} ${where}: end of tier ${d.tier} (no policy in the tier allowed it)`;
    case "profile":
      return `${v} ${where}: ${ruleRef(d.rule)} of ${d.policy || `profile ${d.profile}`}`;
    case "default deny":
      return `${v} ${where}: default deny (no tier or profile decided, so the endpoint's default applied)`;
    case "no policy":
      return d.endpoint
        ? `${v} ${where}: no policy applies to ${d.endpoint}`
        : `${v} ${where}: not an endpoint of this cluster, so no policy applies`;
    case "same endpoint":
      return `${v}: the source and the destination are the same endpoint, which policy never blocks`;
    case "failsafe":
      return `${v} ${where}: a failsafe rule (a port kept open so that the host stays reachable)`;
    default:
      return `${v} ${where}: ${d.reason}`;
  }
}

function flowSummary(f) {
  const dst = f.destination;
  return el("p", { class: "trace-flow" },
    el("strong", {}, endpointKey(f.source)), " to ",
    el("strong", {}, hostPort(endpointKey(dst), dst.port)), ` ${f.protocol}`,
    el("br"),
    el("span", { class: "muted" },
      `${f.action === "deny" ? "denied" : "allowed"} at the ${f.reporter === "src" ? "source" : "destination"} ` +
      `in the flow log at ${formatTime(f.end)}`));
}

function rawFields(d) {
  const rows = [];
  for (const name of FIELDS) {
    let v = d[name];
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) {
      continue;
    }
    if (Array.isArray(v)) {
      v = v.join("; ");
    }
    rows.push(el("dt", {}, name), el("dd", {}, String(v)));
  }
  return el("dl", { class: "raw", "aria-label": "raw fields" }, rows);
}

function side(s, d, f) {
  const extra = [];
  if ((d.passed ?? []).length > 0) {
    extra.push(el("li", {}, `passed on by ${d.passed.join("; ")}`));
  }
  if ((d.logged ?? []).length > 0) {
    extra.push(el("li", {}, `logged by ${d.logged.join("; ")}`));
  }
  const changed = f.reporter === s.reporter && d.verdict !== f.action;
  if (changed) {
    extra.push(el("li", { class: "note" },
      `The flow log says ${verdictWord(f.action)} here: policy has changed since the flow was seen.`));
  }
  return el("section", { class: `side ${d.verdict}`, "data-side": s.key },
    el("h3", {}, s.title, d.endpoint ? el("span", { class: "muted" }, ` ${d.endpoint}`) : null),
    el("p", { class: "sentence" }, explain(s.where, d)),
    extra.length > 0 ? el("ul", { class: "extra" }, extra) : null,
    rawFields(d));
}

function staged(f) {
  const pending = f.pending ?? [];
  if (pending.length === 0) {
    return null;
  }
  return el("section", { class: "side staged" },
    el("h3", {}, "Staged policies"),
    el("ul", { class: "extra" }, pending.map((h) =>
      el("li", {}, `would ${h.action === "deny" ? "deny" : h.action} once enforced: ${hitText(h)} (${h.kind})`))));
}

function report(f, rep) {
  const deniedAt = SIDES.filter((s) => rep[s.key]?.verdict === "deny").map((s) => s.where);
  return [
    flowSummary(f),
    el("p", { class: "verdict" },
      el("span", { class: `badge ${rep.verdict}` }, verdictWord(rep.verdict)),
      ` Policy ${rep.verdict === "allow" ? "allows" : "denies"} the first packet`,
      rep.port ? ` on ${rep.port}` : "",
      deniedAt.length > 0 ? `, ${deniedAt.join(" and ")}` : "", "."),
    ...SIDES.map((s) => side(s, rep[s.key] ?? {}, f)),
    staged(f),
  ];
}

export class TracePanel {
  constructor(panel) {
    this.panel = panel;
    this.body = panel.querySelector(".trace-body");
    this.seq = 0;
    this.ctl = null;
  }

  // show asks for the trace of f and shows it; an older request still running is
  // abandoned.
  async show(f) {
    const seq = ++this.seq;
    this.ctl?.abort();
    this.ctl = new AbortController();
    this.panel.setAttribute("aria-busy", "true");
    this.body.replaceChildren(flowSummary(f), el("p", { class: "muted" }, "Tracing…"));
    try {
      const resp = await fetch(TRACE, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(f),
        signal: this.ctl.signal,
      });
      const text = await resp.text();
      if (seq !== this.seq) {
        return;
      }
      if (!resp.ok) {
        throw new Error(text.trim() || `${resp.status} ${resp.statusText}`);
      }
      this.body.replaceChildren(...report(f, JSON.parse(text)).filter(Boolean));
    } catch (err) {
      if (seq !== this.seq || err.name === "AbortError") {
        return;
      }
      this.body.replaceChildren(flowSummary(f),
        el("p", { class: "error", role: "alert" }, `Could not trace this flow: ${err.message}`));
    } finally {
      if (seq === this.seq) {
        this.panel.removeAttribute("aria-busy");
      }
    }
  }
}
