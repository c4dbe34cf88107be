// The flow table: one row per flow, newest first. Rows are added at the top as flows
// arrive and removed when their flow leaves the page, so a busy stream does not rebuild
// the whole table.

import { el } from "./dom.js";
import {
  decidingHit, endpointKey, flowID, formatBytes, formatCount, formatTime, hasPendingDeny, hitCanonical,
  hitText, hostPort, isExternal,
} from "./format.js";

const REPORTERS = { src: "the source's egress policy decided", dst: "the destination's ingress policy decided" };

export class FlowTable {
  // onSelect(flow) is called when a row is clicked or activated with the keyboard.
  constructor(table, onSelect) {
    this.tbody = table.tBodies[0];
    this.rowOf = new WeakMap();
    this.flowOf = new WeakMap();
    this.selectedID = null;
    const pick = (ev) => {
      const tr = ev.target.closest("tr");
      if (tr && this.flowOf.has(tr)) {
        onSelect(this.flowOf.get(tr));
      }
    };
    this.tbody.addEventListener("click", pick);
    this.tbody.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        pick(ev);
      }
    });
  }

  // render replaces every row with flows (newest first).
  render(flows) {
    this.tbody.replaceChildren(...flows.map((f) => this.row(f)));
  }

  // prepend adds rows for flows (newest first) above the others.
  prepend(flows) {
    this.tbody.prepend(...flows.map((f) => this.row(f)));
  }

  // remove drops the row of a flow, if it has one.
  remove(f) {
    this.rowOf.get(f)?.remove();
  }

  get size() {
    return this.tbody.rows.length;
  }

  // select marks the row of f (or of an equal flow, read again) as the current one.
  select(f) {
    this.tbody.querySelector('tr[aria-current="true"]')?.removeAttribute("aria-current");
    this.selectedID = flowID(f);
    this.rowOf.get(f)?.setAttribute("aria-current", "true");
  }

  row(f) {
    const src = f.source;
    const dst = f.destination;
    const hit = decidingHit(f);
    const pendingDeny = hasPendingDeny(f);
    const pending = f.pending ?? [];
    const dstName = isExternal(dst) ? hostPort(dst.ip, dst.port) : hostPort(endpointKey(dst), dst.port);
    const tr = el("tr", {
      tabindex: "0",
      "data-action": f.action,
      "data-src": endpointKey(src),
      "data-dst": endpointKey(dst),
      "data-port": dst.port ?? 0,
      "data-reporter": f.reporter,
      "data-pending": pendingDeny ? "deny" : undefined,
      "aria-current": this.selectedID !== null && flowID(f) === this.selectedID ? "true" : undefined,
    },
    el("td", {}, el("time", { datetime: f.end, title: `${f.start} to ${f.end}` }, formatTime(f.end))),
    el("td", { title: src.ip }, endpointKey(src)),
    el("td", { title: hostPort(dst.ip, dst.port) }, dstName,
      dst.service ? el("span", { class: "service" }, `svc ${dst.service}`) : null),
    el("td", {}, f.protocol),
    el("td", {}, el("span", { class: `badge ${f.action}` }, f.action)),
    el("td", { title: REPORTERS[f.reporter] ?? "" }, f.reporter),
    el("td", { title: (f.policies ?? []).map(hitCanonical).join("\n") }, hit ? hitText(hit) : "none"),
    el("td", {},
      pendingDeny
        ? el("span", { class: "badge pending", title: pending.map(hitCanonical).join("\n") }, "pending deny")
        : pending.length > 0 ? el("span", { class: "muted", title: pending.map(hitCanonical).join("\n") }, "pending allow") : null),
    el("td", { class: "num" }, formatCount(f.connections)),
    el("td", { class: "num" }, formatCount(f.packets)),
    el("td", { class: "num", title: `${formatCount(f.bytes)} bytes` }, formatBytes(f.bytes)),
    );
    this.rowOf.set(f, tr);
    this.flowOf.set(tr, f);
    return tr;
  }
}
